import { join } from "node:path";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import { readConfigJson, writeFileAtomic } from "../ConfigFile.js";
import { REPLICATED_FLOOR_GUARD, replicaGuardFloor } from "../dledger/RetentionFloor.js";

const FILE = "retentionFloor.json";

/**
 * Classic master/slave: the master's retention floor (the lowest commit-log offset its delay,
 * timer and transaction guards still need; see dledger/RetentionFloor.ts) as a slave learns
 * it from the master's runtime info (`retentionFloor`, asked with every metadata sync). The
 * slave's retention deletes nothing at or above it, so a slave promoted to master still
 * holds every parked record. Persisted in config/retentionFloor.json; while none was ever
 * learned (a new slave, a master that does not report one) the slave keeps everything.
 */
export class SlaveRetentionFloor {
  private floor: number | undefined;
  private readonly file: string;
  private warnedMissing = false;

  constructor(
    private readonly store: MessageStore,
    private readonly logger: Logger,
    configDir: string,
  ) {
    this.file = join(configDir, FILE);
  }

  /** Loads the persisted floor, then holds the store's retention to it (replacing the placeholder). */
  async load(): Promise<void> {
    const saved = await readConfigJson<{ floor?: number }>(this.file);
    if (saved && Number.isSafeInteger(saved.floor) && saved.floor! >= 0) this.floor = saved.floor;
    this.store.addRetentionGuard(REPLICATED_FLOOR_GUARD, () => replicaGuardFloor(this.floor));
  }

  get value(): number | undefined {
    return this.floor;
  }

  /** What the master's runtime info said (`undefined`: it reports none). */
  async learn(reported: string | undefined, master: string): Promise<void> {
    if (reported === undefined || reported === "") {
      if (!this.warnedMissing)
        this.logger.warn(
          `master ${master} reports no retentionFloor (not started yet, or an older broker): this slave's retention keeps ` +
            (this.floor === undefined ? "every segment" : `the commit log from ${this.floor}`),
        );
      this.warnedMissing = true;
      return;
    }
    this.warnedMissing = false;
    const n = Number(reported);
    if (!Number.isSafeInteger(n) || n < 0 || n === this.floor) return;
    await writeFileAtomic(this.file, `${JSON.stringify({ floor: n })}\n`);
    this.floor = n;
  }
}
