import fs from "node:fs";
import { join } from "node:path";

/**
 * Reads byte ranges of the commit log straight from its segment files (`<commitLogDir>/<20
 * digits>`), for the Raft entries RaftLogIndex no longer holds in its wire cache. Keeps one
 * read-only fd per segment it has read, and re-lists the directory when a range lies past
 * the segments it knows.
 */
export class CommitLogRangeReader {
  private segments: number[] = [];
  private readonly segFds = new Map<number, number>();

  constructor(private readonly commitLogDir: string) {}

  /**
   * Reads [offset, offset+len) of the commit log synchronously (RaftStorage reads are
   * synchronous; only followers that fell behind the cache get here).
   */
  read(offset: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const at = offset + done;
      const seg = this.segmentOf(at);
      const fd = this.segFd(seg);
      const n = fs.readSync(fd, out, done, len - done, at - seg);
      if (n <= 0) {
        // Past this segment's file: the rest is in the next segment.
        const next = this.segments.find((s) => s > at);
        if (next === undefined) throw new Error(`commit log has no bytes at ${at}`);
        // The gap is the zero tail of a blank filler (already inside `out` as zeros).
        done = next - offset;
        continue;
      }
      done += n;
    }
    return out;
  }

  close(): void {
    for (const fd of this.segFds.values()) fs.closeSync(fd);
    this.segFds.clear();
  }

  private segmentOf(offset: number): number {
    for (let attempt = 0; attempt < 2; attempt++) {
      let best: number | undefined;
      for (const s of this.segments) if (s <= offset) best = s;
      const next = this.segments.find((s) => s > offset);
      if (best !== undefined && (next !== undefined || attempt === 1)) return best;
      this.segments = fs
        .readdirSync(this.commitLogDir)
        .filter((f) => /^\d{20}$/.test(f))
        .map(Number)
        .sort((a, b) => a - b);
    }
    let best: number | undefined;
    for (const s of this.segments) if (s <= offset) best = s;
    if (best === undefined) throw new Error(`commit log has no segment holding ${offset}`);
    return best;
  }

  private segFd(start: number): number {
    let fd = this.segFds.get(start);
    if (fd === undefined) {
      fd = fs.openSync(join(this.commitLogDir, String(start).padStart(20, "0")), "r");
      this.segFds.set(start, fd);
    }
    return fd;
  }
}
