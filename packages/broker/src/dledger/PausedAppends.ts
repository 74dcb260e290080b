import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";

/** How often a replica whose disk is full looks again whether it may append. */
export const DISK_FULL_RETRY_MS = 200;

interface Held {
  index: number;
  offset: number;
  bytes: Buffer;
  segmentSize: number;
}

/**
 * A follower's replicated appends while its store refuses them because the disk is full
 * (above diskSpaceWarningLevelRatio): held in order and appended, in order, once the store
 * takes them again. Until then the entries are not confirmed, so the replica acknowledges
 * nothing past them (and, its Readies completing in order, votes for nobody): a full disk
 * pauses the replica instead of leaving it stalled until a restart. Bounded by what the leader
 * keeps in flight to one follower (it sends no more until this one answers).
 */
export class PausedAppends {
  private held: Held[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly logger: Logger,
    private readonly appendNow: (index: number, offset: number, bytes: Buffer, segmentSize: number) => void,
  ) {}

  /** Where the held bytes end (the log's end as the next entry must continue it), if any. */
  get end(): number | undefined {
    const last = this.held.at(-1);
    return last ? last.offset + last.bytes.length : undefined;
  }

  /** Appends now, or holds the bytes behind earlier held ones while the disk is full. */
  offer(index: number, offset: number, bytes: Buffer, segmentSize: number): void {
    if (this.held.length === 0) {
      const full = this.store.diskFullReason;
      if (full === undefined) {
        this.appendNow(index, offset, bytes, segmentSize);
        return;
      }
      this.logger.warn(
        `dledger: ${full}; entries from ${index} wait, unacknowledged, and are appended once space is freed`,
      );
    }
    this.held.push({ index, offset, bytes, segmentSize });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, DISK_FULL_RETRY_MS);
    this.timer.unref();
  }

  private drain(): void {
    if (this.held.length === 0) return;
    if (this.store.diskFullReason !== undefined) {
      this.schedule();
      return;
    }
    const first = this.held[0]!.index;
    const held = this.held;
    this.held = [];
    for (const h of held) this.appendNow(h.index, h.offset, h.bytes, h.segmentSize);
    this.logger.info(
      `dledger: disk space is back; appended the held entries ${first}..${held.at(-1)!.index}`,
    );
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.held = [];
  }
}
