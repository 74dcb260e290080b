/**
 * Reuses the buffers of batch bodies. A fresh buffer is fresh memory, and the page faults of
 * first touching it cost more than encoding the batch (measured: ~0.4 µs a message of a
 * 128 × 500-byte batch); a buffer that is written again stays mapped and in cache.
 *
 * Only a buffer nobody can still read may come back (see SendCore.sendBatchItems: after
 * the response to the one attempt that carried it). That holds for a transport that copies
 * the bytes into a socket (RemotingClient); an in-process transport handing the request
 * body itself to a broker that keeps views of it would break it. Buffers come from
 * allocUnsafeSlow, never from Node's shared pool, so no other data lives in them.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    /** Capacity granule: sizes are rounded up to it, so a buffer fits the next batches too. */
    private readonly granule = 64 * 1024,
    /** Buffers kept at most (enough for the few batches in flight at once). */
    private readonly maxKept = 8,
    /** Buffers larger than this are not kept. */
    private readonly maxBytes = 1024 * 1024,
  ) {}

  /** A buffer of at least `bytes` (its contents are garbage). */
  take(bytes: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (b.length >= bytes) {
        this.free[i] = this.free[this.free.length - 1]!;
        this.free.pop();
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(Math.ceil(bytes / this.granule) * this.granule);
  }

  /** Returns a buffer from take() that no one reads or writes any more. */
  give(buffer: Buffer): void {
    if (this.free.length < this.maxKept && buffer.length <= this.maxBytes) this.free.push(buffer);
  }
}
