import { atEndOfTurn } from "@tidemq/protocol";
import { DIRECT_WRITE_MAX_BYTES, DirectWriter } from "./DirectWriter.js";
import { writeAt } from "./fsx.js";
import type { Logger } from "./Logger.js";
import { openForWrite, type Segment } from "./Segment.js";
import type { Block, TailBlocks } from "./TailBlocks.js";
import { ZeroFill } from "./ZeroFill.js";

interface InflightWrite {
  from: number;
  to: number;
  /** Where the log continues after this write (past a blank record's tail). */
  next: number;
  done: boolean;
}

const MAX_WRITES_IN_FLIGHT = 4;

/** What the writer reads from and reports to the log whose reserved bytes it writes out. */
export interface WriterLog {
  /** SYNC_FLUSH: keep zeros ahead of the end (ZeroFill.ts). */
  readonly syncFlush: boolean;
  readonly tail: TailBlocks;
  /** End of everything reserved. */
  reserved(): number;
  /** The current segment. */
  current(): Segment | undefined;
  /** True once the log takes no more writes. */
  failed(): boolean;
  /** Bytes landed in `seg` (in the page cache): the next flush must cover it. */
  wrote(seg: Segment): void;
  /** The written offset moved. */
  onWritten(): void;
  /** Everything reserved is written. */
  onAllWritten(): void;
  onError(err: Error): void;
}

/**
 * Writes the reserved bytes of the in-memory tail out to the segment files, in log order:
 * everything published in one event-loop turn as one positioned write at its end. Owns the
 * written offset, which only moves over a gap-free prefix.
 */
export class LogWriter {
  /** Everything below is in the segment files (page cache). */
  written = 0;
  private issued = 0;
  private ioInFlight = 0;
  private writeScheduled = false;
  private readonly inflight: InflightWrite[] = [];
  readonly zeroFill: ZeroFill;
  private readonly direct: DirectWriter;

  constructor(
    private readonly log: WriterLog,
    logger: Logger,
  ) {
    this.zeroFill = new ZeroFill(logger);
    this.direct = new DirectWriter(logger);
  }

  /** Writes through the thread pool still running (they may not be cut short). */
  get writesInFlight(): number {
    return this.ioInFlight;
  }

  /** The log (re)starts at `end`: everything below counts as written. */
  setEnd(end: number): void {
    this.issued = end;
    this.written = end;
  }

  /** The log was cut back: writes issued past the cut are forgotten (they all landed). */
  dropIssued(): void {
    this.inflight.length = 0;
  }

  publish(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    // Everything appended while handling this callback (one socket chunk's sends, made in
    // its promise chains) goes out in one write at the end of it.
    atEndOfTurn(this.runScheduledWrite);
  }

  private readonly runScheduledWrite = (): void => {
    this.writeScheduled = false;
    this.pump();
  };

  /**
   * Issues writes for reserved bytes. A small write (≤ DIRECT_WRITE_MAX_BYTES) to an open
   * segment is a direct `fs.writeSync` into the page cache (10–40 µs), because handing a
   * write to libuv's thread pool costs more than that on the event loop itself (a thread
   * wake-up and a completion wake-up, 30–140 µs on these VMs) and makes every group of
   * appenders wait for a round trip. If direct writes are slow (the kernel throttling dirty pages, a
   * stalled disk), writes go through the thread pool for a while, up to
   * MAX_WRITES_IN_FLIGHT at once (positioned writes to disjoint ranges), so the event loop is
   * never held for long. Either way the written offset only moves over a gap-free prefix.
   */
  pump(): void {
    const log = this.log;
    let direct = 0;
    while (!log.failed() && this.issued < log.reserved()) {
      const b = log.tail.at(this.issued);
      if (!b) {
        const closed = log.tail.closedEndingAt(this.issued);
        if (closed && closed.logicalEnd > this.issued) {
          this.inflight.push({ from: this.issued, to: this.issued, next: closed.logicalEnd, done: true });
          this.issued = closed.logicalEnd;
          direct++;
          continue;
        }
        log.onError(new Error(`commit log: no block holds unwritten offset ${this.issued}`));
        return;
      }
      const from = this.issued;
      const to = b.start + b.used;
      const seg = b.segment;
      // A zero fill landing after these bytes would erase them: wait for it (it calls pump).
      if (this.zeroFill.overlaps(from, to)) break;
      const w: InflightWrite = { from, to, next: b.closed ? b.logicalEnd : to, done: false };
      if (seg.fd !== undefined && to - from <= DIRECT_WRITE_MAX_BYTES && this.direct.allowed()) {
        if (!this.writeDirect(seg, seg.fd, b, from, to)) return;
        w.done = true;
        this.issued = w.next;
        this.inflight.push(w);
        direct++;
        continue;
      }
      if (this.inflight.length >= MAX_WRITES_IN_FLIGHT) break;
      this.issued = w.next;
      this.inflight.push(w);
      this.ioInFlight++;
      openForWrite(seg)
        .then((fd) => writeAt(fd, b.buf, from - b.start, to - from, from - seg.start))
        .then(
          () => {
            log.wrote(seg);
            w.done = true;
            this.onWriteDone();
          },
          (err: Error) => log.onError(err),
        )
        .finally(() => this.ioInFlight--);
    }
    if (direct > 0) this.onWriteDone();
    // SYNC_FLUSH: keep zeros ahead of the log's end (see ZeroFill.ts).
    const seg = log.current();
    if (log.syncFlush && !log.failed() && seg)
      this.zeroFill.extend(seg, log.reserved(), this.pumpAfterZeroFill);
  }

  private readonly pumpAfterZeroFill = (): void => this.pump();

  /** One synchronous positioned write into the page cache; false (and the log failed) on error. */
  private writeDirect(seg: Segment, fd: number, b: Block, from: number, to: number): boolean {
    try {
      this.direct.write(seg.path, fd, b.buf, from - b.start, to - from, from - seg.start);
    } catch (err) {
      this.log.onError(err as Error);
      return false;
    }
    this.log.wrote(seg);
    return true;
  }

  private onWriteDone(): void {
    let moved = false;
    while (this.inflight.length > 0 && this.inflight[0]!.done) {
      this.written = this.inflight.shift()!.next;
      moved = true;
    }
    if (moved) this.log.onWritten();
    if (this.issued < this.log.reserved()) this.pump();
    if (this.written >= this.log.reserved()) this.log.onAllWritten();
  }
}
