import type { HardState } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { RaftLogIndex } from "./RaftLogIndex.js";

/**
 * The replica's Raft hard state (term, vote, commit index) as written to the index: term and
 * vote must be durable before any answer; the commit index need not be (it is re-learned from
 * the leader), so it is written at most every second, off the path.
 */
export class HardStateWriter {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    /** The hard state as last handed to storage (read from the index at start-up). */
    public hard: HardState,
    private readonly index: RaftLogIndex,
    private readonly logger: Logger,
  ) {}

  /** Whether `hs` changes term or vote (what must be durable before anything is answered). */
  changesTermOrVote(hs: HardState): boolean {
    return hs.term !== this.hard.term || hs.vote !== this.hard.vote;
  }

  /** A Ready's hard state: durable at once if term or vote changed, else written later. */
  async write(hs: HardState): Promise<void> {
    const durable = this.changesTermOrVote(hs);
    this.hard = hs;
    // Term and vote must be durable before any answer; the commit index need not be (it is
    // re-learned from the leader), so it is written at most every second, off the path.
    if (durable) await this.index.setHardState(hs, true);
    else this.scheduleWrite();
  }

  private scheduleWrite(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.index.setHardState(this.hard, false).catch((err: Error) => {
        this.logger.warn(`dledger: cannot write the commit index: ${err.message}`);
      });
    }, 1000);
    this.timer.unref();
  }

  /** The replica stops: no more delayed writes (stop writes the last hard state itself). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
