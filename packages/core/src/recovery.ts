import { isEffectResult } from "./effect-result.js";
import { isControlFlowSignal } from "./error-classification.js";
import { ErrorCode, isDurableToolsError, messageOf } from "./errors.js";
import { EventType } from "./events.js";
import { HeldOperation } from "./held-operation.js";
import { downstreamIdempotencyKey } from "./keys.js";
import { type Ledger, ledgerRuntime, type Resolution } from "./ledger.js";
import type { OperationContext, Reconciliation } from "./operation.js";
import {
  hasAppliedResult,
  isLeaseExpired,
  isTerminal,
  type OperationRecord,
  OperationState,
} from "./record.js";
import { decodeValue } from "./value-codec.js";

/** A tool's reconcile hook, as recovery calls it: with the arguments the record stored. */
export type ReconcileHook = (
  args: unknown,
  ctx: OperationContext,
) => Reconciliation<unknown> | Promise<Reconciliation<unknown>>;

/**
 * What recovery did with one operation:
 * - `confirmed`: reconcile found it applied; the record is CONFIRMED with the result it reported.
 * - `released`: it was never submitted (PENDING / VALIDATED), or reconcile found it not applied; the
 *   record is gone and the next call with the same key submits again.
 * - `in_doubt`: nobody can tell (no reconcile hook, it answered `unknown`, or it threw); left SUBMITTED,
 *   its lease expired so the next call or recovery can take it over at once. Also when another
 *   worker took it over while reconcile ran and left it in doubt (`detail` says so, and that
 *   reconcile's answer was not applied: it was about the record before that worker's attempt).
 * - `busy`: a live worker holds it (its lease has not expired), also when that worker took it over
 *   while recovery was asking reconcile (`detail` says so); left alone.
 * - `settled`: it was already CONFIRMED or FAILED, or gone, when recovery looked.
 */
export interface RecoveredOperation {
  key: string;
  tool: string;
  outcome: "confirmed" | "released" | "in_doubt" | "busy" | "settled";
  /** The record after recovery (absent when it was released or is gone). */
  record?: OperationRecord;
  /** Why it is still in doubt, or why recovery left it alone. */
  detail?: string;
}

/**
 * Settles one operation nobody is working on, through the tool's `reconcile` hook. Recovery first
 * takes the operation over (a new owner and fencing token, as a worker taking over an expired lease
 * does), then asks the hook with the stored arguments and the context the executor gives it
 * (`idempotencyKey` included; `signal` aborts if the lease is lost) while it renews that lease, and
 * writes the answer with the same fence. So no other worker can submit the operation while the hook
 * runs, and an answer about a record that changed meanwhile is never applied: if recovery's lease
 * ran out and a worker took the operation over anyway, the write is refused and the outcome
 * (`busy`, `in_doubt` or `settled`, by what that worker left) says so in `detail`. Arguments stored
 * redacted reach the hook redacted.
 */
export async function reconcileOperation(
  ledger: Ledger,
  key: string,
  reconcile: ReconcileHook | undefined,
  resolvedBy = "recovery",
): Promise<RecoveredOperation> {
  const seen = await ledger.get(key);
  if (seen === undefined) return { key, tool: "", outcome: "settled" };
  const base = { key, tool: seen.tool };
  if (isTerminal(seen.state)) return { ...base, outcome: "settled", record: seen };
  if (!isLeaseExpired(seen, ledger.now())) return { ...base, outcome: "busy", record: seen };
  if (seen.state === OperationState.SUBMITTED && reconcile === undefined) {
    return { ...base, outcome: "in_doubt", record: seen, detail: noHook(seen) };
  }
  let held: HeldOperation;
  try {
    held = await HeldOperation.take(ledgerRuntime(ledger), key, { announce: true, seen });
  } catch (error) {
    return afterRace(ledger, base, error, "before recovery could take it over");
  }
  try {
    return await settleHeld(ledger, held, base, reconcile, resolvedBy);
  } finally {
    // Whatever happened (a store failure included), never keep renewing a lease nobody works under.
    await held.stopRenewing();
  }
}

/** Asks reconcile about the record recovery holds, and writes its answer with that fence. */
async function settleHeld(
  ledger: Ledger,
  held: HeldOperation,
  base: { key: string; tool: string },
  reconcile: ReconcileHook | undefined,
  resolvedBy: string,
): Promise<RecoveredOperation> {
  const { key } = base;
  const record = held.record;
  // Decided on the record as taken over: it may have moved on since the look above.
  if (record.state !== OperationState.SUBMITTED) {
    const why = `recovery found it ${record.state}, so it was not released`;
    return settle(ledger, held, base, { status: "not_applied" }, resolvedBy, why);
  }
  if (reconcile === undefined) {
    return { ...base, outcome: "in_doubt", record: await held.letGo(), detail: noHook(record) };
  }
  let answer: Reconciliation<unknown>;
  try {
    answer = await reconcile(record.args === undefined ? undefined : decodeValue(record.args), {
      key,
      idempotencyKey: downstreamIdempotencyKey(key),
      attempt: record.attempt,
      signal: held.signal,
      correlationId: record.correlationId ?? "",
      record,
    });
  } catch (error) {
    if (isControlFlowSignal(error)) {
      // A hook that asks a person through LangGraph: nothing was decided; the operation stays in
      // doubt for the resumed run, and the signal goes on unchanged.
      await held.letGo();
      throw error;
    }
    answer = { status: "unknown", detail: `reconcile threw: ${messageOf(error)}` };
  }
  await held.report([held.event(EventType.RECONCILED, { data: { status: answer.status } })]);
  if (answer.status === "unknown") {
    const detail = answer.detail ?? "reconcile could not tell";
    return { ...base, outcome: "in_doubt", record: await held.letGo(), detail };
  }
  if (answer.status === "not_applied") {
    if (hasAppliedResult(record)) {
      const detail =
        'reconcile answered "not_applied", but a submit of it succeeded (the record keeps its result)';
      return { ...base, outcome: "in_doubt", record: await held.letGo(), detail };
    }
    const why = 'reconcile answered "not_applied", so that answer was not applied';
    return settle(ledger, held, base, answer, resolvedBy, why);
  }
  const outcome = answer.result;
  const applied = isEffectResult<unknown>(outcome)
    ? {
        status: "applied" as const,
        result: outcome.data,
        effect: outcome.effect,
        ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      }
    : { status: "applied" as const, result: outcome };
  const why = 'reconcile answered "applied", so that answer was not applied';
  return settle(ledger, held, base, applied, resolvedBy, why);
}

function noHook(record: OperationRecord): string {
  return `no reconcile hook for tool ${record.tool}`;
}

/** Writes the resolution with the fence recovery holds. */
async function settle(
  ledger: Ledger,
  held: HeldOperation,
  base: { key: string; tool: string },
  resolution: Resolution,
  resolvedBy: string,
  why: string,
): Promise<RecoveredOperation> {
  let record: OperationRecord | undefined;
  try {
    record = await held.settle(resolution, resolvedBy);
  } catch (error) {
    // Our lease ran out while reconcile ran and another worker took the operation over.
    return afterRace(ledger, base, error, `after ${why}`);
  }
  if (record === undefined) return { ...base, outcome: "released" };
  return { ...base, outcome: "confirmed", record };
}

/** Someone else settled, took or deleted the operation: say what it is now, and what happened. */
async function afterRace(
  ledger: Ledger,
  base: { key: string; tool: string },
  error: unknown,
  when: string,
): Promise<RecoveredOperation> {
  if (!isDurableToolsError(error) || error.code === ErrorCode.LEDGER_UNAVAILABLE) throw error;
  const now = await ledger.get(base.key);
  if (now === undefined || isTerminal(now.state)) {
    return { ...base, outcome: "settled", ...(now === undefined ? {} : { record: now }) };
  }
  // Left SUBMITTED by whoever took it over, with nobody holding it: in doubt again.
  const inDoubt = now.state === OperationState.SUBMITTED && isLeaseExpired(now, ledger.now());
  return {
    ...base,
    outcome: inDoubt ? "in_doubt" : "busy",
    record: now,
    detail: `another worker took the operation over ${when}: ${messageOf(error)}`,
  };
}
