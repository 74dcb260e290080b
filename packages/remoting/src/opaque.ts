/** Largest opaque before wrapping: stays a positive Java int (ali-ons wraps near 2^31 too). */
export const MAX_OPAQUE = 0x7fffffff - 1;

/**
 * Request ids ("opaque") for one requester. Starts at 1 because ali-ons replaces an opaque
 * of 0 by a local id (spec §1.4), and wraps back to 1 before 2^31.
 */
export class OpaqueSequence {
  private last: number;

  constructor(start = 1) {
    this.last = start - 1;
  }

  next(): number {
    this.last = this.last >= MAX_OPAQUE ? 1 : this.last + 1;
    return this.last;
  }
}
