// The deterministic simulator: importable by tests and by bench/raft-sim.mjs.
export { entryKey, InvariantViolation, SafetyChecker } from "./checker.js";
export { SimDisk } from "./disk.js";
export { type FailoverResult, measureFailover } from "./failover.js";
export { type NetworkFaults, type PartitionKind, SimNetwork } from "./network.js";
export { SimReplica } from "./replica.js";
export { SimRandom } from "./simRandom.js";
export { runSimulation, SimFailure, type SimOptions, type SimResult } from "./simulation.js";
