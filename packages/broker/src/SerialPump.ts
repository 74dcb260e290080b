/**
 * Reads a log-fed source in batches, one run at a time: `kick()` starts a run, or — while one
 * is going — makes it go round once more, so records that arrive during a run are never left
 * unread and two runs never interleave. Used by the readers that follow a system topic (the
 * timer topic, DLedger metadata records).
 */
export class SerialPump {
  private running: Promise<void> | undefined;
  private again = false;

  /**
   * @param batch reads one batch; true when there may be more.
   * @param stopped the owner has stopped: no new run, the current one ends after its batch.
   * @param settled after each run, with its error if a batch threw.
   */
  constructor(
    private readonly batch: () => Promise<boolean>,
    private readonly stopped: () => boolean,
    private readonly settled: (err: Error | undefined) => void,
  ) {}

  /** The current run (never rejects), if one is going. */
  get busy(): Promise<void> | undefined {
    return this.running;
  }

  kick(): void {
    if (this.stopped()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        while (!this.stopped() && (await this.batch()));
      } while (this.again && !this.stopped());
    })().then(
      () => this.finish(undefined),
      (err: Error) => this.finish(err),
    );
  }

  private finish(err: Error | undefined): void {
    this.running = undefined;
    this.settled(err);
  }
}
