/**
 * Scheduling for coalescing on hot paths (no I/O here). Both functions use a resolved
 * promise's then(), not queueMicrotask: that one builds an AsyncResource per call, a
 * measurable cost when every message is its own request (one send in flight).
 */
const RESOLVED = Promise.resolve();

/** Runs `fn` in a microtask: after the current synchronous run (e.g. one socket chunk's requests). */
export function afterSyncRun(fn: () => void): void {
  RESOLVED.then(fn);
}

/**
 * Runs `fn` at the end of the current callback: a nextTick queued from a microtask runs only
 * once the whole microtask queue has drained, so everything produced while handling this
 * callback — synchronously, in promise chains or in nextTicks — is there. Not setImmediate:
 * that waits for another event-loop phase, delaying every answer when one request is in
 * flight behind whatever else the loop has to do.
 */
export function atEndOfTurn(fn: () => void): void {
  RESOLVED.then(() => process.nextTick(fn));
}
