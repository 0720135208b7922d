import { DurableToolsError, isDurableToolsError } from "@durable-tools/core";

/** Stable machine-readable codes of this package's errors. */
export const LangGraphErrorCode = {
  CHECKPOINT_CONFLICT: "CHECKPOINT_CONFLICT",
  THREAD_BUSY: "THREAD_BUSY",
  CHECKPOINT_VALUE_MISSING: "CHECKPOINT_VALUE_MISSING",
} as const;
export type LangGraphErrorCode = (typeof LangGraphErrorCode)[keyof typeof LangGraphErrorCode];

/**
 * A run of a thread tried to write a checkpoint on top of one that is no longer the thread's latest:
 * another run of the same thread wrote first (two workers resumed it at once), started the thread
 * first, or the thread was deleted meanwhile. Nothing was written. (A run that starts from an older
 * checkpoint on purpose, by its `checkpoint_id`, or `updateState`, branches and is not refused.)
 */
export class CheckpointConflictError extends DurableToolsError {
  readonly threadId: string;
  readonly checkpointNs: string;
  /** The parent the refused write was based on (undefined: the writer believed the thread was new). */
  readonly parentCheckpointId: string | undefined;
  /** The thread's latest checkpoint when the write was refused (undefined: it has none). */
  readonly latestCheckpointId: string | undefined;

  constructor(details: {
    threadId: string;
    checkpointNs: string;
    parentCheckpointId: string | undefined;
    latestCheckpointId: string | undefined;
  }) {
    super(LangGraphErrorCode.CHECKPOINT_CONFLICT, conflictMessage(details));
    this.threadId = details.threadId;
    this.checkpointNs = details.checkpointNs;
    this.parentCheckpointId = details.parentCheckpointId;
    this.latestCheckpointId = details.latestCheckpointId;
  }
}

function conflictMessage(details: {
  threadId: string;
  parentCheckpointId: string | undefined;
  latestCheckpointId: string | undefined;
}): string {
  const { threadId, parentCheckpointId: parent, latestCheckpointId: latest } = details;
  const refused = `Checkpoint write refused for thread "${threadId}"`;
  const resume = `resume the thread from its latest checkpoint (invoke without a checkpoint_id), or run workers through withThreadLease() so that they wait for each other instead`;
  if (latest === undefined) {
    return `${refused}: this run built on checkpoint ${parent}, but the thread has no checkpoint any more (it was deleted while the run was going on). This checkpoint was not written. Start the thread again if that is what you want.`;
  }
  if (parent === undefined) {
    return `${refused}: this run started the thread as a new one, but another run of this thread started it first (its latest checkpoint is ${latest}). This checkpoint was not written. Read the thread's state and ${resume}.`;
  }
  return `${refused}: this run built on checkpoint ${parent}, but the thread has moved on to checkpoint ${latest}, written by another run of this thread (two runs resumed it at once). This checkpoint was not written, and the run fails with this error. Read the thread's state again and ${resume}. (Starting from an older checkpoint on purpose is not refused: a run given the checkpoint_id of a checkpoint the thread has moved past, or updateState(), branches from it.)`;
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
