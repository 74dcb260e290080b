/**
 * Plain-text rendering shared by the admin subcommands: aligned tables with mqadmin's
 * "#Column" headers, key/value blocks and the date format mqadmin prints. Pure.
 */

export type Cell = string | number | boolean | undefined | null;

/** Longest cell printed; longer ones are cut with "…" so one huge value cannot wreck a table. */
const MAX_CELL = 120;

function cellText(c: Cell): string {
  if (c === undefined || c === null) return "";
  const s = String(c).replace(/[\r\n\t]+/g, " ");
  return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
}

/**
 * An aligned table: every column as wide as its widest cell, two spaces between columns,
 * columns listed in `right` (by index, numbers) right-aligned. No trailing spaces.
 */
export function formatTable(headers: string[], rows: Cell[][], right: readonly number[] = []): string {
  const text = [headers, ...rows.map((r) => headers.map((_, i) => cellText(r[i])))];
  const widths = headers.map((_, i) => Math.max(...text.map((r) => (r[i] ?? "").length)));
  return text
    .map((r) =>
      r
        .map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** "Key:   value" lines with the values aligned (mqadmin's "%-20s %s" blocks). */
export function formatKeyValues(pairs: Array<[string, Cell]>): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${cellText(v)}`.trimEnd()).join("\n");
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** mqadmin's UtilAll.timeMillisToHumanString2: "yyyy-MM-dd HH:mm:ss,SSS" in local time. */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(
    d.getMinutes(),
  )}:${pad(d.getSeconds())},${pad(d.getMilliseconds(), 3)}`;
}

/** Body text for a terminal: UTF-8 when it decodes cleanly and is printable, else base64. */
export function bodyForDisplay(body: Buffer): { text: string; encoding: "utf8" | "base64" } {
  const text = body.toString("utf8");
  // U+FFFD = invalid UTF-8; C0 controls other than tab/newline = binary.
  if (!text.includes("\uFFFD") && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text)) {
    return { text, encoding: "utf8" };
  }
  return { text: body.toString("base64"), encoding: "base64" };
}

/** A thrown value as one line (no stack, no newlines). */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}

/** Sorts items in place by a key, ascending (rows of a table in a stable, readable order). */
export function sortBy<T>(items: T[], key: (t: T) => string | number): T[] {
  return items.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
