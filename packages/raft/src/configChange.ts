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
}

const OPS = { addVoter: 1, removeVoter: 2 } as const;

/** Wire form inside a "config" entry: one op byte, then the node id in UTF-8. */
export function encodeConfigChange(cc: ConfigChange): Uint8Array {
  const id = new TextEncoder().encode(cc.node);
  const out = new Uint8Array(1 + id.length);
  out[0] = OPS[cc.op];
  out.set(id, 1);
  return out;
}

export function decodeConfigChange(data: Uint8Array): ConfigChange {
  const op = data[0] === 1 ? "addVoter" : data[0] === 2 ? "removeVoter" : undefined;
  const node = new TextDecoder().decode(data.subarray(1));
  if (op === undefined || node.length === 0) throw new RaftError("malformed config change entry", false);
  return { op, node };
}

export function applyConfigChange(voters: readonly NodeId[], cc: ConfigChange): NodeId[] {
  if (cc.op === "addVoter") return voters.includes(cc.node) ? [...voters] : [...voters, cc.node].sort();
  return voters.filter((v) => v !== cc.node);
}
