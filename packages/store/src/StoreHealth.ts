import { serviceNotAvailable } from "./StoreError.js";

/** Why the store refuses appends right now, if it does (shut down, a failed write, a full disk). */
export class StoreHealth {
  closed = false;
  writeFailure: string | undefined;
  diskFull: string | undefined;
  /** Set on a replica: only replicated appends are taken (a local one would fork the log). */
  localAppendsRefused: string | undefined;

  /** For local puts. */
  checkWritable(): void {
    if (this.localAppendsRefused) throw serviceNotAvailable(this.localAppendsRefused);
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
