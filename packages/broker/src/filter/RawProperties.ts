/**
 * Reads single properties straight from a stored record's properties bytes (name \u0001
 * value \u0002 …), for SQL92 filtering on the pull path: an expression reads one to a few
 * properties, so decoding the whole text and building an object per scanned message (what
 * `StoredMessage.properties` does) is most of a scan's cost. Gives exactly what
 * `parseProperties(text)[name]` gives for an own property: pairs are split at \u0002, a
 * pair's name ends at its first \u0001 and must not be empty, of a name given twice the last
 * value wins. Byte-wise comparison is exact because \u0001 and \u0002 never occur inside a
 * UTF-8 multi-byte sequence, and the value is decoded as that slice of the text would be.
 */
export class RawProperties {
  private buf: Buffer = EMPTY;
  private from = 0;
  private to = 0;
  /** UTF-8 bytes of the names asked for (an expression's few names), or NEVER / SLOW. */
  private readonly names = new Map<string, Uint8Array>();
  /** The getter to hand to the filter (bound once). */
  readonly get = (name: string): string | undefined => this.lookup(name);

  /** Points the reader at the properties bytes buf[from, to). */
  reset(buf: Buffer, from: number, to: number): void {
    this.buf = buf;
    this.from = from;
    this.to = to;
  }

  private lookup(name: string): string | undefined {
    let nb = this.names.get(name);
    if (nb === undefined) {
      // An empty name or one holding a separator never matches a parsed name; one holding
      // U+FFFD could match undecodable bytes, so it is compared as decoded text.
      // A lone surrogate (not text any decoding yields) never matches either.
      const bytes = Buffer.from(name, "utf8");
      nb =
        name.length === 0 || /[\u0001\u0002]/.test(name) || bytes.toString("utf8") !== name
          ? NEVER
          : name.includes("\ufffd")
            ? SLOW
            : bytes;
      if (this.names.size >= 256) this.names.clear();
      this.names.set(name, nb);
    }
    if (nb === NEVER) return undefined;
    if (nb === SLOW) return this.slow(name);
    const buf = this.buf;
    const to = this.to;
    const n = nb.length;
    let valueAt = -1;
    let valueEnd = -1;
    let start = this.from;
    while (start < to) {
      let end = start;
      while (end < to && buf[end] !== PS) end++;
      if (start + n < end && buf[start + n] === NV) {
        let k = 0;
        while (k < n && buf[start + k] === nb[k]) k++;
        if (k === n) {
          valueAt = start + n + 1;
          valueEnd = end;
        }
      }
      start = end + 1;
    }
    return valueAt < 0 ? undefined : this.buf.toString("utf8", valueAt, valueEnd);
  }

  /** parseProperties' answer from the decoded text (names that cannot be compared as bytes). */
  private slow(name: string): string | undefined {
    const text = this.buf.toString("utf8", this.from, this.to);
    let value: string | undefined;
    for (const pair of text.split("\u0002")) {
      const i = pair.indexOf("\u0001");
      if (i > 0 && pair.slice(0, i) === name) value = pair.slice(i + 1);
    }
    return value;
  }
}

const NV = 1; // \u0001 between name and value
const PS = 2; // \u0002 after each pair
const EMPTY = Buffer.alloc(0);
const NEVER = new Uint8Array(0);
const SLOW = new Uint8Array(0);
