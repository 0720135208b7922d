import { InvalidConfigurationError, RecordNotFoundError, StaleOwnerError } from "./errors.js";
import { isExpired, isLeaseExpired, isTerminal, type OperationRecord, OperationState } from "./record.js";
import { assertPath } from "./state-machine.js";
import type { ClaimRequest, ClaimResult, Fence, RecordPatch, TransitionRequest } from "./store.js";

/*
 * The decisions every store makes, as pure functions over the current record, so each backend only
 * has to apply them atomically (a JS critical section, a SQL transaction, a Redis script).
 */

export function newRecord(request: ClaimRequest, previousToken: number): OperationRecord {
  const state =
    request.initialPath.length === 0 ? OperationState.PENDING : assertPath("PENDING", request.initialPath);
  const record: OperationRecord = {
    key: request.key,
    tool: request.tool,
    fingerprint: request.fingerprint,
    state,
    attempt: request.initialAttempt,
    owner: request.owner,
    fencingToken: previousToken + 1,
    leaseExpiresAt: request.now + request.leaseMs,
    createdAt: request.now,
    updatedAt: request.now,
    expiresAt: null,
  };
  if (request.tenant !== undefined) record.tenant = request.tenant;
  if (request.args !== undefined) record.args = request.args;
  if (request.correlationId !== undefined) record.correlationId = request.correlationId;
  if (request.scope !== undefined) record.scope = request.scope;
  return record;
}

/** What a claim does to the key's current record (or its absence). */
export function decideClaim(current: OperationRecord | undefined, request: ClaimRequest): ClaimResult {
  if (current === undefined) return { outcome: "created", record: newRecord(request, 0) };
  if (isExpired(current, request.now)) {
    return { outcome: "created", record: newRecord(request, current.fencingToken) };
  }
  if (
    !isTerminal(current.state) &&
    isLeaseExpired(current, request.now) &&
    current.fingerprint === request.fingerprint
  ) {
    return {
      outcome: "taken_over",
      previousOwner: current.owner,
      record: {
        ...current,
        owner: request.owner,
        fencingToken: current.fencingToken + 1,
        leaseExpiresAt: request.now + request.leaseMs,
        updatedAt: request.now,
      },
    };
  }
  return { outcome: "existing", record: current };
}

export function assertFence(current: OperationRecord | undefined, fence: Fence): OperationRecord {
  if (current === undefined) throw new RecordNotFoundError(fence.key);
  if (current.fencingToken !== fence.fencingToken || current.owner !== fence.owner) {
    throw new StaleOwnerError(
      fence.key,
      `held by ${current.owner ?? "nobody"} with fencing token ${current.fencingToken}, write came from ${fence.owner} with token ${fence.fencingToken}`,
    );
  }
  return current;
}

/** The record after a guarded transition; throws without side effects when the guard fails. */
export function applyTransition(
  current: OperationRecord | undefined,
  request: TransitionRequest,
): OperationRecord {
  const record = assertFence(current, request);
  if (record.state !== request.from) {
    throw new StaleOwnerError(request.key, `state is ${record.state}, the writer expected ${request.from}`);
  }
  const state = assertPath(record.state, request.path);
  const next: OperationRecord = { ...record, ...definedFields(request.patch), state, updatedAt: request.now };
  if (isTerminal(state)) {
    next.owner = null;
    next.leaseExpiresAt = null;
    next.expiresAt = request.patch.expiresAt ?? null;
  } else {
    next.expiresAt = null;
  }
  return next;
}

function definedFields(patch: RecordPatch): Partial<OperationRecord> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}

export function isInDoubtCandidate(
  record: OperationRecord,
  now: number,
  includeUnfinished: boolean,
): boolean {
  if (isTerminal(record.state) || !isLeaseExpired(record, now)) return false;
  return record.state === OperationState.SUBMITTED || includeUnfinished;
}

/** The prefix a scope delete takes: never empty (that would delete the whole ledger). */
export function assertKeyPrefix(keyPrefix: unknown): string {
  if (typeof keyPrefix !== "string" || keyPrefix.length === 0) {
    throw new InvalidConfigurationError(
      `deleteByKeyPrefix needs a non-empty key prefix, got ${JSON.stringify(keyPrefix)}: an empty one would delete every operation.`,
    );
  }
  return keyPrefix;
}
