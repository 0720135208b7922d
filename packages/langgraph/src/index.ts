export {
  DURABLE_LEDGER,
  DURABLE_LEDGER_KEY,
  DurableCheckpointer,
  type DurableCheckpointerOptions,
  ledgerOfCheckpointer,
} from "./durable-checkpointer.js";
export {
  DURABLE_STEP_TOOL,
  type DurableStepIdentity,
  type DurableStepOptions,
  durableStep,
  durableStepKey,
} from "./durable-step.js";
export { CheckpointConflictError, isCheckpointConflictError, LangGraphErrorCode } from "./errors.js";
