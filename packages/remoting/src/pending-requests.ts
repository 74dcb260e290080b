import type { RemotingCommand } from "@tidemq/protocol";

interface PendingRequest {
  code: number;
  timer: NodeJS.Timeout;
  resolve: (response: RemotingCommand) => void;
  reject: (err: Error) => void;
}

/**
 * Requests sent on one connection that wait for their response, keyed by opaque.
 * Responses may come back in any order (a long-polled pull is answered seconds later).
 */
export class PendingRequests {
  private readonly byOpaque = new Map<number, PendingRequest>();

  get size(): number {
    return this.byOpaque.size;
  }

  has(opaque: number): boolean {
    return this.byOpaque.has(opaque);
  }

  /** Registers a request; `onTimeout` builds the error it is failed with after timeoutMs. */
  add(
    opaque: number,
    code: number,
    timeoutMs: number,
    resolve: (response: RemotingCommand) => void,
    reject: (err: Error) => void,
    onTimeout: () => Error,
  ): void {
    const timer = setTimeout(() => {
      if (this.byOpaque.get(opaque)?.timer !== timer) return;
      this.byOpaque.delete(opaque);
      reject(onTimeout());
    }, timeoutMs);
    this.byOpaque.set(opaque, { code, timer, resolve, reject });
  }

  /** Completes the request the response answers; false when none waits (late or unknown). */
  complete(response: RemotingCommand): boolean {
    const pending = this.byOpaque.get(response.opaque);
    if (!pending) return false;
    this.byOpaque.delete(response.opaque);
    clearTimeout(pending.timer);
    pending.resolve(response);
    return true;
  }

  /** Fails one request (e.g. its frame could not be written). */
  fail(opaque: number, err: Error): void {
    const pending = this.byOpaque.get(opaque);
    if (!pending) return;
    this.byOpaque.delete(opaque);
    clearTimeout(pending.timer);
    pending.reject(err);
  }

  /** Fails every waiting request at once, e.g. when the connection closes. */
  failAll(makeError: (code: number) => Error): void {
    const all = [...this.byOpaque.values()];
    this.byOpaque.clear();
    for (const pending of all) {
      clearTimeout(pending.timer);
      pending.reject(makeError(pending.code));
    }
  }
}
