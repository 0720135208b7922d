import { uuid5 } from "@langchain/langgraph-checkpoint";
import { type CheckpointOrigin, namedByOwnId, ownsItsHistory } from "./checkpoint-lineage.js";
import { pullTaskId, taskNamespace } from "./task-ids.js";

/*
 * A task that an `updateState` at the thread's head re-schedules (the node a human interrupted, run
 * again after the edit) is the same task as the one it continues: `taskAnchor` finds the checkpoint
 * that task belongs to.
 */

/** Writes that leave a task unfinished: it was interrupted, failed, or only got a resume value. */
const UNFINISHED_WRITES = new Set(["__interrupt__", "__error__", "__resume__", "__scheduled__"]);

/** A checkpoint as stored: its origin (with the Sends it schedules) and the task writes stored against it. */
export interface StoredCheckpoint {
  origin: CheckpointOrigin;
  /** `[task id, channel]` of each pending write stored against the checkpoint. */
  writes: ReadonlyArray<readonly [string, string]>;
}

/** Reads a stored checkpoint (undefined if it is not stored). */
export type StoredReader = (
  checkpointNs: string,
  checkpointId: string,
) => Promise<StoredCheckpoint | undefined>;

/** The checkpoint whose task a task is, for naming (see `taskAnchor`). */
export interface TaskAnchor {
  checkpointId: string;
  origin: CheckpointOrigin;
  /** True when the anchor is an earlier checkpoint than the one the task runs in. */
  moved: boolean;
  /** When moved: LangGraph's id of the task in the anchor, if the anchor's writes name it. */
  taskId?: string | undefined;
}

/**
 * The checkpoint a pull task of `node`, running in checkpoint `checkpointId`, belongs to. Normally
 * that checkpoint. But a task re-scheduled by an `updateState` made at the thread's head continues
 * the task of the same node that was left unfinished there: a human edits the state of an interrupted
 * (or failed) run, then resumes it. Its completed steps must not run again, so it is named by the
 * checkpoint it continues. Three facts, all stored, say so:
 * - the checkpoint is an "update" built on `P`;
 * - LangGraph applied the update to the head: it stores the update's writes against `P` under the
 *   task id uuid5("__interrupt__", P) (an update of a checkpoint the thread had moved past is not
 *   stored there, and its tasks stay a branch that runs anew, like a fork);
 * - the task of `node` in `P` did not finish: no write of it in `P` but interrupt, error or resume.
 *   A task that finished in `P` and runs again after the update is new work, and a branch.
 * Repeated head updates are followed back to the first checkpoint the task ran in.
 *
 * `node` is undefined when the task is not a pull task of a node the update may have re-scheduled;
 * then, as for a checkpoint that is not an "update", the anchor is the checkpoint itself (unmoved).
 */
export async function taskAnchor(
  view: { stored: StoredReader },
  checkpointNs: string,
  checkpointId: string,
  origin: CheckpointOrigin,
  node: string | undefined,
): Promise<TaskAnchor> {
  let anchor: TaskAnchor = { checkpointId, origin, moved: false };
  if (origin.source !== "update" || node === undefined) return anchor;
  const ns = taskNamespace(checkpointNs, node);
  while (anchor.origin.source === "update" && anchor.origin.parentId !== null) {
    const parentId = anchor.origin.parentId;
    const parent = await view.stored(checkpointNs, parentId);
    if (parent?.origin.step === undefined || !updatedAtHead(parent, parentId)) break;
    const step = parent.origin.step + 1;
    const candidates = [...pullChannels(node, parent.origin)].map((channel) =>
      pullTaskId(ns, step, node, channel, parentId),
    );
    const written = new Map<string, boolean>();
    for (const [taskId, channel] of parent.writes) {
      if (!candidates.includes(taskId)) continue;
      written.set(taskId, (written.get(taskId) ?? false) || !UNFINISHED_WRITES.has(channel));
    }
    if ([...written.values()].some((finished) => finished)) break;
    anchor = { checkpointId: parentId, origin: parent.origin, moved: true, taskId: [...written.keys()][0] };
  }
  return anchor;
}

/**
 * Where a task sits by its anchor: `at:<anchor id>` when the anchor's tasks are named by its own id
 * (`namedByOwnId`), else at `step` (`step:<n>`), after the anchor's parent at the root and in a
 * namespace that `ownsItsHistory` (`after:<parent id>|step:<n>`).
 */
export function anchoredPlace(anchor: TaskAnchor, checkpointNs: string, step: number): string {
  if (namedByOwnId(anchor.origin, checkpointNs)) return `at:${anchor.checkpointId}`;
  return ownsItsHistory(checkpointNs)
    ? `after:${anchor.origin.parentId ?? "-"}|step:${step}`
    : `step:${step}`;
}

/** The channels that may have triggered a pull task of `node` in a checkpoint. */
export function pullChannels(node: string, origin: CheckpointOrigin): Set<string> {
  return new Set([`branch:to:${node}`, ...Object.keys(origin.versions ?? {})]);
}

/** LangGraph stored an update's writes against `checkpointId`: the update was made at the head. */
function updatedAtHead(stored: StoredCheckpoint, checkpointId: string): boolean {
  const writers = new Set(stored.writes.map(([taskId]) => taskId));
  if (writers.has(uuid5("__interrupt__", checkpointId))) return true;
  // bulkUpdateState names the i-th update of a superstep `__interrupt__:<i>`.
  for (let i = 1; i < writers.size; i++) {
    if (writers.has(uuid5(`__interrupt__:${i}`, checkpointId))) return true;
  }
  return false;
}
