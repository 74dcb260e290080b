import { serviceNotAvailable } from "./StoreError.js";

/** Why the store refuses appends right now, if it does (shut down, a failed write, a full disk). */
export class StoreHealth {
  closed = false;
  writeFailure: string | undefined;
  diskFull: string | undefined;
  /**
   * Set above diskSpaceReserveRatio: even deliveries of parked messages (which let retention
   * free their segments) are refused.
   */
  diskReserveFull: string | undefined;
  /** Set on a replica: only replicated appends are taken (a local one would fork the log). */
  localAppendsRefused: string | undefined;

  /**
   * For local puts. `reserve`: a delivery of a parked message (timer, delay level, transaction
   * decision) may still be appended on a disk above diskSpaceWarningLevelRatio, up to
   * diskSpaceReserveRatio: it is what lets retention delete the segments those records pin.
   */
  checkWritable(reserve = false): void {
    if (this.localAppendsRefused) throw serviceNotAvailable(this.localAppendsRefused);
    if (reserve && this.diskFull && !this.diskReserveFull) {
      const saved = this.diskFull;
      this.diskFull = undefined;
      try {
        this.checkReplicable();
      } finally {
        this.diskFull = saved;
      }
      return;
    }
    this.checkReplicable();
  }

  /** Set while the log is being cut back: nothing may append meanwhile. */
  truncating = false;

  /** For replicated appends. */
  checkReplicable(): void {
    if (this.closed) throw serviceNotAvailable("message store is shut down");
    if (this.truncating) throw serviceNotAvailable("message store is truncating its log");
    if (this.writeFailure) throw serviceNotAvailable(this.writeFailure);
    if (this.diskFull) throw serviceNotAvailable(this.diskFull);
  }
}

export function writeFailureText(what: string, err: Error): string {
  const cause = (err as NodeJS.ErrnoException).code ?? err.message;
  return `${what} write failed (${cause}); the store takes no more writes until it is restarted`;
}
