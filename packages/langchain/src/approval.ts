import {
  ApprovalRequiredError,
  decodeValue,
  fingerprint,
  isIdempotencyConflictError,
  type Ledger,
} from "@durable-tools/core";
import { ApprovalAlreadyUsedError } from "./errors.js";
import type { Approval } from "./run-config.js";

/**
 * The ledger "tool" under which approvals are consumed: one record per approval, keyed by its
 * identity, whose arguments name the operation that used it. Being a ledger record, the consumption
 * holds across processes sharing the store; it lives as long as the ledger keeps records
 * (`recordTtlMs`, 7 days by default).
 */
export const APPROVAL_TOOL = "durable-tools.approval";

/** An approval's identity: its `id` (from `approve()`), else a hash of the whole approval. */
export function approvalIdentity(approval: Approval): string {
  if (typeof approval.id === "string" && approval.id.length > 0) return approval.id;
  const { tool, fingerprint: fp, approvedBy, expiresAt } = approval;
  return `h:${fingerprint({ tool, fingerprint: fp, approvedBy, expiresAt: expiresAt ?? null }).slice(7)}`;
}

/** The live approvals (by the ledger's clock) of `tool` for arguments with this fingerprint (`wanted`). */
export function liveApprovals(
  ledger: Ledger,
  tool: string,
  wanted: string,
  approvals: readonly Approval[] | undefined,
): Approval[] {
  const now = ledger.now();
  return (approvals ?? []).filter(
    (a) => a.tool === tool && a.fingerprint === wanted && (a.expiresAt === undefined || a.expiresAt > now),
  );
}

/** The refusal of a call that needs an approval and has none: nothing was executed. */
export function approvalRequired(tool: string, wanted: string): ApprovalRequiredError {
  return new ApprovalRequiredError(
    `"${tool}" is destructive and needs a human approval bound to these exact arguments (fingerprint ${wanted.slice(0, 19)}…). Nothing was executed. Ask for approval, then run with configurable.durable_tools.approvals = [await tool.approve(toolCall.args, approver)], where tool is this durable tool (its approve() parses the arguments through the tool's schema and drops idempotency_key, as this check does; approve("${tool}", args, approver) needs them already in that form).`,
  );
}

/**
 * Consumes for the operation `operationKey` a live approval (checked again, now) of `tool` for
 * arguments with this fingerprint that is unused or used by this same operation. Throws
 * `ApprovalRequiredError` when none is live, `ApprovalAlreadyUsedError` when every live match was
 * used by another operation.
 */
export async function consumeApproval(
  ledger: Ledger,
  tool: string,
  wanted: string,
  operationKey: string,
  approvals: readonly Approval[] | undefined,
): Promise<void> {
  const matching = liveApprovals(ledger, tool, wanted, approvals);
  if (matching.length === 0) throw approvalRequired(tool, wanted);
  let usedKey = "";
  for (const approval of matching) {
    const spec = {
      tool: APPROVAL_TOOL,
      key: approvalIdentity(approval),
      args: { operation: operationKey },
      submit: () => ({ operation: operationKey, approvedBy: approval.approvedBy }),
      // Pure: a consumption left in doubt (the store failed before its confirm) is simply written
      // again by the next call, never stuck.
      dedupesDownstream: true,
    };
    try {
      await ledger.execute(spec);
      return;
    } catch (error) {
      if (!isIdempotencyConflictError(error)) throw error;
      usedKey = error.key;
    }
  }
  // Every match was used: name the operation that used the last one.
  const stored = await ledger.get(usedKey);
  const used = stored?.result === undefined ? undefined : decodeValue(stored.result);
  const usedBy = String((used as { operation?: unknown } | undefined)?.operation ?? "unknown");
  throw new ApprovalAlreadyUsedError(tool, operationKey, usedBy);
}
