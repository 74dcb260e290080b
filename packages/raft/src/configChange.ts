import { RaftError } from "./errors.js";
import type { NodeId } from "./types.js";

/**
 * A single-server membership change (Raft thesis §4.1): add or remove one voter. Any two
 * majorities of the old and new configuration overlap, so no joint consensus is needed as long
 * as only one change is pending at a time and the leader has committed an entry of its term.
 */
export interface ConfigChange {
  readonly op: "addVoter" | "removeVoter";
  readonly node: NodeId;
  /** Opaque to the core: the application's data about the change (e.g. the new voter's
   *  network address), carried in the config entry to every replica. */
  readonly context?: Uint8Array;
  /**
   * The voters once the change applies. proposeConfigChange() fills it in, so every config
   * entry names the whole configuration: a replica that joins with an empty log and no idea
   * of the group's initial configuration ends up with the right voters from the first config
   * entry it receives (replaying deltas over a wrong starting set would not).
   */
  readonly voters?: readonly NodeId[];
}

const OPS = { addVoter: 1, removeVoter: 2 } as const;
/** Set on the op byte: the entry carries the resulting voters and a context (format 2). */
const FULL = 0x80;

/**
 * Wire form inside a "config" entry. Format 1: one op byte, then the node id in UTF-8.
 * Format 2 (op byte | 0x80): u16 id length, id, u16 voter count, each voter as u16 length +
 * UTF-8, then the context bytes to the end.
 */
export function encodeConfigChange(cc: ConfigChange): Uint8Array {
  const enc = new TextEncoder();
  const id = enc.encode(cc.node);
  if (cc.voters === undefined && cc.context === undefined) {
    const out = new Uint8Array(1 + id.length);
    out[0] = OPS[cc.op];
    out.set(id, 1);
    return out;
  }
  const voters = (cc.voters ?? []).map((v) => enc.encode(v));
  const ctx = cc.context ?? new Uint8Array(0);
  let len = 1 + 2 + id.length + 2 + ctx.length;
  for (const v of voters) len += 2 + v.length;
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  out[0] = OPS[cc.op] | FULL;
  dv.setUint16(1, id.length);
  out.set(id, 3);
  let p = 3 + id.length;
  dv.setUint16(p, voters.length);
  p += 2;
  for (const v of voters) {
    dv.setUint16(p, v.length);
    out.set(v, p + 2);
    p += 2 + v.length;
  }
  out.set(ctx, p);
  return out;
}

export function decodeConfigChange(data: Uint8Array): ConfigChange {
  const b0 = data[0] ?? 0;
  const code = b0 & ~FULL;
  const op = code === 1 ? "addVoter" : code === 2 ? "removeVoter" : undefined;
  if (op === undefined) throw new RaftError("malformed config change entry", false);
  const dec = new TextDecoder();
  if ((b0 & FULL) === 0) {
    const node = dec.decode(data.subarray(1));
    if (node.length === 0) throw new RaftError("malformed config change entry", false);
    return { op, node };
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (p: number, n: number) => {
    if (p + n > data.length) throw new RaftError("malformed config change entry (truncated)", false);
  };
  need(1, 2);
  const idLen = dv.getUint16(1);
  need(3, idLen + 2);
  const node = dec.decode(data.subarray(3, 3 + idLen));
  let p = 3 + idLen;
  const n = dv.getUint16(p);
  p += 2;
  const voters: NodeId[] = [];
  for (let i = 0; i < n; i++) {
    need(p, 2);
    const l = dv.getUint16(p);
    need(p + 2, l);
    voters.push(dec.decode(data.subarray(p + 2, p + 2 + l)));
    p += 2 + l;
  }
  if (node.length === 0) throw new RaftError("malformed config change entry", false);
  return { op, node, voters, context: data.slice(p) };
}

export function applyConfigChange(voters: readonly NodeId[], cc: ConfigChange): NodeId[] {
  if (cc.op === "addVoter") return voters.includes(cc.node) ? [...voters] : [...voters, cc.node].sort();
  return voters.filter((v) => v !== cc.node);
}

/** The voters a config entry leaves: the whole set it names, else the delta over `voters`. */
export function votersAfter(voters: readonly NodeId[], cc: ConfigChange): NodeId[] {
  return cc.voters ? [...cc.voters].sort() : applyConfigChange(voters, cc);
}
