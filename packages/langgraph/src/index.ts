export {
  DURABLE_LEDGER,
  DURABLE_LEDGER_KEY,
  DurableCheckpointer,
  type DurableCheckpointerOptions,
  ledgerOfCheckpointer,
} from "./durable-checkpointer.js";
export { type DurableStepOptions, durableStep } from "./durable-step.js";
export { CheckpointConflictError, isCheckpointConflictError, LangGraphErrorCode } from "./errors.js";
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
