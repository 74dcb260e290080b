// The world of a transcript: a few RaftNodes over MemoryStorage and a message queue that only
// moves when a command says so. Every Ready and every delivered message is printed, so a
// transcript shows the protocol step by step (etcd-raft's InteractionEnv, written anew).

import { decodeConfigChange } from "../src/configChange.js";
import {
  type Entry,
  MemoryStorage,
  type Message,
  NONE,
  type RaftConfig,
  RaftNode,
  type Ready,
} from "../src/index.js";
import type { Command } from "./datadriven.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface EnvNode {
  raft: RaftNode;
  storage: MemoryStorage;
  config: Omit<RaftConfig, "storage" | "id">;
  /** What this node applied, one line per entry: the state machine of the transcripts. */
  applied: string[];
  /** async=true: Readies written (write-ready) and not yet fsynced (complete-ready), oldest first. */
  inflight: Ready[];
}

export function fmtEntry(e: Entry): string {
  if (e.type === "config") {
    const cc = decodeConfigChange(e.data);
    return `${e.term}/${e.index} config ${cc.op} ${cc.node}`;
  }
  if (e.type === "noop") return `${e.term}/${e.index} noop`;
  return `${e.term}/${e.index} "${dec.decode(e.data)}"`;
}

export function fmtMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case "app":
      s += ` prev=${m.logTerm}/${m.index} commit=${m.commit}`;
      if (m.entries.length > 0) s += ` entries=[${m.entries.map(fmtEntry).join(", ")}]`;
      break;
    case "appResp":
      s += m.reject ? ` reject index=${m.index} hint=${m.logTerm}/${m.rejectHint}` : ` index=${m.index}`;
      if (m.forgot) s += " forgot";
      break;
    case "vote":
    case "preVote":
      s += ` last=${m.logTerm}/${m.index}${m.transfer ? " transfer" : ""}`;
      break;
    case "voteResp":
    case "preVoteResp":
      s += m.reject ? " reject" : " grant";
      break;
    case "heartbeat":
      s += ` commit=${m.commit}`;
      break;
    case "snap": {
      const md = m.snapshot!.metadata;
      s += ` snapshot=${md.term}/${md.index} voters=${md.voters.join(",")}`;
      break;
    }
    default:
      break;
  }
  return s;
}

export class InteractionEnv {
  readonly nodes = new Map<string, EnvNode>();
  /** Messages in flight, in send order. */
  queue: Message[] = [];
  private readonly isolated = new Set<string>();

  handle(c: Command): string {
    switch (c.name) {
      case "add-nodes":
        return this.addNodes(c);
      case "campaign":
        this.node(c.args[0]).raft.campaign();
        return "";
      case "tick":
        return this.tick(c);
      case "propose":
        return this.propose(c);
      case "propose-conf":
        return this.proposeConf(c);
      case "transfer":
        this.node(c.args[0]).raft.transferLeadership(c.args[1]!);
        return "";
      case "process-ready":
        return c.args.map((id) => this.processReady(id)).join("\n");
      case "write-ready":
        return c.args.map((id) => this.writeReady(id)).join("\n");
      case "complete-ready":
        return c.args.map((id) => this.completeReady(id)).join("\n");
      case "deliver-msgs":
        return this.deliver(c.args, c.kv.get("drop") === "true");
      case "stabilize":
        return this.stabilize(c.args.length > 0 ? c.args : [...this.nodes.keys()]);
      case "isolate":
        this.isolated.add(c.args[0]!);
        this.queue = this.queue.filter((m) => !this.cut(m));
        return "";
      case "recover":
        this.isolated.clear();
        return "";
      case "raft-state":
        return this.raftState();
      case "raft-log":
        return this.raftLog(c.args[0]!);
      case "status":
        return this.status(c.args[0]!);
      case "compact":
        return this.compact(c.args[0]!, Number(c.args[1]));
      case "restart":
        return this.restart(c.args[0]!, c);
      case "recovered":
        this.node(c.args[0]).raft.recovered();
        return "";
      case "applied":
        return this.node(c.args[0]).applied.join("\n");
      default:
        throw new Error(`unknown command ${c.name}`);
    }
  }

  private node(id: string | undefined): EnvNode {
    const n = this.nodes.get(id ?? "");
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private addNodes(c: Command): string {
    const count = Number(c.args[0]);
    const start = this.nodes.size + 1;
    const ids = Array.from({ length: count }, (_, k) => String(start + k));
    const voters = c.kv.has("voters") ? c.kv.get("voters")!.split(",").filter(Boolean) : ids;
    const config: Omit<RaftConfig, "storage" | "id"> = {
      random: () => 0,
      electionTicks: Number(c.kv.get("election") ?? 10),
      heartbeatTicks: Number(c.kv.get("heartbeat") ?? 1),
      preVote: c.kv.get("prevote") !== "false",
      checkQuorum: c.kv.get("checkquorum") !== "false",
      maxInflightMessages: Number(c.kv.get("inflight") ?? 64),
      maxEntriesPerMessage: Number(c.kv.get("max-entries") ?? 256),
      ...(c.kv.has("preferred") ? { preferredLeaderId: c.kv.get("preferred")! } : {}),
      ...(c.kv.get("async") === "true" ? { asyncStorageWrites: true } : {}),
      ...(c.kv.get("lazy") === "true" ? { lazyCommitBroadcast: true } : {}),
    };
    for (const id of ids) {
      const storage = new MemoryStorage(voters);
      this.nodes.set(id, {
        raft: new RaftNode({ ...config, id, storage }),
        storage,
        config,
        applied: [],
        inflight: [],
      });
    }
    return "";
  }

  private tick(c: Command): string {
    const n = Number(c.args[1] ?? 1);
    for (let k = 0; k < n; k++) this.node(c.args[0]).raft.tick();
    return "";
  }

  private propose(c: Command): string {
    const [id, ...data] = c.args;
    try {
      const r = this.node(id).raft.propose(data.map((d) => enc.encode(d)));
      return `proposed ${r.term}/${r.firstIndex}..${r.lastIndex}`;
    } catch (e) {
      return `refused: ${(e as Error).name}: ${(e as Error).message}`;
    }
  }

  private proposeConf(c: Command): string {
    const [id, op, node] = c.args;
    try {
      const r = this.node(id).raft.proposeConfigChange({
        op: op === "add" ? "addVoter" : "removeVoter",
        node: node!,
      });
      return `proposed ${r.term}/${r.firstIndex}`;
    } catch (e) {
      return `refused: ${(e as Error).name}: ${(e as Error).message}`;
    }
  }

  /** Persist, "send" (enqueue), apply and advance one Ready, printing it. */
  processReady(id: string): string {
    const n = this.node(id);
    if (!n.raft.hasReady()) return `> ${id}: no Ready`;
    const rd = n.raft.ready();
    const out = [`> ${id} handling Ready`, ...fmtReady(rd).map((l) => `  ${l}`)];
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of [...rd.messages, ...rd.messagesAfterPersist]) {
      if (!this.cut(m)) this.queue.push(m); // an isolated node's messages vanish on the wire
    }
    if (rd.snapshot) n.applied = [`snapshot ${dec.decode(rd.snapshot.data)}`];
    for (const e of rd.committedEntries) n.applied.push(fmtEntry(e));
    n.raft.advance();
    return out.join("\n");
  }

  /** Asynchronous storage writes, first half: take a Ready, write it (not yet durable), send
   *  what may go before persistence; its answers wait for complete-ready. */
  private writeReady(id: string): string {
    const n = this.node(id);
    if (!n.raft.hasReady()) return `> ${id}: no Ready`;
    const rd = n.raft.ready();
    const out = [
      `> ${id} writing Ready (${n.inflight.length} in flight before it)`,
      ...fmtReady(rd).map((l) => `  ${l}`),
    ];
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) if (!this.cut(m)) this.queue.push(m);
    n.inflight.push(rd);
    return out.join("\n");
  }

  /** Second half, for the oldest Ready written: it is durable; answer, apply, advance. */
  private completeReady(id: string): string {
    const n = this.node(id);
    const rd = n.inflight.shift();
    if (!rd) return `> ${id}: no Ready in flight`;
    const out = [`> ${id} Ready durable`];
    for (const m of rd.messagesAfterPersist) {
      out.push(`  send: ${fmtMessage(m)}`);
      if (!this.cut(m)) this.queue.push(m);
    }
    if (rd.snapshot) n.applied = [`snapshot ${dec.decode(rd.snapshot.data)}`];
    for (const e of rd.committedEntries) n.applied.push(fmtEntry(e));
    n.raft.advance();
    out.push(`  commit=${n.raft.status().commit}`);
    return out.join("\n");
  }

  private deliver(ids: readonly string[], drop: boolean): string {
    const out: string[] = [];
    const keep: Message[] = [];
    const take = this.queue;
    this.queue = [];
    for (const m of take) {
      if (ids.length > 0 && !ids.includes(m.to)) {
        keep.push(m);
        continue;
      }
      if (drop) {
        out.push(`dropped: ${fmtMessage(m)}`);
        continue;
      }
      out.push(fmtMessage(m));
      this.node(m.to).raft.step(m);
    }
    this.queue = [...keep, ...this.queue];
    return out.join("\n");
  }

  private cut(m: Message): boolean {
    return this.isolated.has(m.from) || this.isolated.has(m.to);
  }

  private stabilize(ids: readonly string[]): string {
    const out: string[] = [];
    for (let round = 0; round < 100; round++) {
      let progressed = false;
      for (const id of ids) {
        if (this.node(id).raft.hasReady()) {
          out.push(this.processReady(id));
          progressed = true;
        }
      }
      for (const id of ids) {
        if (this.queue.some((m) => m.to === id)) {
          out.push(`> ${id} receiving messages`, ...indent(this.deliver([id], false)));
          progressed = true;
        }
      }
      if (!progressed) return out.join("\n");
    }
    throw new Error("stabilize did not settle in 100 rounds");
  }

  private raftState(): string {
    return [...this.nodes.values()]
      .map(({ raft }) => {
        const s = raft.status();
        const lead = s.leader === NONE ? "none" : s.leader;
        return `${s.id}: ${s.role} term=${s.term} leader=${lead} commit=${s.commit} last=${s.lastIndex} voters=${s.voters.join(",")}${s.amnesia ? " amnesia" : ""}`;
      })
      .join("\n");
  }

  private raftLog(id: string): string {
    const { raft } = this.node(id);
    const first = raft.log.firstIndex();
    const last = raft.log.lastIndex();
    if (last < first) return `empty log (first index ${first})`;
    return raft.log
      .slice(first, last + 1, Number.MAX_SAFE_INTEGER)
      .map(fmtEntry)
      .join("\n");
  }

  private status(id: string): string {
    const s = this.node(id).raft.status();
    const lines = [
      `${s.id} ${s.role} term=${s.term} commit=${s.commit} applied=${s.applied} first=${s.firstIndex} last=${s.lastIndex}`,
    ];
    for (const [peer, p] of Object.entries(s.progress)) {
      lines.push(`  ${peer}: ${p.state} match=${p.match} next=${p.next}${p.recentActive ? " active" : ""}`);
    }
    return lines.join("\n");
  }

  private compact(id: string, index: number): string {
    const n = this.node(id);
    n.storage.createSnapshot(index, n.raft.status().voters, enc.encode(`state@${index}`));
    n.storage.compact(index + 1);
    return `${id}: log starts at ${n.storage.firstIndex()}`;
  }

  /** Crash and restart from what was persisted (every Ready here is persisted in full).
   *  forget=N: the last N entries are lost (DLedger's Raft index losing its unsynced tail);
   *  amnesia=true: restart with RaftConfig.amnesia (what DLedgerNode does after such a loss);
   *  wipe=true: restart with empty storage (a replica whose data directory was deleted). */
  private restart(id: string, c: Command): string {
    const n = this.node(id);
    // wipe=true: its disk is gone (empty storage, no term or vote, same voters).
    if (c.kv.get("wipe") === "true") n.storage = new MemoryStorage(n.raft.voters());
    const applied = n.storage.snapshot().metadata.index;
    if (c.kv.has("forget")) {
      n.storage.dropLast(Number(c.kv.get("forget")));
      // The commit index is clamped to the log, as RaftLogIndex.open does.
      const hs = n.storage.initialState().hardState;
      n.storage.setHardState({ ...hs, commit: Math.min(hs.commit, n.storage.lastIndex()) });
    }
    const amnesia = c.kv.get("amnesia") === "true";
    n.raft = new RaftNode({ ...n.config, id, storage: n.storage, applied, ...(amnesia ? { amnesia } : {}) });
    n.applied = [];
    n.inflight = [];
    this.queue = this.queue.filter((m) => m.to !== id);
    return "";
  }
}

function indent(s: string): string[] {
  return s === "" ? [] : s.split("\n").map((l) => `  ${l}`);
}

export function fmtReady(rd: Ready): string[] {
  const out: string[] = [];
  if (rd.softState) {
    const lead = rd.softState.leader === NONE ? "none" : rd.softState.leader;
    out.push(`role=${rd.softState.role} term=${rd.softState.term} leader=${lead}`);
  }
  if (rd.hardState) {
    const h = rd.hardState;
    out.push(
      `HardState term=${h.term} vote=${h.vote || "none"} commit=${h.commit}${rd.mustSync ? " (sync)" : ""}`,
    );
  }
  if (rd.snapshot) {
    const md = rd.snapshot.metadata;
    out.push(`Snapshot ${md.term}/${md.index} voters=${md.voters.join(",")}`);
  }
  if (rd.entries.length > 0) out.push(`Entries: ${rd.entries.map(fmtEntry).join(", ")}`);
  if (rd.committedEntries.length > 0) out.push(`Apply: ${rd.committedEntries.map(fmtEntry).join(", ")}`);
  for (const m of rd.messages) out.push(`send: ${fmtMessage(m)}`);
  for (const m of rd.messagesAfterPersist) out.push(`send after persist: ${fmtMessage(m)}`);
  return out;
}
