import type { EffectResult } from "./effect-result.js";
import type { Effect, OperationRecord } from "./record.js";
import type { RetryPolicy } from "./retry-policy.js";

/** What every hook receives. Pass `idempotencyKey` to the downstream system. */
export interface OperationContext {
  /** The ledger key (tenant / tool / key). */
  key: string;
  /** A stable key derived from `key`, safe to send downstream (Stripe-style `Idempotency-Key`). */
  idempotencyKey: string;
  /** Which submission this is (1 for the first). */
  attempt: number;
  /** Aborted when the caller aborts or when another worker took the operation over. */
  signal: AbortSignal;
  correlationId: string;
  record: Readonly<OperationRecord>;
}

/** The answer of a `reconcile` hook about an operation in doubt. */
export type Reconciliation<R> =
  | { status: "applied"; result: R | EffectResult<R> }
  | { status: "not_applied" }
  | { status: "unknown"; detail?: string };

/** One intended side effect, as the executor runs it. */
export interface OperationSpec<A, R> {
  tool: string;
  tenant?: string;
  args: A;
  /** A key passed by the caller (validated: 1-255 printable ASCII). */
  key?: string;
  /** A business key the tool derived from its arguments (an invoice number). */
  businessKey?: string;
  /**
   * What the operation belongs to (e.g. a LangGraph thread id): the scope of a key derived from the
   * arguments when neither key is given, and stored on the record so recovery can group by it.
   */
  scope?: string;
  correlationId?: string;
  signal?: AbortSignal;
  /**
   * Runs once, before `validate`, when this call is about to make the operation's first submission:
   * it created the record, or took over one nothing was submitted for (PENDING or VALIDATED). Never
   * for a replay, a stored failure, a conflict, a wait on another call, or a takeover of a SUBMITTED
   * record (its owner authorised that submission). For what must be used up only by an operation
   * that runs, e.g. a one-time approval. If it throws, the record is released (the key is free,
   * nothing is stored or submitted) and the error is rethrown unchanged; it is never retried.
   */
  authorize?: (args: A, ctx: OperationContext) => void | Promise<void>;
  /** Checks that must pass before anything is submitted. A failure here is permanent unless marked transient. */
  validate?: (args: A, ctx: OperationContext) => void | Promise<void>;
  /** Performs the side effect. The record is durably SUBMITTED before this is called. */
  submit: (args: A, ctx: OperationContext) => R | EffectResult<R> | Promise<R | EffectResult<R>>;
  /** Optional check or transformation after a successful submit (e.g. wait for settlement). */
  confirm?: (result: R, ctx: OperationContext) => R | Promise<R>;
  /** Asks the downstream system whether an in-doubt operation happened (look it up by `idempotencyKey`). */
  reconcile?: (args: A, ctx: OperationContext) => Reconciliation<R> | Promise<Reconciliation<R>>;
  /** The downstream deduplicates on `idempotencyKey`, so an in-doubt operation may be submitted again. */
  dedupesDownstream?: boolean;
  /** The effect a successful submit has; `withEffect()` from `submit` overrides it. Default `created`. */
  effect?: Effect | ((result: R) => Effect);
  /** This call's retry policy and error classification, instead of the ledger's. */
  retry?: RetryPolicy;
}

export interface ExecutionResult<R> {
  key: string;
  idempotencyKey: string;
  result: R;
  /** `noop` for a replay; otherwise what the first execution did. */
  effect: Effect;
  replayed: boolean;
  reason?: string;
  record: OperationRecord;
}
