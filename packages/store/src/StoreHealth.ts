import { serviceNotAvailable } from "./StoreError.js";

/** Why the store refuses appends right now, if it does (shut down, a failed write, a full disk). */
export class StoreHealth {
  closed = false;
  writeFailure: string | undefined;
  diskFull: string | undefined;

  checkWritable(): void {
    if (this.closed) throw serviceNotAvailable("message store is shut down");
    if (this.writeFailure) throw serviceNotAvailable(this.writeFailure);
    if (this.diskFull) throw serviceNotAvailable(this.diskFull);
  }
}

export function writeFailureText(what: string, err: Error): string {
  const cause = (err as NodeJS.ErrnoException).code ?? err.message;
  return `${what} write failed (${cause}); the store takes no more writes until it is restarted`;
}
