import type { Message, NodeId } from "../types.js";
import type { SimRandom } from "./simRandom.js";

/** Which links work: every pair unless a partition says otherwise. */
export type PartitionKind = "none" | "isolate" | "majority-minority" | "bridge" | "ring";

export interface NetworkFaults {
  /** Probability a message is lost. */
  dropRate: number;
  /** Probability a message is delivered twice. */
  duplicateRate: number;
  /** Each message takes 0..maxDelaySteps steps (so messages overtake each other: reordering). */
  maxDelaySteps: number;
}

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly m: Message;
}

/**
 * A lossy, reordering, duplicating network with partitions, driven by the simulator's step
 * counter. Deterministic given its random source.
 */
export class SimNetwork {
  faults: NetworkFaults = { dropRate: 0, duplicateRate: 0, maxDelaySteps: 1 };
  partition: PartitionKind = "none";
  /** For partitions: the group id of each node; bridge/ring use `links` instead. */
  private links: Set<string> | undefined;
  private inFlight: InFlight[] = [];
  private seq = 0;
  sent = 0;
  dropped = 0;

  constructor(
    private readonly ids: readonly NodeId[],
    private readonly rnd: SimRandom,
  ) {}

  connected(a: NodeId, b: NodeId): boolean {
    return this.links === undefined || this.links.has(`${a}|${b}`);
  }

  send(m: Message, now: number): void {
    this.sent++;
    if (!this.connected(m.from, m.to) || this.rnd.chance(this.faults.dropRate)) {
      this.dropped++;
      return;
    }
    const copies = this.rnd.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      this.inFlight.push({ at: now + this.rnd.int(this.faults.maxDelaySteps + 1), seq: this.seq++, m });
    }
  }

  /** Messages due at `now`, in a random order among equal delivery times. A partition that
   *  started while a message was in flight cuts it too. */
  due(now: number): Message[] {
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.inFlight) (f.at <= now ? ready : rest).push(f);
    this.inFlight = rest;
    ready.sort((x, y) => x.at - y.at || x.seq - y.seq);
    return ready.filter((f) => this.connected(f.m.from, f.m.to)).map((f) => f.m);
  }

  /** Hold a message until `at` (its receiver is paused). */
  requeue(m: Message, at: number): void {
    this.inFlight.push({ at, seq: this.seq++, m });
  }

  /** Messages addressed to a node that just crashed vanish with its socket buffers. */
  dropTo(id: NodeId): void {
    this.inFlight = this.inFlight.filter((f) => f.m.to !== id);
  }

  heal(): void {
    this.partition = "none";
    this.links = undefined;
  }

  /** Cut one node off from all others, both directions (what the fault suite's proxies do). */
  isolate(id: NodeId): void {
    const links = new Set<string>();
    for (const a of this.ids)
      for (const b of this.ids) if ((a !== id && b !== id) || a === b) links.add(`${a}|${b}`);
    this.partition = "isolate";
    this.links = links;
  }

  /** Cut the network into a random partition of the given kind. Returns a description. */
  split(kind: Exclude<PartitionKind, "none">): string {
    const ids = this.rnd.shuffle([...this.ids]);
    const n = ids.length;
    const links = new Set<string>();
    const link = (a: NodeId, b: NodeId) => {
      links.add(`${a}|${b}`);
      links.add(`${b}|${a}`);
    };
    let desc: string;
    if (kind === "isolate" || kind === "majority-minority") {
      const minority = kind === "isolate" ? 1 : Math.floor((n - 1) / 2);
      const a = ids.slice(0, minority);
      const b = ids.slice(minority);
      for (const g of [a, b]) for (const x of g) for (const y of g) link(x, y);
      desc = `${kind} [${a.join(",")}] | [${b.join(",")}]`;
    } else if (kind === "bridge") {
      // Two halves that cannot talk, and one node that talks to both.
      const bridge = ids[0]!;
      const half = Math.floor((n - 1) / 2);
      const a = ids.slice(1, 1 + half);
      const b = ids.slice(1 + half);
      for (const g of [a, b]) for (const x of g) for (const y of g) link(x, y);
      for (const x of ids) link(bridge, x);
      desc = `bridge ${bridge} between [${a.join(",")}] and [${b.join(",")}]`;
    } else {
      // Each node hears only its two neighbours: every node sees a majority of 5 (itself + 2)
      // but no two majorities coincide.
      for (let i = 0; i < n; i++) link(ids[i]!, ids[(i + 1) % n]!);
      for (const x of ids) link(x, x);
      desc = `ring ${ids.join("-")}`;
    }
    this.partition = kind;
    this.links = links;
    return desc;
  }
}
