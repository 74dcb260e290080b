import fs from "node:fs";

/**
 * Percent of the file system in use, computed as df does: used / (used + available to
 * unprivileged users). Reserved root blocks therefore count as unavailable.
 */
export async function diskUsedRatio(path: string): Promise<number> {
  const s = await fs.promises.statfs(path);
  const used = s.blocks - s.bfree;
  const denom = used + s.bavail;
  return denom <= 0 ? 100 : (used / denom) * 100;
}
