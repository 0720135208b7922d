export { APPROVAL_TOOL, approvalIdentity } from "./approval.js";
export {
  type DurableStructuredTool,
  DurableTool,
  type DurableToolDefinition,
  type DurableToolOptions,
  durableTool,
  type Plan,
  type SideEffect,
} from "./durable-tool.js";
export { type EffectEnvelope, envelopeContent, errorEnvelope, successEnvelope } from "./envelope.js";
export {
  ApprovalAlreadyUsedError,
  isApprovalAlreadyUsedError,
  isUnsupportedToolOutputError,
  LangChainErrorCode,
  UnsupportedToolOutputError,
} from "./errors.js";
export {
  type Approval,
  approve,
  DURABLE_CONFIG_KEY,
  type DurableRunOptions,
  dryRunConfig,
  durableRunOptions,
  threadIdOf,
  withDurableOptions,
} from "./run-config.js";
export { IDEMPOTENCY_KEY_ARG, splitIdempotencyKey, withIdempotencyKeyArg } from "./schema.js";
