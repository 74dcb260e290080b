import type { RemotingCommand } from "@tidemq/protocol";

interface PendingRequest {
  code: number;
  /** performance.now() time after which the request fails. */
  deadline: number;
  resolve: (response: RemotingCommand) => void;
  reject: (err: Error) => void;
  onTimeout: (code: number, timeoutMs: number) => Error;
  timeoutMs: number;
}

/**
 * Requests sent on one connection that wait for their response, keyed by opaque.
 * Responses may come back in any order (a long-polled pull is answered seconds later).
 *
 * Timeouts cost one timer per connection, not one per request: the timer is armed for the
 * earliest deadline and, when it fires, fails what has expired and re-arms for the next.
 * A request that completes leaves the timer as it is, even when it was the last one: with
 * one request at a time, clearing and re-arming per request was a large part of its cost.
 * So the timer fires about once per timeout period, finds little or nothing, and re-arms
 * only while requests wait. It is unref'd: what keeps the process alive while requests
 * wait is their connection's socket (a closed connection fails its requests at once).
 */
export class PendingRequests {
  private readonly byOpaque = new Map<number, PendingRequest>();
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (performance.now() scale); Infinity when none. */
  private timerAt = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.byOpaque.size;
  }

  has(opaque: number): boolean {
    return this.byOpaque.has(opaque);
  }

  /** Registers a request; `onTimeout(code, timeoutMs)` builds the error it is failed with after timeoutMs. */
  add(
    opaque: number,
    code: number,
    timeoutMs: number,
    resolve: (response: RemotingCommand) => void,
    reject: (err: Error) => void,
    onTimeout: (code: number, timeoutMs: number) => Error,
  ): void {
    const deadline = performance.now() + timeoutMs;
    this.byOpaque.set(opaque, { code, deadline, resolve, reject, onTimeout, timeoutMs });
    if (deadline < this.timerAt) this.arm(deadline);
  }

  /** Completes the request the response answers; false when none waits (late or unknown). */
  complete(response: RemotingCommand): boolean {
    const pending = this.byOpaque.get(response.opaque);
    if (!pending) return false;
    this.byOpaque.delete(response.opaque);
    pending.resolve(response);
    return true;
  }

  /** Fails every waiting request at once, e.g. when the connection closes. */
  failAll(makeError: (code: number) => Error): void {
    const all = [...this.byOpaque.values()];
    this.byOpaque.clear();
    this.disarm();
    for (const pending of all) pending.reject(makeError(pending.code));
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        // Expire in the check phase, after this turn's poll phase has read the sockets: when the
        // event loop was busy past the deadline, a response that arrived in time is already
        // waiting there, and timers run before it would be read. Only a response that really
        // did not come fails the request.
        // (Not unref'd: an unref'd immediate does not stop the poll phase from blocking.)
        setImmediate(() => this.expire());
      },
      Math.max(1, Math.ceil(at - performance.now())),
    );
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  /** Fails every request past its deadline; re-arms for the earliest one left. */
  private expire(): void {
    const now = performance.now();
    const expired: Array<[number, PendingRequest]> = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [opaque, p] of this.byOpaque) {
      if (p.deadline <= now) expired.push([opaque, p]);
      else if (p.deadline < next) next = p.deadline;
    }
    for (const [opaque] of expired) this.byOpaque.delete(opaque);
    if (next < this.timerAt) this.arm(next);
    for (const [, p] of expired) p.reject(p.onTimeout(p.code, p.timeoutMs));
  }
}
