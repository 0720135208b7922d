export { type CanonicalizeOptions, canonicalize, DEFAULT_MAX_PAYLOAD_BYTES } from "./canonical.js";
export { type EffectResult, isEffectResult, withEffect } from "./effect-result.js";
export {
  AES_GCM_ALGORITHM,
  AES_GCM_FIELD_BOUND_VERSION,
  type AesGcmKeyring,
  aesGcmCodec,
  generateKey,
} from "./encryption.js";
export {
  type Classifier,
  classifyError,
  type ErrorClassification,
  inDoubt,
  isControlFlowSignal,
  type Outcome,
  parseRetryAfter,
  permanent,
  transient,
} from "./error-classification.js";
export * from "./errors.js";
export {
  EventBus,
  type EventListener,
  EventType,
  type JsonlSink,
  jsonlSink,
  type LedgerEvent,
  type LedgerEventInput,
} from "./events.js";
export { fingerprint, hmacSha256Hex, sha256Hex } from "./fingerprint.js";
export {
  deriveKey,
  downstreamIdempotencyKey,
  type KeyNamespace,
  KeySource,
  MAX_KEY_LENGTH,
  namespacedKey,
  TOOL_SCOPE_PREFIX,
  validateKey,
} from "./keys.js";
export { LeaseKeeper } from "./lease-keeper.js";
export { Ledger, type LedgerOptions, type Resolution, type ResolveOptions } from "./ledger.js";
export { MemoryLedgerStore } from "./memory-store.js";
export type { ExecutionResult, OperationContext, OperationSpec, Reconciliation } from "./operation.js";
export { positiveInteger } from "./options.js";
export {
  Effect,
  isExpired,
  isInFlight,
  isLeaseExpired,
  isTerminal,
  type OperationRecord,
  OperationState,
  type StoredError,
} from "./record.js";
export { codecField, codeEvent, codeRecord, type RecordCodec } from "./record-codec.js";
export { type ReconcileHook, type RecoveredOperation, reconcileOperation } from "./recovery.js";
export { type RedactionOptions, Redactor } from "./redaction.js";
export {
  defaultRetryPolicy,
  type Jitter,
  type RetryDecision,
  RetryPolicy,
  type RetryPolicyOptions,
  sleep,
} from "./retry-policy.js";
export { assertPath, assertTransition, canTransition, TRANSITIONS } from "./state-machine.js";
export type {
  ClaimRequest,
  ClaimResult,
  Fence,
  LedgerStore,
  ListInDoubtOptions,
  ReadEventsOptions,
  RecordPatch,
  ReleaseRequest,
  RenewLeaseRequest,
  TransitionRequest,
} from "./store.js";
export {
  applyTransition,
  assertFence,
  assertKeyPrefix,
  decideClaim,
  isInDoubtCandidate,
  newRecord,
} from "./store-rules.js";
export { decodeValue, encodeValue, type JsonValue } from "./value-codec.js";
