import type { JsonValue } from "./value-codec.js";

/** The life of one intended side effect. `CONFIRMED` and `FAILED` are terminal. */
export const OperationState = {
  PENDING: "PENDING",
  VALIDATED: "VALIDATED",
  SUBMITTED: "SUBMITTED",
  CONFIRMED: "CONFIRMED",
  FAILED: "FAILED",
} as const;
export type OperationState = (typeof OperationState)[keyof typeof OperationState];

/** What a side effect did, as the model sees it. The `would_*` kinds come only from dry runs. */
export const Effect = {
  CREATED: "created",
  UPDATED: "updated",
  DELETED: "deleted",
  NOOP: "noop",
  WOULD_CREATE: "would_create",
  WOULD_UPDATE: "would_update",
  WOULD_DELETE: "would_delete",
} as const;
export type Effect = (typeof Effect)[keyof typeof Effect];

/** The error a FAILED record keeps, replayed to every later caller of the same key. */
export interface StoredError {
  name: string;
  message: string;
  code?: string;
  retryable: boolean;
}

/** One operation as the ledger stores it. Times are epoch milliseconds. */
export interface OperationRecord {
  /** Full namespaced key (tenant, tool, key), unique across the ledger. */
  key: string;
  tool: string;
  tenant?: string;
  /** `sha256:<hex>` of the canonical arguments. */
  fingerprint: string;
  state: OperationState;
  /** Number of times `submit` was (or is being) called for this record. */
  attempt: number;
  /** Worker currently responsible for the record; null once it is terminal. */
  owner: string | null;
  /** Increases on every takeover; writes carrying an older token are refused. */
  fencingToken: number;
  /** While the record is in flight, when the owner's lease runs out. Null once terminal. */
  leaseExpiresAt: number | null;
  /** The result, encoded with the value codec (round-trips Dates, BigInts, Maps...). */
  result?: JsonValue;
  error?: StoredError;
  effect?: Effect;
  /** Optional human reason that accompanies the effect (e.g. "already at version 1.2.3"). */
  reason?: string;
  /** Arguments as stored for audit and reconcile (sensitive paths redacted). */
  args?: JsonValue;
  correlationId?: string;
  /** What the operation belongs to, e.g. its LangGraph thread: lets recovery group operations by thread. */
  scope?: string;
  createdAt: number;
  updatedAt: number;
  /** When a terminal record may be forgotten; independent of the lease. Null: keep forever. */
  expiresAt: number | null;
}

export function isTerminal(state: OperationState): boolean {
  return state === OperationState.CONFIRMED || state === OperationState.FAILED;
}

/**
 * A SUBMITTED record that keeps a result: a submit of it succeeded and what followed failed (the
 * executor writes it so), so a reconcile's "not applied" about it is not taken for true.
 */
export function hasAppliedResult(record: OperationRecord): boolean {
  return record.state === OperationState.SUBMITTED && record.result !== undefined;
}

/** A record is in flight while it is not terminal. */
export function isInFlight(record: OperationRecord): boolean {
  return !isTerminal(record.state);
}

export function isLeaseExpired(record: OperationRecord, now: number): boolean {
  return record.leaseExpiresAt !== null && record.leaseExpiresAt <= now;
}

/** A terminal record past its expiry counts as absent: its key may be used again. */
export function isExpired(record: OperationRecord, now: number): boolean {
  return isTerminal(record.state) && record.expiresAt !== null && record.expiresAt <= now;
}
