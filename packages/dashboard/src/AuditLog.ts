import { appendFile } from "node:fs/promises";

/** One write action as the audit log keeps it (JSON lines: one object a line). */
export interface AuditRecord {
  time: string;
  /** User name; "(anonymous, loopback)" on a loopback console without users. */
  user: string;
  role: string;
  /** Remote address of the HTTP request. */
  from: string;
  /** API action, e.g. "topic.create". */
  action: string;
  /** The request's parameters (message bodies are cut to 256 characters). */
  params: Record<string, unknown>;
  outcome: "ok" | "refused" | "failed";
  detail?: string;
}

/**
 * Appends every write action, allowed or refused, to a file (and hands it to `echo` for the
 * console's own log). Appends are chained so lines never interleave.
 */
export class AuditLog {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly echo: (line: string) => void = () => {},
  ) {}

  record(r: Omit<AuditRecord, "time">): Promise<void> {
    const line = JSON.stringify({ time: new Date().toISOString(), ...r });
    this.echo(line);
    const next = this.chain.then(() => appendFile(this.file, `${line}\n`, { mode: 0o600 }));
    this.chain = next.catch((err: Error) => this.echo(`audit log ${this.file}: ${err.message}`));
    return next;
  }
}

/** Parameters as the audit log keeps them: long strings cut, so a message body cannot bloat the log. */
export function auditParams(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (/password/i.test(k)) continue;
    out[k] = typeof v === "string" && v.length > 256 ? `${v.slice(0, 256)}… (${v.length} chars)` : v;
  }
  return out;
}
