import { isEffectResult } from "./effect-result.js";
import { isDurableToolsError, messageOf } from "./errors.js";
import { downstreamIdempotencyKey } from "./keys.js";
import type { Ledger } from "./ledger.js";
import type { OperationContext, Reconciliation } from "./operation.js";
import { isLeaseExpired, isTerminal, type OperationRecord, OperationState } from "./record.js";
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
 * - `in_doubt`: nobody can tell (no reconcile hook, it answered `unknown`, or it threw); left SUBMITTED.
 * - `busy`: a live worker holds it (its lease has not expired); left alone.
 * - `settled`: it was already CONFIRMED or FAILED, or gone, when recovery looked.
 */
export interface RecoveredOperation {
  key: string;
  tool: string;
  outcome: "confirmed" | "released" | "in_doubt" | "busy" | "settled";
  /** The record after recovery (absent when it was released or is gone). */
  record?: OperationRecord;
  /** Why it is still in doubt. */
  detail?: string;
}

/**
 * Settles one operation nobody is working on, through the tool's `reconcile` hook: the hook is asked
 * with the stored arguments and the same context (`idempotencyKey` included) the executor gives it,
 * and its answer is written with `ledger.resolve`, which takes the operation over first (so two
 * recovering workers cannot both settle it). Arguments stored redacted reach the hook redacted.
 */
export async function reconcileOperation(
  ledger: Ledger,
  key: string,
  reconcile: ReconcileHook | undefined,
  resolvedBy = "recovery",
): Promise<RecoveredOperation> {
  const record = await ledger.get(key);
  if (record === undefined) return { key, tool: "", outcome: "settled" };
  const base = { key, tool: record.tool };
  if (isTerminal(record.state)) return { ...base, outcome: "settled", record };
  if (!isLeaseExpired(record, ledger.now())) return { ...base, outcome: "busy", record };
  if (record.state !== OperationState.SUBMITTED) {
    return settle(ledger, base, record, { status: "not_applied" }, resolvedBy);
  }
  if (reconcile === undefined) {
    return { ...base, outcome: "in_doubt", record, detail: `no reconcile hook for tool ${record.tool}` };
  }
  let answer: Reconciliation<unknown>;
  try {
    answer = await reconcile(record.args === undefined ? undefined : decodeValue(record.args), {
      key,
      idempotencyKey: downstreamIdempotencyKey(key),
      attempt: record.attempt,
      signal: new AbortController().signal,
      correlationId: record.correlationId ?? "",
      record,
    });
  } catch (error) {
    return { ...base, outcome: "in_doubt", record, detail: `reconcile threw: ${messageOf(error)}` };
  }
  if (answer.status === "unknown") {
    return { ...base, outcome: "in_doubt", record, detail: answer.detail ?? "reconcile could not tell" };
  }
  if (answer.status === "not_applied") return settle(ledger, base, record, answer, resolvedBy);
  const outcome = answer.result;
  const applied = isEffectResult<unknown>(outcome)
    ? {
        status: "applied" as const,
        result: outcome.data,
        effect: outcome.effect,
        ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      }
    : { status: "applied" as const, result: outcome };
  return settle(ledger, base, record, applied, resolvedBy);
}

async function settle(
  ledger: Ledger,
  base: { key: string; tool: string },
  seen: OperationRecord,
  resolution: Parameters<Ledger["resolve"]>[1],
  resolvedBy: string,
): Promise<RecoveredOperation> {
  try {
    const record = await ledger.resolve(base.key, resolution, resolvedBy);
    if (record === undefined) return { ...base, outcome: "released" };
    return { ...base, outcome: "confirmed", record };
  } catch (error) {
    // Someone else settled or took it between our look and our write.
    if (!isDurableToolsError(error)) throw error;
    const now = await ledger.get(base.key);
    if (now === undefined || isTerminal(now.state))
      return { ...base, outcome: "settled", ...(now ? { record: now } : {}) };
    return { ...base, outcome: "busy", record: now ?? seen, detail: messageOf(error) };
  }
}
