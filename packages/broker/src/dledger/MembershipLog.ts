import fs from "node:fs";
import { join } from "node:path";
import {
  CompactedError,
  type ConfigChange,
  type ConfigState,
  decodeConfigChange,
  type Entry,
  type HardState,
  type NodeId,
  type RaftStorage,
  type Snapshot,
  votersAfter,
} from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { DLedgerPeer } from "./DLedgerPeers.js";
import type { RaftLogIndex } from "./RaftLogIndex.js";

const FILE = "membership.json";

/** What a config entry carries besides the core's change: addresses, as JSON in its context. */
export interface MembershipContext {
  /** The added voter's Raft address (host:port). */
  address?: string;
  /** Every voter's address once the change applies. */
  peers: Record<string, string>;
}

interface StoredConfigEntry {
  index: number;
  term: number;
  /** The entry's data (the core's encoding), base64. */
  data: string;
}

interface MembershipFile {
  v: 1;
  entries: StoredConfigEntry[];
  /** An installed snapshot's membership as of its index (SnapshotInstall.ts). */
  base?: MembershipBase;
}

/** The membership an installed snapshot brought: voters as of `index`, and whom config entries
 *  up to it removed (SnapshotMetadata.removedAt; absent in files of older versions). */
interface MembershipBase {
  index: number;
  voters: NodeId[];
  removedAt?: Record<NodeId, number>;
}

export function encodeMembershipContext(c: MembershipContext): Uint8Array {
  return Buffer.from(JSON.stringify(c), "utf8");
}

export function decodeMembershipContext(bytes: Uint8Array | undefined): MembershipContext | undefined {
  if (!bytes || bytes.byteLength === 0) return undefined;
  try {
    const c = JSON.parse(Buffer.from(bytes).toString("utf8")) as MembershipContext;
    if (c && typeof c === "object" && c.peers && typeof c.peers === "object") return c;
  } catch {
    // not ours: no addresses
  }
  return undefined;
}

/** "host:port" → a peer, or undefined when malformed. */
export function parsePeerAddress(id: string, addr: string): DLedgerPeer | undefined {
  const m = /^(.+):(\d{1,5})$/.exec(addr.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  return { id, host: m[1]!, port: Number(m[2]) };
}

/**
 * The Raft storage a DLedger replica hands its core: the commit log's index (RaftLogIndex)
 * plus the group's membership changes. The commit log holds message bytes only; a config
 * entry has no bytes there (like a no-op), so its data — the core's encoding of the change,
 * with the new voter's address and every voter's address — is kept here, in
 * `<root>/dledger/membership.json` (fsynced before the entry's index record is written).
 * Records are checked against the index at every read (same index, same term), so a config
 * entry that a new leader's log truncated simply stops counting.
 *
 * `dLegerPeers` in broker.conf is the group's initial membership; once a config entry exists
 * the log decides (every config entry names the whole voter set, see ConfigChange.voters).
 */
export class MembershipLog implements RaftStorage {
  private records: StoredConfigEntry[] = [];
  /** The membership an installed snapshot brought, as of its index. */
  private base: MembershipBase | undefined;
  /** Addresses learned from config entries (appended or proposed), by id; newest wins. */
  private readonly learned = new Map<string, DLedgerPeer>();
  private readonly path: string;

  constructor(
    readonly index: RaftLogIndex,
    dir: string,
    private readonly initial: readonly DLedgerPeer[],
    private readonly logger: Logger,
  ) {
    this.path = join(dir, FILE);
    this.load();
  }

  private load(): void {
    let file: MembershipFile | undefined;
    try {
      file = JSON.parse(fs.readFileSync(this.path, "utf8")) as MembershipFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        // Never guess a membership: a replica that cannot read it must not start.
        throw new Error(`cannot read ${this.path}: ${(err as Error).message}`);
      }
    }
    const b = file?.base;
    if (b && Number.isSafeInteger(b.index) && Array.isArray(b.voters)) {
      const removals = b.removedAt && typeof b.removedAt === "object" ? Object.entries(b.removedAt) : [];
      const ok = removals.every(([, at]) => Number.isSafeInteger(at));
      this.base = {
        index: b.index,
        voters: b.voters,
        ...(ok && removals.length > 0 ? { removedAt: Object.fromEntries(removals) } : {}),
      };
    }
    const kept: StoredConfigEntry[] = [];
    for (const r of file?.entries ?? []) {
      if (this.valid(r)) kept.push(r);
    }
    this.records = kept.sort((a, b) => a.index - b.index);
    for (const r of this.records) this.learn(decodeConfigChange(Buffer.from(r.data, "base64")));
  }

  /** A record counts only while the index holds a config entry of the same term there. */
  private valid(r: StoredConfigEntry): boolean {
    if (r.index <= this.index.logBase.index || r.index > this.index.lastIndex()) return false;
    if (this.index.term(r.index) !== r.term) return false;
    return this.index.entries(r.index, r.index + 1, 0)[0]?.type === "config";
  }

  // ---------------------------------------------------------------- membership

  /** Voters after every config entry in the log (the current membership as this log says). */
  currentVoters(): NodeId[] {
    return this.votersBefore(Number.POSITIVE_INFINITY);
  }

  /** Ids the config entries removed and none added back, each with the entry that removed it. */
  removedIds(): Readonly<Record<NodeId, number>> {
    return this.historyBefore(Number.POSITIVE_INFINITY).removedAt;
  }

  private votersBefore(index: number): NodeId[] {
    return this.historyBefore(index).voters;
  }

  /** The voters after the config entries below `index`, and who those entries removed (id →
   *  index of the entry that last removed it, unless a later one added it back). */
  private historyBefore(index: number): { voters: NodeId[]; removedAt: Record<NodeId, number> } {
    let voters = this.base ? [...this.base.voters].sort() : this.initial.map((p) => p.id).sort();
    const removedAt: Record<NodeId, number> = { ...this.base?.removedAt };
    for (const r of this.records) {
      if (r.index >= index) break;
      if (!this.valid(r)) continue;
      const next = votersAfter(voters, decodeConfigChange(Buffer.from(r.data, "base64")));
      for (const id of voters) if (!next.includes(id)) removedAt[id] = r.index;
      for (const id of next) delete removedAt[id];
      voters = next;
    }
    return { voters, removedAt };
  }

  /** Index of the newest config entry in the log (0: none, dLegerPeers is the membership). */
  lastConfigIndex(): number {
    for (let i = this.records.length - 1; i >= 0; i--)
      if (this.valid(this.records[i]!)) return this.records[i]!.index;
    return 0;
  }

  /** The address of a replica: learned from config entries, else from dLegerPeers. */
  peer(id: string): DLedgerPeer | undefined {
    return this.learned.get(id) ?? this.initial.find((p) => p.id === id);
  }

  /** Addresses a config entry (proposed here, or received) tells about. */
  learn(cc: ConfigChange): void {
    const ctx = decodeMembershipContext(cc.context);
    if (!ctx) return;
    for (const [id, addr] of Object.entries(ctx.peers)) {
      const p = parsePeerAddress(id, addr);
      if (p) this.learned.set(id, p);
    }
    if (cc.op === "addVoter" && ctx.address) {
      const p = parsePeerAddress(cc.node, ctx.address);
      if (p) this.learned.set(cc.node, p);
    }
  }

  /** An installed snapshot's membership (durable): the log's config entries count after it. */
  restoreBase(index: number, voters: readonly NodeId[], removedAt?: Readonly<Record<NodeId, number>>): void {
    this.base = { index, voters: [...voters], ...(removedAt ? { removedAt: { ...removedAt } } : {}) };
    this.records = this.records.filter((r) => r.index > index);
    this.writeFile();
  }

  /** Persists a config entry's data before its index record (called from the write path). */
  persist(e: Entry): void {
    const data = Buffer.from(e.data).toString("base64");
    this.records = this.records.filter((r) => r.index < e.index);
    this.records.push({ index: e.index, term: e.term, data });
    this.writeFile();
    this.learn(decodeConfigChange(e.data));
  }

  private writeFile(): void {
    const file: MembershipFile = { v: 1, entries: this.records, ...(this.base ? { base: this.base } : {}) };
    const tmp = `${this.path}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, `${JSON.stringify(file)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.path);
    const dfd = fs.openSync(join(this.path, ".."), "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }

  // ---------------------------------------------------------------- RaftStorage

  initialState(): { hardState: HardState; config: ConfigState } {
    const { hardState } = this.index.initialState();
    // Config entries at or below the commit index can never be truncated: they are the base.
    // The core re-reads the log from the first one above it (rare: a change was in flight at
    // the crash), so nothing is re-read from the commit log in the usual case.
    const firstUncommitted = this.records.find((r) => r.index > hardState.commit && this.valid(r));
    // The core is told who committed entries removed too, so that it can tell a replica that
    // was down during its removal (the core's removedPeer.ts).
    const config: ConfigState = firstUncommitted
      ? { ...this.historyBefore(firstUncommitted.index), index: firstUncommitted.index - 1 }
      : { ...this.historyBefore(Number.POSITIVE_INFINITY), index: this.index.lastIndex() };
    return { hardState, config };
  }

  firstIndex(): number {
    return this.index.firstIndex();
  }

  lastIndex(): number {
    return this.index.lastIndex();
  }

  term(i: number): number {
    return this.index.term(i);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    let out: Entry[];
    try {
      out = this.index.entries(lo, hi, maxBytes);
    } catch (err) {
      // Retention deleted the commit-log bytes a lagging (or new) replica needs.
      // Compacted (or retention got there since the core looked): the core sends a snapshot.
      if (err instanceof CompactedError) throw err;
      const first = this.index.firstIndex();
      if (lo < first) throw new CompactedError(lo, first);
      throw new Error(
        `a replica needs entries from index ${lo}, below what the leader's commit log still holds (${(err as Error).message})`,
      );
    }
    for (let k = 0; k < out.length; k++) {
      const e = out[k]!;
      if (e.type !== "config") continue;
      const r = this.records.find((x) => x.index === e.index && x.term === e.term);
      if (!r) throw new Error(`config entry ${e.index} (term ${e.term}) has no data in ${this.path}`);
      out[k] = { ...e, data: Buffer.from(r.data, "base64") };
    }
    return out;
  }

  snapshot(): Snapshot {
    const s = this.index.snapshot();
    const { voters, removedAt } = this.historyBefore(s.metadata.index + 1);
    const removals = Object.keys(removedAt).length > 0 ? { removedAt } : {};
    return { ...s, metadata: { ...s.metadata, voters, ...removals } };
  }

  /** Where the file lives (log lines). */
  get file(): string {
    return this.path;
  }

  /** Logs a clear line when broker.conf's dLegerPeers is not the membership the log holds. */
  /** Where the current membership comes from, for log lines: a config entry, else a snapshot. */
  private membershipSource(): string {
    const last = this.lastConfigIndex();
    if (last > 0) return `config entry ${last}`;
    return this.base ? `the snapshot installed at entry ${this.base.index}` : "dLegerPeers";
  }

  reportConfigDrift(confIds: readonly string[]): void {
    const now = this.currentVoters();
    const conf = [...confIds].sort();
    if (now.join(",") === conf.join(",")) return;
    this.logger.warn(
      `dledger: broker.conf dLegerPeers names ${conf.join(",")} but the group's membership is ${now.join(",")} (${this.membershipSource()}, ${this.path}); dLegerPeers is only the initial membership: using the one from the log`,
    );
  }
}
