import fs from "node:fs";
import { join } from "node:path";
import type { CommitGate } from "./Dispatcher.js";
import { recoverStore } from "./Recovery.js";
import { serviceNotAvailable } from "./StoreError.js";
import { writeFailureText } from "./StoreHealth.js";
import { acquireStoreLock } from "./StoreLock.js";
import type { StoreParts } from "./StoreParts.js";

/**
 * The store's life: open (directory lock, recovery), the background services (log progress,
 * consume-queue persistence, disk checks, retention passes), and the two ways to stop — a
 * clean shutdown or a halt that leaves the store as a killed process would.
 */
export class StoreLifecycle {
  /** Frees the directory for another open (set by open, called once stopped). */
  private releaseLock: () => void = () => {};
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private stopping: Promise<void> | undefined;

  constructor(private readonly p: StoreParts) {}

  private get abortPath(): string {
    return join(this.p.cfg.storePathRootDir, "abort");
  }

  /** Recovers after a crash (abort marker present) or trusts a clean stop, then starts the services. */
  async open(commitGate: CommitGate | undefined): Promise<void> {
    const { cfg, log, table, index, dispatcher, readFds, retention } = this.p;
    this.releaseLock = await acquireStoreLock(cfg.storePathRootDir, this.abortPath);
    // A replicated log opens behind its commit gate: recovery must not make visible what a
    // failover can still take back.
    if (commitGate) dispatcher.setCommitGate(commitGate);
    try {
      await recoverStore({
        cfg,
        log,
        table,
        index,
        dispatcher,
        abortPath: this.abortPath,
        checkpointPath: join(cfg.storePathRootDir, "checkpoint"),
      });
      await retention.refreshEarliestTime();
    } catch (err) {
      await log.close().catch(() => {});
      await readFds.closeAll();
      this.releaseLock();
      throw err;
    }
    this.startServices();
  }

  private startServices(): void {
    const { cfg, log, dispatcher, confirms, retention } = this.p;
    log.onProgress((err) => {
      if (err) this.onWriteFailure(err);
      else dispatcher.schedule();
      if (confirms.pending) confirms.settle(err);
    });
    log.startFlushTimer();
    this.every(cfg.flushIntervalConsumeQueue, () => dispatcher.persist());
    this.every(cfg.diskCheckInterval, () => retention.checkDisk());
    this.every(cfg.cleanResourceInterval, () => retention.deleteExpiredFiles());
    void retention.checkDisk().catch(() => {});
  }

  /** Runs `fn` every `ms`, never two at once, never after the store closed; stop awaits the last run. */
  private every(ms: number, fn: () => Promise<unknown>): void {
    let running = false;
    const t = setInterval(() => {
      if (running || this.p.health.closed) return;
      running = true;
      const p = fn()
        .catch((err: Error) => this.p.cfg.logger.error(`store background task failed: ${err.message}`))
        .finally(() => {
          running = false;
          this.background.delete(p);
        });
      this.background.add(p);
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private onWriteFailure(err: Error): void {
    const { health, waiters } = this.p;
    health.writeFailure = writeFailureText("commit log", err);
    waiters.rejectAll(serviceNotAvailable(health.writeFailure, err));
  }

  /** See MessageStore.halt. */
  halt(): Promise<void> {
    this.stopping ??= (async () => {
      const { health, confirms, waiters, dispatcher, log, readFds } = this.p;
      health.closed = true;
      confirms.settle(serviceNotAvailable("message store halted"));
      for (const t of this.timers) clearInterval(t);
      waiters.stop();
      await Promise.allSettled([...this.background]);
      await dispatcher.persistSettled();
      await log.halt();
      waiters.rejectAll(serviceNotAvailable("message store halted before the message was confirmed"));
      await readFds.closeAll();
      // The marker stays (the next open must recover) but no longer names a live user.
      await fs.promises.writeFile(this.abortPath, "halted").catch(() => {});
      this.releaseLock();
    })();
    return this.stopping;
  }

  /** See MessageStore.shutdown. */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    const { cfg, health, confirms, waiters, dispatcher, log, index, readFds } = this.p;
    health.closed = true;
    confirms.settle(serviceNotAvailable("message store shut down"));
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.background]);
    await log.flushAll();
    dispatcher.drainVisible();
    waiters.settleAll(
      dispatcher.dispatched,
      serviceNotAvailable("message store shut down before the message was stored"),
    );
    let clean = !log.writeFailure;
    try {
      await dispatcher.persistSettled();
      await dispatcher.persist();
      await index.close();
      if (clean) await dispatcher.writeCheckpoint(true);
    } catch (err) {
      clean = false;
      cfg.logger.error(
        `shutdown could not persist everything (${(err as Error).message}); next start recovers`,
      );
    }
    await log.close();
    await readFds.closeAll();
    if (clean) await fs.promises.rm(this.abortPath, { force: true });
    this.releaseLock();
  }
}
