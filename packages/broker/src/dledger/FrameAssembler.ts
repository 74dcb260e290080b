/**
 * Cuts a Raft connection's byte stream into frames (u32 payload length, u32 CRC, payload)
 * with as few copies as possible. A follower receives every entry (50-100 KiB under load)
 * through here, in 64 KiB socket reads: before, each read concatenated everything pending
 * (again for every read of a frame still incomplete), and each entry's data was then copied
 * out of the frame once more. Now the pending reads are only listed until the frame they
 * hold is complete (its length is known from its first 8 bytes), and joined once — or not
 * at all when a read holds whole frames. The frames handed out are views that nothing here
 * reuses (Node gives each socket read its own memory), so decoders may keep views into them.
 */
export class FrameAssembler {
  private parts: Buffer[] = [];
  private bytes = 0;
  /** Bytes (8 + payload) of the frame at the head of `parts`; 0 while its first 8 are not in. */
  private need = 0;

  constructor(private readonly maxPayload: number) {}

  /**
   * Takes one read; calls `onFrame(frame)` for each frame it completes (the whole frame,
   * header included); `onFrame` returning false stops (the rest is dropped). Throws a FrameTooLargeError when a frame announces more than
   * `maxPayload` bytes (the connection is then beyond repair).
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean): void {
    if (chunk.length === 0) return;
    this.parts.push(chunk);
    this.bytes += chunk.length;
    if (this.need === 0) {
      if (this.bytes < 8) return;
      this.need = this.frameSize(this.parts.length === 1 ? chunk : Buffer.concat(this.parts, 8));
    }
    if (this.bytes < this.need) return;
    const buf = this.parts.length === 1 ? chunk : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    this.need = 0;
    let p = 0;
    while (buf.length - p >= 8) {
      const size = this.frameSize(buf.subarray(p, p + 8));
      if (buf.length - p < size) {
        this.need = size;
        break;
      }
      const frame = buf.subarray(p, p + size);
      p += size;
      if (!onFrame(frame)) return;
    }
    if (p < buf.length) {
      this.parts.push(buf.subarray(p));
      this.bytes = buf.length - p;
    }
  }

  /** Bytes received and not yet handed out as a frame. */
  get pendingBytes(): number {
    return this.bytes;
  }

  private frameSize(head: Buffer): number {
    const len = head.readUInt32BE(0);
    if (len > this.maxPayload) throw new FrameTooLargeError(len);
    return 8 + len;
  }
}

export class FrameTooLargeError extends Error {
  constructor(readonly payloadBytes: number) {
    super(`frame of ${payloadBytes} bytes`);
    this.name = "FrameTooLargeError";
  }
}
