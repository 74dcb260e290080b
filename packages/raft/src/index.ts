export {
  applyConfigChange,
  type ConfigChange,
  decodeConfigChange,
  encodeConfigChange,
  votersAfter,
} from "./configChange.js";
export {
  CompactedError,
  NotLeaderError,
  ProposalDroppedError,
  RaftError,
  RaftInvariantError,
  UnavailableError,
} from "./errors.js";
export { majority, quorumIndex } from "./progress.js";
export {
  type ProgressStatus,
  type ProposeResult,
  type RaftConfig,
  RaftNode,
  type RaftStatus,
} from "./raft.js";
export { seededRandom } from "./random.js";
export { MemoryStorage, type RaftStorage } from "./storage.js";
export * from "./types.js";
