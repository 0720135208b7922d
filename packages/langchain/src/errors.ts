import { DurableToolsError, isDurableToolsError } from "@durable-tools/core";

/** Error codes of this package (core's `ErrorCode` holds the shared ones). */
export const LangChainErrorCode = {
  /** An approval matched the call but was already consumed by another operation. */
  APPROVAL_ALREADY_USED: "APPROVAL_ALREADY_USED",
} as const;

/**
 * The approval for these arguments was already used by another operation (another idempotency key,
 * thread or tenant): one approval authorises exactly one operation. Nothing was executed.
 */
export class ApprovalAlreadyUsedError extends DurableToolsError {
  readonly tool: string;
  /** The operation this call would have run (its ledger key). */
  readonly key: string;
  /** The operation the approval was consumed by. */
  readonly usedBy: string;

  constructor(tool: string, key: string, usedBy: string) {
    super(
      LangChainErrorCode.APPROVAL_ALREADY_USED,
      `The approval for "${tool}" with these arguments was already used by another operation (${usedBy}); one approval authorises exactly one operation. Nothing was executed for ${key}. Ask for a new approval.`,
    );
    this.tool = tool;
    this.key = key;
    this.usedBy = usedBy;
  }
}

export function isApprovalAlreadyUsedError(error: unknown): error is ApprovalAlreadyUsedError {
  return isDurableToolsError(error) && error.code === LangChainErrorCode.APPROVAL_ALREADY_USED;
}
