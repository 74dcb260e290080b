import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { decodeJson } from "@tidemq/protocol";

/**
 * The broker's JSON config files (consumerOffset.json, subscriptionGroup.json, topics.json):
 * read once at start-up, replaced atomically on every write.
 */

/**
 * The parsed content of `path`, creating its directory; undefined when the file is missing
 * or empty. A file that is not JSON stops start-up: guessing would lose offsets or groups.
 */
export async function readConfigJson<T>(path: string): Promise<T | undefined> {
  await mkdir(dirname(path), { recursive: true });
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  if (text.length === 0) return undefined;
  try {
    return decodeJson<T>(text, path);
  } catch (err) {
    throw new Error(`${path} is not valid JSON; fix or remove it (${(err as Error).message})`);
  }
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the new content:
 * write a temporary file, fsync it, rename it over the target, fsync the directory.
 * With `keepBackup` the previous file is kept as `<path>.bak`.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Buffer,
  options: { keepBackup?: boolean } = {},
): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (options.keepBackup) await rename(path, `${path}.bak`).catch(() => undefined);
  await rename(tmp, path);
  try {
    const dir = await open(dirname(path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}
