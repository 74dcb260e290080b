/**
 * Reuses the buffers of batch bodies. A fresh buffer is fresh memory, and the page faults of
 * first touching it cost more than encoding the batch (measured: ~0.4 µs a message of a
 * 128 × 500-byte batch); a buffer that is written again stays mapped and in cache. Fresh
 * buffers are also external memory to V8, whose growth brings on full (mark-compact) GCs.
 *
 * The pool keeps up to `maxKeptBytes`: enough for every batch of a large window to be in
 * flight at once (sendBatch of 64 × 500 bytes with 128 in flight needs 128 buffers: when
 * only 8 were kept, a third of the batches took a fresh one and the producer ran 6-7
 * mark-compacts in 5 s instead of 1-2).
 *
 * Only a buffer nobody can still read may come back (see SendCore.sendBatchItems: after
 * the response to the one attempt that carried it). That holds for a transport that copies
 * the bytes into a socket (RemotingClient); an in-process transport handing the request
 * body itself to a broker that keeps views of it would break it. Buffers come from
 * allocUnsafeSlow, never from Node's shared pool, so no other data lives in them.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** Bytes of the buffers in `free`. */
  private keptBytes = 0;

  constructor(
    /** Capacity granule: sizes are rounded up to it, so a buffer fits the next batches too. */
    private readonly granule = 64 * 1024,
    /** Bytes kept at most. */
    private readonly maxKeptBytes = 8 * 1024 * 1024,
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
        this.keptBytes -= b.length;
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(Math.ceil(bytes / this.granule) * this.granule);
  }

  /** Returns a buffer from take() that no one reads or writes any more. */
  give(buffer: Buffer): void {
    if (buffer.length > this.maxBytes || this.keptBytes + buffer.length > this.maxKeptBytes) return;
    this.free.push(buffer);
    this.keptBytes += buffer.length;
  }
}
