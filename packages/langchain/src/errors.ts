import { DurableToolsError, isDurableToolsError } from "@durable-tools/core";

/** Error codes of this package (core's `ErrorCode` holds the shared ones). */
export const LangChainErrorCode = {
  /** An approval matched the call but was already consumed by another operation. */
  APPROVAL_ALREADY_USED: "APPROVAL_ALREADY_USED",
  /** The tool returned a LangGraph `Command` or a `ToolMessage`, which a durable tool cannot replay. */
  UNSUPPORTED_TOOL_OUTPUT: "UNSUPPORTED_TOOL_OUTPUT",
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

/**
 * The tool returned a LangGraph `Command` (or a `ToolMessage`) instead of data. Its side effect ran
 * and is recorded, so it never runs again; but what the output would have done (a state update) is
 * not on the ledger, so no replay could repeat it: the output was dropped, here and on every replay.
 */
export class UnsupportedToolOutputError extends DurableToolsError {
  readonly tool: string;
  readonly key: string;
  /** What the tool returned: `Command` or `ToolMessage`. */
  readonly output: string;

  constructor(tool: string, key: string, output: string) {
    super(
      LangChainErrorCode.UNSUPPORTED_TOOL_OUTPUT,
      `"${tool}" returned a ${output}, which a durable tool cannot return: it is not on the ledger, so a replay could not give it back. The side effect ran once and is recorded as ${key} (it will not run again), but the ${output} was dropped, here and on every replay. Do not repeat the call. Fix the tool: return plain data (the model gets it in the envelope) and make state updates in a graph node, or leave the tool unwrapped.`,
    );
    this.tool = tool;
    this.key = key;
    this.output = output;
  }
}

export function isUnsupportedToolOutputError(error: unknown): error is UnsupportedToolOutputError {
  return isDurableToolsError(error) && error.code === LangChainErrorCode.UNSUPPORTED_TOOL_OUTPUT;
}
