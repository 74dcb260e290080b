import fs from "node:fs";
import { dirname } from "node:path";

/*
 * Promise wrappers over the callback fs API with numeric fds: cheaper per call than
 * fs/promises FileHandles on the hot path (one write or read per pull/tick), and every
 * call goes through libuv's thread pool so the event loop never waits on the disk.
 */

export function writeAt(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (o: number, l: number, p: number) => {
      fs.write(fd, buf, o, l, p, (err, n) => {
        if (err) reject(err);
        else if (n < l) step(o + n, l - n, p + n);
        else resolve();
      });
    };
    step(off, len, pos);
  });
}

/** Reads exactly len bytes (fewer only at end of file); returns the count read. */
export function readAt(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let total = 0;
    const step = () => {
      fs.read(fd, buf, off + total, len - total, pos + total, (err, n) => {
        if (err) return reject(err);
        total += n;
        if (n === 0 || total >= len) resolve(total);
        else step();
      });
    };
    step();
  });
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function open(path: string, flags: string | number, mode = 0o644): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

export function close(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

export function ftruncate(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve())));
}

/** Writes `len` bytes of `buf` at `pos` of a file (created if missing) and fdatasyncs it. */
export async function writeDurableAt(
  path: string,
  buf: Buffer,
  off: number,
  len: number,
  pos: number,
): Promise<void> {
  const fd = await open(path, fs.constants.O_WRONLY | fs.constants.O_CREAT);
  try {
    await writeAt(fd, buf, off, len, pos);
    await fdatasync(fd);
  } finally {
    await close(fd);
  }
}

/** Cuts a file to `bytes` and makes the new length durable. */
export async function truncateDurable(path: string, bytes: number): Promise<void> {
  const fd = await open(path, "r+");
  try {
    await ftruncate(fd, bytes);
    await fdatasync(fd);
  } finally {
    await close(fd);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fs.promises.access(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a small file atomically: temp file, fsync, rename (a crash leaves the old or the new one). */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFileSynced(tmp, data);
  await fs.promises.rename(tmp, path);
  await fsyncDir(dirname(path));
}

/**
 * fsyncs a directory, so that files created, renamed or removed in it survive a power cut
 * (POSIX makes no promise about directory entries until then).
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates (or replaces) a small file and makes it and its directory entry durable. */
export async function writeFileDurable(path: string, data: string | Buffer): Promise<void> {
  await writeFileSynced(path, data);
  await fsyncDir(dirname(path));
}

async function writeFileSynced(path: string, data: string | Buffer): Promise<void> {
  const fh = await fs.promises.open(path, "w");
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** 20-digit zero-padded file name of an offset (RocketMQ's UtilAll.offset2FileName). */
export function offsetFileName(offset: number): string {
  return String(offset).padStart(20, "0");
}

export function isOffsetFileName(name: string): boolean {
  return /^\d{20}$/.test(name);
}

/**
 * A bounded LRU of read-only fds, so reads of old segments and consume-queue files do not
 * open a file per pull and the process never holds more than `max` of them.
 */
export class ReadFdCache {
  private readonly fds = new Map<string, Promise<number>>();
  constructor(private readonly max: number) {}

  async get(path: string): Promise<number> {
    let p = this.fds.get(path);
    if (p) {
      this.fds.delete(path);
      this.fds.set(path, p);
      return p;
    }
    p = open(path, "r");
    this.fds.set(path, p);
    p.catch(() => this.fds.delete(path));
    while (this.fds.size > this.max) {
      const [oldPath, oldFd] = this.fds.entries().next().value as [string, Promise<number>];
      this.fds.delete(oldPath);
      // Closing right away could pull the fd from under a read in flight; a short delay
      // lets those finish (reads take micro- to milliseconds).
      oldFd.then(
        (fd) => setTimeout(() => void close(fd), 1000).unref(),
        () => {},
      );
    }
    return p;
  }

  forget(path: string): void {
    const p = this.fds.get(path);
    if (!p) return;
    this.fds.delete(path);
    p.then(
      (fd) => setTimeout(() => void close(fd), 1000).unref(),
      () => {},
    );
  }

  async closeAll(): Promise<void> {
    const all = [...this.fds.values()];
    this.fds.clear();
    for (const p of all) {
      try {
        await close(await p);
      } catch {
        // already failed to open
      }
    }
  }
}
