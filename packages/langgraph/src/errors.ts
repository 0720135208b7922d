import { DurableToolsError, isDurableToolsError } from "@durable-tools/core";

/** Stable machine-readable codes of this package's errors. */
export const LangGraphErrorCode = {
  CHECKPOINT_CONFLICT: "CHECKPOINT_CONFLICT",
  THREAD_BUSY: "THREAD_BUSY",
  CHECKPOINT_VALUE_MISSING: "CHECKPOINT_VALUE_MISSING",
} as const;
export type LangGraphErrorCode = (typeof LangGraphErrorCode)[keyof typeof LangGraphErrorCode];

/**
 * A checkpoint was written on top of a parent that is no longer the thread's latest checkpoint: another
 * run of the same thread moved it on first (two workers resumed the same thread). Nothing was written.
 */
export class CheckpointConflictError extends DurableToolsError {
  readonly threadId: string;
  readonly checkpointNs: string;
  /** The parent the refused write was based on (undefined: the writer believed the thread was new). */
  readonly parentCheckpointId: string | undefined;
  /** The thread's latest checkpoint when the write was refused. */
  readonly latestCheckpointId: string | undefined;

  constructor(details: {
    threadId: string;
    checkpointNs: string;
    parentCheckpointId: string | undefined;
    latestCheckpointId: string | undefined;
  }) {
    const parent = details.parentCheckpointId ?? "(none: a new thread)";
    const latest = details.latestCheckpointId ?? "(none)";
    super(
      LangGraphErrorCode.CHECKPOINT_CONFLICT,
      `Checkpoint write refused for thread "${details.threadId}": it is based on checkpoint ${parent}, but the thread's latest checkpoint is ${latest}. Another run of this thread wrote first. Reload the thread state and run again; to branch from an older checkpoint on purpose, use updateState() or invoke with its checkpoint_id (a fork).`,
    );
    this.threadId = details.threadId;
    this.checkpointNs = details.checkpointNs;
    this.parentCheckpointId = details.parentCheckpointId;
    this.latestCheckpointId = details.latestCheckpointId;
  }
}

export function isCheckpointConflictError(error: unknown): error is CheckpointConflictError {
  return isDurableToolsError(error) && error.code === LangGraphErrorCode.CHECKPOINT_CONFLICT;
}

/** Another worker held the thread's lease for longer than the caller was willing to wait. */
export class ThreadBusyError extends DurableToolsError {
  readonly threadId: string;
  /** Who holds the lease. */
  readonly holder: string | null;
  readonly waitedMs: number;

  constructor(threadId: string, holder: string | null, waitedMs: number) {
    super(
      LangGraphErrorCode.THREAD_BUSY,
      `Thread "${threadId}" is being run by ${holder ?? "another worker"}; waited ${waitedMs} ms for its lease. Try again later, or raise waitMs.`,
      { retryable: true },
    );
    this.threadId = threadId;
    this.holder = holder;
    this.waitedMs = waitedMs;
  }
}

export function isThreadBusyError(error: unknown): error is ThreadBusyError {
  return isDurableToolsError(error) && error.code === LangGraphErrorCode.THREAD_BUSY;
}

/**
 * A checkpoint stored as a delta names an earlier checkpoint of its thread as holding a channel's
 * value, and that checkpoint (or the value in it) is gone: something deleted checkpoints of the thread
 * other than through `deleteThread`. The checkpoint cannot be read whole, so it is not returned partial.
 */
export class CheckpointValueMissingError extends DurableToolsError {
  readonly threadId: string;
  readonly checkpointNs: string;
  readonly checkpointId: string;
  readonly channel: string;
  readonly holderCheckpointId: string;

  constructor(details: {
    threadId: string;
    checkpointNs: string;
    checkpointId: string;
    channel: string;
    holderCheckpointId: string;
  }) {
    super(
      LangGraphErrorCode.CHECKPOINT_VALUE_MISSING,
      `Checkpoint ${details.checkpointId} of thread "${details.threadId}" (namespace "${details.checkpointNs}") keeps channel "${details.channel}" in checkpoint ${details.holderCheckpointId}, which no longer holds it. Checkpoints of this thread were removed from the saver directly; delete threads with DurableCheckpointer.deleteThread, or construct the DurableCheckpointer with channelDeltas: false to store whole checkpoints.`,
    );
    this.threadId = details.threadId;
    this.checkpointNs = details.checkpointNs;
    this.checkpointId = details.checkpointId;
    this.channel = details.channel;
    this.holderCheckpointId = details.holderCheckpointId;
  }
}

export function isCheckpointValueMissingError(error: unknown): error is CheckpointValueMissingError {
  return isDurableToolsError(error) && error.code === LangGraphErrorCode.CHECKPOINT_VALUE_MISSING;
}
