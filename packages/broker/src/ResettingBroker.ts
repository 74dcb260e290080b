import type { Logger } from "@tidemq/remoting";
import type { BrokerController } from "./BrokerController.js";
import { DLEDGER_FATAL_EXIT_CODE } from "./dledger/DLedgerReplication.js";
import type { BehindLeaderError } from "./dledger/SnapshotInstall.js";
import { cannotMoveAside, moveStoreAside } from "./dledger/StoreReset.js";

/**
 * Runs a broker and, in DLedger mode, resets its store when its log fell behind the leader's
 * retention (BehindLeaderError: the leader's snapshot covers everything it committed): the
 * broker stops (no reads from the old store, no votes), the store is moved aside
 * (StoreReset.ts), and a new broker starts in the same process on the empty store — it
 * installs the leader's snapshot and catches up as a new replica does. No operator step.
 * `create` makes each broker (the config read again); `started` runs after each start (a
 * listenPort of 0 gives the restarted broker a new port).
 */
export class ResettingBroker {
  private current: BrokerController | undefined;
  private resetting: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly create: () => Promise<BrokerController>,
    private readonly started: (broker: BrokerController) => void,
    private readonly logger: Logger,
  ) {}

  /** The broker running now. */
  get broker(): BrokerController {
    if (!this.current) throw new Error("the broker is not started");
    return this.current;
  }

  async start(): Promise<void> {
    const broker = await this.create();
    await broker.start();
    this.current = broker;
    const node = broker.dledgerReplication?.node;
    if (node && cannotMoveAside(broker.config) === undefined) {
      node.onBehindLeader = (err) => {
        this.resetting ??= this.reset(broker, err);
      };
    }
    this.started(broker);
  }

  private async reset(broker: BrokerController, err: BehindLeaderError): Promise<void> {
    const { config } = broker;
    const { snapshot: s, replica: r } = err;
    try {
      await broker.shutdown();
      if (this.stopping) return;
      const aside = await moveStoreAside(config, r.logEnd, err.message, this.logger);
      this.logger.warn(
        `dledger: replica ${config.dLegerSelfId} of ${config.brokerName} fell behind the leader's retention (its log ends at ${r.logEnd}, entry ${r.lastIndex}, committed ${r.commit}; the leader's log begins after entry ${s.index} at ${s.end}): its store was moved aside to ${aside} (kept, not deleted) and it restarts empty to install the leader's snapshot, which covers every entry it committed`,
      );
      this.current = undefined;
      this.resetting = undefined;
      await this.start();
    } catch (e) {
      this.logger.error(
        `FATAL: DLedger replica ${config.dLegerSelfId} of ${config.brokerName} could not reset its store (${(e as Error).message}); exiting with code ${DLEDGER_FATAL_EXIT_CODE} (a restart completes the reset)`,
      );
      process.exit(DLEDGER_FATAL_EXIT_CODE);
    }
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    await this.resetting;
    await this.current?.shutdown();
  }
}
