import type { OperationRecord } from "./record.js";

/** Stable machine-readable codes. A code never changes meaning once released. */
export const ErrorCode = {
  INVALID_PAYLOAD: "INVALID_PAYLOAD",
  INVALID_KEY: "INVALID_KEY",
  IDEMPOTENCY_CONFLICT: "IDEMPOTENCY_CONFLICT",
  OPERATION_IN_PROGRESS: "OPERATION_IN_PROGRESS",
  OPERATION_IN_DOUBT: "OPERATION_IN_DOUBT",
  OPERATION_FAILED: "OPERATION_FAILED",
  ILLEGAL_TRANSITION: "ILLEGAL_TRANSITION",
  STALE_OWNER: "STALE_OWNER",
  RECORD_NOT_FOUND: "RECORD_NOT_FOUND",
  LEDGER_UNAVAILABLE: "LEDGER_UNAVAILABLE",
  RETRY_EXHAUSTED: "RETRY_EXHAUSTED",
  DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
  ABORTED: "ABORTED",
  APPROVAL_REQUIRED: "APPROVAL_REQUIRED",
  INVALID_CONFIGURATION: "INVALID_CONFIGURATION",
  RECORD_CODEC: "RECORD_CODEC",
  CONFIRMATION_FAILED: "CONFIRMATION_FAILED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = Symbol.for("durable-tools.error");

/**
 * Base of every error thrown by durable-tools. `code` is stable; `retryable` tells an agent (or a
 * retry loop) whether trying the same call again can succeed.
 */
export class DurableToolsError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The arguments (or a result) cannot be canonicalised: `path` points at the offending value. */
export class InvalidPayloadError extends DurableToolsError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string, hint: string) {
    super(ErrorCode.INVALID_PAYLOAD, `Invalid payload at ${path}: ${reason}. ${hint}`);
    this.path = path;
    this.reason = reason;
  }
}

/** An idempotency key is empty, too long or holds characters outside printable ASCII. */
export class InvalidKeyError extends DurableToolsError {
  constructor(message: string) {
    super(ErrorCode.INVALID_KEY, message);
  }
}

/** The key was already used with different arguments. Nothing was executed. */
export class IdempotencyConflictError extends DurableToolsError {
  readonly key: string;
  readonly storedFingerprint: string;
  readonly fingerprint: string;
  constructor(key: string, storedFingerprint: string, fingerprint: string) {
    super(
      ErrorCode.IDEMPOTENCY_CONFLICT,
      `Idempotency key "${key}" was already used with different arguments (stored fingerprint ${storedFingerprint.slice(0, 19)}…, this call ${fingerprint.slice(0, 19)}…). Nothing was executed: use a new key for a different operation, or repeat the original arguments.`,
    );
    this.key = key;
    this.storedFingerprint = storedFingerprint;
    this.fingerprint = fingerprint;
  }
}

/** Another worker holds a live lease on this key and did not finish within the wait budget. */
export class OperationInProgressError extends DurableToolsError {
  readonly key: string;
  readonly record: OperationRecord;
  constructor(record: OperationRecord, waitedMs: number) {
    super(
      ErrorCode.OPERATION_IN_PROGRESS,
      `Operation "${record.key}" is in progress in another worker (state ${record.state}); waited ${waitedMs} ms without an outcome. Retry later with the same key: it will return the first call's result.`,
      { retryable: true },
    );
    this.key = record.key;
    this.record = record;
  }
}

/**
 * The downstream system may or may not have applied the operation, and nothing could tell which.
 * It is never re-submitted blindly; resolve it with a reconcile hook or `ledger.resolve()`.
 */
export class OperationInDoubtError extends DurableToolsError {
  readonly key: string;
  readonly record: OperationRecord;
  constructor(record: OperationRecord, detail: string, cause?: unknown) {
    super(
      ErrorCode.OPERATION_IN_DOUBT,
      `Operation "${record.key}" is in doubt: ${detail}. It is not submitted again blindly: the downstream may already have applied it. Add a reconcile hook, declare that the downstream deduplicates on the key, or resolve it with ledger.resolve().`,
      { cause },
    );
    this.key = record.key;
    this.record = record;
  }
}

/** The error a permanently failed operation was stored with, replayed to every later caller. */
export class OperationFailedError extends DurableToolsError {
  readonly key: string;
  readonly replayed: boolean;
  readonly originalName: string;
  readonly originalCode: string | undefined;
  constructor(
    key: string,
    stored: { name: string; message: string; code?: string; retryable: boolean },
    replayed: boolean,
    cause?: unknown,
  ) {
    super(ErrorCode.OPERATION_FAILED, stored.message, { cause, retryable: stored.retryable });
    this.key = key;
    this.replayed = replayed;
    this.originalName = stored.name;
    this.originalCode = stored.code;
  }
}

export class IllegalTransitionError extends DurableToolsError {
  constructor(from: string, to: string) {
    super(ErrorCode.ILLEGAL_TRANSITION, `Illegal operation state transition ${from} -> ${to}.`);
  }
}

/** A write was refused because another owner (with a higher fencing token) took the operation over. */
export class StaleOwnerError extends DurableToolsError {
  readonly key: string;
  constructor(key: string, detail: string) {
    super(
      ErrorCode.STALE_OWNER,
      `Write to "${key}" refused: ${detail}. Another worker took the operation over.`,
    );
    this.key = key;
  }
}

export class RecordNotFoundError extends DurableToolsError {
  constructor(key: string) {
    super(ErrorCode.RECORD_NOT_FOUND, `No operation record for key "${key}".`);
  }
}

/** The ledger cannot be reached. Fail closed: no side effect ran because of this call. */
export class LedgerUnavailableError extends DurableToolsError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.LEDGER_UNAVAILABLE, message, { cause, retryable: true });
  }
}

export class RetryExhaustedError extends DurableToolsError {
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(ErrorCode.RETRY_EXHAUSTED, `Gave up after ${attempts} attempts: ${messageOf(cause)}`, {
      cause,
      retryable: true,
    });
    this.attempts = attempts;
  }
}

export class DeadlineExceededError extends DurableToolsError {
  constructor(deadlineMs: number, cause?: unknown) {
    super(
      ErrorCode.DEADLINE_EXCEEDED,
      `Retry deadline of ${deadlineMs} ms exceeded${cause === undefined ? "" : `: ${messageOf(cause)}`}`,
      { cause, retryable: true },
    );
  }
}

export class AbortedError extends DurableToolsError {
  constructor(reason?: unknown) {
    super(ErrorCode.ABORTED, `Aborted${reason === undefined ? "" : `: ${messageOf(reason)}`}`, {
      cause: reason,
    });
  }
}

/** A destructive tool was called without an approval bound to these exact arguments. */
export class ApprovalRequiredError extends DurableToolsError {
  constructor(message: string) {
    super(ErrorCode.APPROVAL_REQUIRED, message);
  }
}

export class InvalidConfigurationError extends DurableToolsError {
  constructor(message: string) {
    super(ErrorCode.INVALID_CONFIGURATION, message);
  }
}

/**
 * A stored value could not be decoded: tampered or truncated ciphertext, an unknown key id, or a
 * value written by another codec. Never answered with a result.
 */
export class RecordCodecError extends DurableToolsError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.RECORD_CODEC, message, { cause });
  }
}

/** One result returned under background confirmation that the ledger then failed to record. */
export interface UnrecordedConfirmation {
  key: string;
  error: unknown;
}

/**
 * Under `confirmation: "background"`, results were returned to their callers but the ledger could not
 * record them (thrown by `ledger.flush()`). Their side effects happened; their records stay SUBMITTED,
 * so the next call with one of these keys treats the operation as in doubt (asks `reconcile`, resubmits
 * to a downstream that deduplicates on the key, or throws `OperationInDoubtError`) instead of replaying
 * it, and never runs it again blindly.
 */
export class ConfirmationFailedError extends DurableToolsError {
  readonly failures: readonly UnrecordedConfirmation[];
  /** Further failures, past the ones kept, that are only counted. */
  readonly notKept: number;
  constructor(failures: readonly UnrecordedConfirmation[], notKept = 0) {
    const total = failures.length + notKept;
    const listed = failures
      .slice(0, 5)
      .map((failure) => `"${failure.key}" (${messageOf(failure.error)})`)
      .join(", ");
    const more = total > 5 ? ` and ${total - 5} more` : "";
    super(
      ErrorCode.CONFIRMATION_FAILED,
      `${total} result(s) were returned before the ledger recorded them, and recording failed: ${listed}${more}. Their records stay SUBMITTED: the next call with such a key treats it as in doubt (reconcile, a resubmission to a downstream that deduplicates on the key, or OperationInDoubtError) instead of replaying it, and never runs it again blindly.`,
      { cause: failures[0]?.error },
    );
    this.failures = failures;
    this.notKept = notKept;
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** True for any durable-tools error, even from another copy of the package. */
export function isDurableToolsError(error: unknown): error is DurableToolsError {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}

function guard<T extends DurableToolsError>(code: ErrorCode) {
  return (error: unknown): error is T => isDurableToolsError(error) && error.code === code;
}

export const isInvalidPayloadError = guard<InvalidPayloadError>(ErrorCode.INVALID_PAYLOAD);
export const isInvalidKeyError = guard<InvalidKeyError>(ErrorCode.INVALID_KEY);
export const isIdempotencyConflictError = guard<IdempotencyConflictError>(ErrorCode.IDEMPOTENCY_CONFLICT);
export const isOperationInProgressError = guard<OperationInProgressError>(ErrorCode.OPERATION_IN_PROGRESS);
export const isOperationInDoubtError = guard<OperationInDoubtError>(ErrorCode.OPERATION_IN_DOUBT);
export const isOperationFailedError = guard<OperationFailedError>(ErrorCode.OPERATION_FAILED);
export const isIllegalTransitionError = guard<IllegalTransitionError>(ErrorCode.ILLEGAL_TRANSITION);
export const isStaleOwnerError = guard<StaleOwnerError>(ErrorCode.STALE_OWNER);
export const isLedgerUnavailableError = guard<LedgerUnavailableError>(ErrorCode.LEDGER_UNAVAILABLE);
export const isRecordNotFoundError = guard<RecordNotFoundError>(ErrorCode.RECORD_NOT_FOUND);
export const isRetryExhaustedError = guard<RetryExhaustedError>(ErrorCode.RETRY_EXHAUSTED);
export const isDeadlineExceededError = guard<DeadlineExceededError>(ErrorCode.DEADLINE_EXCEEDED);
export const isAbortedError = guard<AbortedError>(ErrorCode.ABORTED);
export const isRecordCodecError = guard<RecordCodecError>(ErrorCode.RECORD_CODEC);
export const isConfirmationFailedError = guard<ConfirmationFailedError>(ErrorCode.CONFIRMATION_FAILED);
export const isApprovalRequiredError = guard<ApprovalRequiredError>(ErrorCode.APPROVAL_REQUIRED);
export const isInvalidConfigurationError = guard<InvalidConfigurationError>(ErrorCode.INVALID_CONFIGURATION);
