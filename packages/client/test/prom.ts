import assert from "node:assert/strict";

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the subset prom-client writes). */
export function parseProm(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** GET http://127.0.0.1:port/metrics, parsed. */
export async function scrape(port: number): Promise<PromSample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return parseProm(await res.text());
}

/** The first sample of `name` whose labels include `labels`. */
export function value(
  samples: PromSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    ?.value;
}

/** Every sample of `name`. */
export function series(samples: PromSample[], name: string): PromSample[] {
  return samples.filter((x) => x.name === name);
}

/** Scrapes until `check` returns a value (bounded): for states no event announces across processes. */
export async function scrapeUntil<T>(
  port: number,
  what: string,
  check: (s: PromSample[]) => T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: PromSample[] = [];
  for (let i = 0; i < 10_000; i++) {
    last = await scrape(port);
    const v = check(last);
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const shown = last.filter((s) => s.name.startsWith("tidemq_")).slice(0, 30);
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(shown)}`);
}
