export { CHANNEL_SOURCES_KEY } from "./channel-deltas.js";
export {
  DURABLE_LEDGER,
  DURABLE_LEDGER_KEY,
  DurableCheckpointer,
  type DurableCheckpointerOptions,
  ledgerOfCheckpointer,
} from "./durable-checkpointer.js";
export { type DurableNodeOptions, durableNode } from "./durable-node.js";
export { type DurableStepOptions, durableStep } from "./durable-step.js";
export {
  CheckpointConflictError,
  CheckpointValueMissingError,
  isCheckpointConflictError,
  isCheckpointValueMissingError,
  isThreadBusyError,
  LangGraphErrorCode,
  ThreadBusyError,
} from "./errors.js";
export {
  DURABLE_STEP_TOOL,
  type DurableStepIdentity,
  durableStepKey,
  threadJournalKeyPrefix,
} from "./journal-keys.js";
export {
  type RecoverThreadsOptions,
  type RecoveryReport,
  recoverThreads,
  type ThreadRecovery,
} from "./recovery.js";
export { THREAD_LEASE_TOOL, type ThreadLeaseOptions, withThreadLease } from "./thread-lease.js";
