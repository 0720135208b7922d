import type { LedgerEvent, LedgerEventInput } from "./events.js";
import type { Effect, OperationRecord, OperationState, StoredError } from "./record.js";
import type { JsonValue } from "./value-codec.js";

export interface ClaimRequest {
  key: string;
  tool: string;
  tenant?: string;
  fingerprint: string;
  owner: string;
  /** The caller's clock, epoch ms. */
  now: number;
  leaseMs: number;
  /** States a new record moves through from PENDING in the same write (e.g. VALIDATED, SUBMITTED). */
  initialPath: readonly OperationState[];
  /** `attempt` of a new record (1 when `initialPath` reaches SUBMITTED). */
  initialAttempt: number;
  args?: JsonValue;
  correlationId?: string;
  /** Stored on a new record (e.g. the LangGraph thread it belongs to). */
  scope?: string;
  /** Appended in the same atomic write when a new record is created. */
  events: readonly LedgerEventInput[];
  /** Appended in the same atomic write when an expired lease is taken over. */
  takeoverEvents: readonly LedgerEventInput[];
}

export type ClaimResult =
  | { outcome: "created"; record: OperationRecord }
  | { outcome: "taken_over"; record: OperationRecord; previousOwner: string | null }
  | { outcome: "existing"; record: OperationRecord };

/** Fields a transition may set. Terminal states clear owner and lease themselves. */
export interface RecordPatch {
  attempt?: number;
  result?: JsonValue;
  error?: StoredError;
  effect?: Effect;
  reason?: string;
  leaseExpiresAt?: number | null;
  /** For terminal states: when the record may be forgotten (null: never). */
  expiresAt?: number | null;
}

export interface Fence {
  key: string;
  owner: string;
  fencingToken: number;
}

export interface TransitionRequest extends Fence {
  now: number;
  /** The state the caller believes the record is in; anything else is refused. */
  from: OperationState;
  /** One or more legal steps from `from`, applied in one atomic write. */
  path: readonly OperationState[];
  patch: RecordPatch;
  events: readonly LedgerEventInput[];
}

export interface RenewLeaseRequest extends Fence {
  now: number;
  leaseExpiresAt: number;
}

export interface ReleaseRequest extends Fence {
  events: readonly LedgerEventInput[];
}

export interface ListInDoubtOptions {
  now: number;
  /** Also list PENDING / VALIDATED records whose owner's lease expired (abandoned before submit). */
  includeUnfinished?: boolean;
  limit?: number;
}

export interface ReadEventsOptions {
  /** One operation's events (its audit trail). Without it, every event: an admin or eval read. */
  key?: string;
  /** Only events with a larger `seq`. */
  afterSeq?: number;
  limit?: number;
}

/**
 * What a ledger backend provides. Every mutating call is atomic: the record change and its events
 * commit together or not at all. Guarded calls throw `StaleOwnerError` when owner, fencing token or
 * state do not match, `RecordNotFoundError` when the record is gone, `IllegalTransitionError` for a
 * path the state machine forbids; none of them changes anything then. A backend that cannot be
 * reached throws `LedgerUnavailableError`.
 *
 * Run `describeLedgerStoreConformance` from `@durable-tools/core/testing` against any implementation.
 */
export interface LedgerStore {
  /**
   * Creates the record if the key is absent (or holds an expired terminal record), takes it over if it
   * is in flight with an expired lease and the same fingerprint (fencing token + 1), and otherwise
   * returns the existing record untouched.
   */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  transition(request: TransitionRequest): Promise<OperationRecord>;
  renewLease(request: RenewLeaseRequest): Promise<OperationRecord>;
  /** Deletes an in-flight record (guarded), so its key can be claimed again. */
  release(request: ReleaseRequest): Promise<void>;
  get(key: string): Promise<OperationRecord | undefined>;
  /** SUBMITTED records whose lease expired: nobody knows whether the downstream acted. */
  listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]>;
  appendEvents(events: readonly LedgerEventInput[]): Promise<void>;
  /**
   * Events in `seq` order. `seq` increases strictly in append order for one key; across keys it
   * orders events by when they were appended, and a distributed store may give two keys the same seq.
   */
  readEvents(options?: ReadEventsOptions): Promise<LedgerEvent[]>;
  /**
   * Deletes every operation whose key starts with `keyPrefix` (its record and its events), in flight
   * or not, and returns how many operations it removed. For deleting a whole scope (a LangGraph
   * thread's journal), not for the hot path. Optional: a store without it cannot delete scopes.
   */
  deleteByKeyPrefix?(keyPrefix: string): Promise<number>;
  close?(): Promise<void>;
}
