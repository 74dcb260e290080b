import type { Ready } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";

export const TRACE = process.env.TIDEMQ_DLEDGER_TRACE === "1";
/** TIDEMQ_DLEDGER_TIMELINE=1: one stdout line per event of an entry's round (propose, send,
 *  receive, written, durable, ack, commit) with a wall-clock time in ms, for
 *  bench/dledger-timeline.mjs to join across replicas. */
export const TIMELINE = process.env.TIDEMQ_DLEDGER_TIMELINE === "1";
export function timeline(self: string, event: string, index: number, peer = ""): void {
  process.stdout.write(
    `dlt ${self} ${event} ${index} ${(performance.timeOrigin + performance.now()).toFixed(3)} ${peer}\n`,
  );
}

export function timelineSends(
  self: string,
  msgs: readonly { type: string; to: string; entries: readonly { index: number }[] }[],
): void {
  for (const m of msgs)
    if (m.entries.length > 0) timeline(self, `send-${m.type}`, m.entries.at(-1)!.index, m.to);
}

/** TIDEMQ_DLEDGER_TRACE=1: every 2 s, Readies handled, entries persisted, time persisting. */
export class ReadyTrace {
  private readonly proposedAt = new Map<number, number>();
  private traceLat = { ready: 0, nReady: 0, commit: 0, nCommit: 0 };
  private traceSyncs = { log: 0, index: 0 };
  private traceStats = { readies: 0, entries: 0, committed: 0, persistMs: 0, maxMs: 0, since: Date.now() };

  constructor(
    private readonly self: string,
    private readonly logger: Logger,
    /** fsyncs so far of the commit log and of the Raft index. */
    private readonly syncCounts: () => { log: number; index: number },
  ) {}

  /** This replica proposed entries up to `index` now. */
  proposed(index: number): void {
    this.proposedAt.set(index, performance.now());
  }

  /** The commit index reached `commit`: propose→commit latency of what it covers. */
  committed(commit: number): void {
    if (this.proposedAt.size === 0) return;
    const now = performance.now();
    for (const [i, at] of this.proposedAt) {
      if (i > commit) break;
      this.traceLat.commit += now - at;
      this.traceLat.nCommit++;
      this.proposedAt.delete(i);
    }
  }

  /** A Ready persisted in `ms`, on a replica of `role`. */
  ready(rd: Ready, ms: number, role: string): void {
    const t = this.traceStats;
    t.readies++;
    t.entries += rd.entries.length;
    t.committed += rd.committedEntries.length;
    t.persistMs += ms;
    t.maxMs = Math.max(t.maxMs, ms);
    const now = performance.now();
    for (const e of rd.entries) {
      const at = this.proposedAt.get(e.index);
      if (at !== undefined) {
        this.traceLat.ready += now - ms - at;
        this.traceLat.nReady++;
      }
    }
    if (Date.now() - t.since >= 2000) {
      const { log: logSyncs, index: indexSyncs } = this.syncCounts();
      const fsyncs = `fsyncs log ${logSyncs - this.traceSyncs.log} index ${indexSyncs - this.traceSyncs.index}`;
      this.traceSyncs = { log: logSyncs, index: indexSyncs };
      this.logger.info(
        `dledger trace ${this.self} ${role}: ${t.readies} readies, ${t.entries} entries, ${t.committed} committed, ${fsyncs}, persist ${(t.persistMs / t.readies).toFixed(2)} ms avg ${t.maxMs.toFixed(1)} max; propose→ready ${(this.traceLat.ready / Math.max(1, this.traceLat.nReady)).toFixed(1)} ms, propose→commit ${(this.traceLat.commit / Math.max(1, this.traceLat.nCommit)).toFixed(1)} ms`,
      );
      this.traceLat = { ready: 0, nReady: 0, commit: 0, nCommit: 0 };
      this.traceStats = { readies: 0, entries: 0, committed: 0, persistMs: 0, maxMs: 0, since: Date.now() };
    }
  }
}
