/** A port option's value (0-65535; 0 = any free port), or an error naming the option. */
export function parsePort(flag: string, v: string | undefined): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) {
    throw new Error(`invalid value for ${flag}: "${v ?? ""}" (expected a port 0-65535)`);
  }
  return Number(v);
}
