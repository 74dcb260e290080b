import { atEndOfTurn } from "@tidemq/protocol";
/** The part of net.Socket the writer uses (kept small so tests can drive the writer directly). */
export interface WriteSink {
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
}

export interface FrameWriterOptions {
  /** Queued bytes (ours + the socket's) beyond which the connection is given up. */
  maxQueuedBytes: number;
  /** Called once when a frame would exceed maxQueuedBytes; the owner closes the connection. */
  onOverflow: (queuedBytes: number, frameBytes: number) => void;
  /**
   * Queued bytes that are written at once instead of at the end of the turn (default 16 KiB):
   * the peer starts on a full-size write while this turn goes on producing.
   */
  writeNowBytes?: number;
  /** How a flush is deferred; default: at the end of the current macrotask, shared by every writer. */
  schedule?: (writer: FrameWriter) => void;
}

export type WriteCallback = (err?: Error) => void;

/** Parts at most this big are copied into one buffer; bigger ones go to the socket as they are. */
const COPY_LIMIT_BYTES = 16 * 1024;
/** Queued bytes that are written at once instead of at the end of the turn. */
const WRITE_NOW_BYTES = 16 * 1024;

/**
 * Gathers the frames a connection produces during one turn of the event loop and writes
 * them with one socket write: every response to the requests of one socket chunk, and
 * every request issued in the same turn, costs one syscall instead of one per frame.
 * Small frames are concatenated; large bodies (split off by encodeFrameParts) are written
 * without a copy under cork/uncork, which Node turns into one writev.
 *
 * Backpressure: once the socket refuses more (write() returns false) nothing more is
 * handed to it until 'drain'; frames wait here. The total waiting (here plus inside the
 * socket) is bounded by maxQueuedBytes, beyond which the owner closes the connection:
 * a peer that does not read cannot make the process buffer without limit.
 */
export class FrameWriter {
  private readonly sink: WriteSink;
  private readonly options: FrameWriterOptions;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private callbacks: WriteCallback[] = [];
  private scheduled = false;
  private waitingForDrain = false;
  private failed = false;
  /** Socket writes issued (for tests and statistics). */
  writeCalls = 0;

  constructor(sink: WriteSink, options: FrameWriterOptions) {
    this.sink = sink;
    this.options = options;
  }

  /** Bytes accepted but not yet sent to the kernel: waiting here plus buffered in the socket. */
  get queuedBytes(): number {
    return this.partsBytes + this.sink.writableLength;
  }

  /**
   * Queues one frame's parts. Returns false (and queues nothing) when the writer has failed
   * or the frame would push the queue past its limit; then onOverflow has been called.
   */
  enqueue(frameParts: Buffer[], callback?: WriteCallback): boolean {
    if (this.failed) return false;
    let frameBytes = 0;
    for (const part of frameParts) frameBytes += part.length;
    const queued = this.queuedBytes;
    // An empty queue always takes one frame, however big: it could never be sent otherwise.
    if (queued > 0 && queued + frameBytes > this.options.maxQueuedBytes) {
      this.failed = true;
      this.options.onOverflow(queued, frameBytes);
      return false;
    }
    for (const part of frameParts) this.parts.push(part);
    this.partsBytes += frameBytes;
    if (callback) this.callbacks.push(callback);
    // Enough for a full-size write: send it now, so the peer starts on it while this turn
    // goes on producing (a producer's full batch, a big pull answer).
    if (this.partsBytes >= (this.options.writeNowBytes ?? WRITE_NOW_BYTES) && !this.waitingForDrain) {
      this.flush();
      return true;
    }
    if (!this.scheduled && !this.waitingForDrain) {
      this.scheduled = true;
      (this.options.schedule ?? scheduleAtEndOfTurn)(this);
    }
    return true;
  }

  /** Hands everything queued to the socket in one write (or one corked writev). */
  flush(): void {
    this.scheduled = false;
    if (this.failed || this.waitingForDrain || this.parts.length === 0) return;
    const parts = this.parts;
    const total = this.partsBytes;
    const callbacks = this.callbacks;
    this.parts = [];
    this.partsBytes = 0;
    this.callbacks = [];
    const done = callbacks.length === 0 ? undefined : (err?: Error | null) => runCallbacks(callbacks, err);
    let accepted: boolean;
    if (parts.length === 1) {
      accepted = this.writeOne(parts[0]!, done);
    } else if (total <= COPY_LIMIT_BYTES * 4 && parts.every((p) => p.length <= COPY_LIMIT_BYTES)) {
      accepted = this.writeOne(Buffer.concat(parts, total), done);
    } else {
      accepted = this.writeCorked(parts, done);
    }
    if (!accepted) this.waitingForDrain = true;
  }

  /** The socket emitted 'drain': send what waited meanwhile. */
  onDrain(): void {
    this.waitingForDrain = false;
    this.flush();
  }

  /** The connection is gone: drop what waits and fail its callbacks. */
  fail(err: Error): void {
    this.failed = true;
    const callbacks = this.callbacks;
    this.parts = [];
    this.partsBytes = 0;
    this.callbacks = [];
    runCallbacks(callbacks, err);
  }

  private writeOne(chunk: Buffer, done?: (err?: Error | null) => void): boolean {
    this.writeCalls++;
    return this.sink.write(chunk, done);
  }

  /** Small neighbours are merged; big parts pass by reference; uncork issues one writev. */
  private writeCorked(parts: Buffer[], done?: (err?: Error | null) => void): boolean {
    const chunks: Buffer[] = [];
    let small: Buffer[] = [];
    let smallBytes = 0;
    const mergeSmall = (): void => {
      if (small.length === 0) return;
      chunks.push(small.length === 1 ? small[0]! : Buffer.concat(small, smallBytes));
      small = [];
      smallBytes = 0;
    };
    for (const part of parts) {
      if (part.length > COPY_LIMIT_BYTES) {
        mergeSmall();
        chunks.push(part);
      } else {
        small.push(part);
        smallBytes += part.length;
      }
    }
    mergeSmall();
    this.writeCalls++;
    this.sink.cork();
    let accepted = true;
    const last = chunks.length - 1;
    // Writes complete in order, so the callback on the last chunk fires after all of them.
    for (let i = 0; i <= last; i++)
      accepted = this.sink.write(chunks[i]!, i === last ? done : undefined) && accepted;
    this.sink.uncork();
    return accepted;
  }
}

function runCallbacks(callbacks: WriteCallback[], err?: Error | null): void {
  for (const cb of callbacks) cb(err ?? undefined);
}

// Flushing waits for the end of the current callback (atEndOfTurn): every frame produced
// while handling this socket chunk goes out in one write. One flush serves every dirty writer.
let dirty: FrameWriter[] = [];
let flushArmed = false;

function scheduleAtEndOfTurn(writer: FrameWriter): void {
  dirty.push(writer);
  if (flushArmed) return;
  flushArmed = true;
  atEndOfTurn(flushDirty);
}

function flushDirty(): void {
  flushArmed = false;
  const writers = dirty;
  dirty = [];
  for (const writer of writers) writer.flush();
}
