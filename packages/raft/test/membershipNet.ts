// A small deterministic network of RaftNodes for membership tests: seeded per-node randomness,
// messages delivered in rounds until quiet, nodes taken down and brought back on their storage.
import { MemoryStorage, type Message, RaftNode, type Ready } from "../src/index.js";

export class Net {
  readonly nodes = new Map<string, { raft: RaftNode; storage: MemoryStorage }>();
  readonly down = new Set<string>();
  /** Every message sent, in order (to count a node's campaigns). */
  readonly sent: Message[] = [];
  /** Ready.removed as each node reported it. */
  readonly removedReports: { id: string; removed: NonNullable<Ready["removed"]> }[] = [];
  private queue: Message[] = [];

  add(id: string, initialVoters: string[]): RaftNode {
    return this.start(id, new MemoryStorage(initialVoters));
  }

  /** A process restart: a new RaftNode on the node's storage (what it persisted), back up. */
  restart(id: string): RaftNode {
    this.down.delete(id);
    return this.start(id, this.nodes.get(id)!.storage);
  }

  private start(id: string, storage: MemoryStorage): RaftNode {
    let r = id.charCodeAt(1) * 0.13;
    const raft = new RaftNode({
      id,
      storage,
      electionTicks: 10,
      random: () => {
        r = (r + 0.37) % 1;
        return r;
      },
    });
    this.nodes.set(id, { raft, storage });
    return raft;
  }

  /** Runs Readies and delivers messages until quiet (bounded). */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const [id, n] of this.nodes) {
        if (this.down.has(id) || !n.raft.hasReady()) continue;
        busy = true;
        const rd = n.raft.ready();
        if (rd.entries.length > 0) n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        this.queue.push(...rd.messages, ...rd.messagesAfterPersist);
        this.sent.push(...rd.messages, ...rd.messagesAfterPersist);
        if (rd.removed) this.removedReports.push({ id, removed: rd.removed });
        n.raft.advance();
      }
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        if (this.down.has(m.to)) continue;
        this.nodes.get(m.to)?.raft.step(m);
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error("did not settle in 1000 rounds");
  }

  tick(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const [id, n] of this.nodes) if (!this.down.has(id)) n.raft.tick();
      this.settle();
    }
  }
}
