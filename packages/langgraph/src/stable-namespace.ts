import { uuid5 } from "@langchain/langgraph-checkpoint";
import { type CheckpointOrigin, isBranch } from "./checkpoint-lineage.js";

/*
 * A subgraph runs in a namespace named after the tasks that called it: `<node>:<task id>`, one
 * segment per level. Under durability "async" a crash can cost the checkpoint that scheduled such a
 * task. The resumed run re-creates that checkpoint under a new id, LangGraph derives a new task id
 * from it, and the subgraph starts over in a new namespace, where every step would look new.
 *
 * So each segment is renamed by what the crash does not change: the node, the step it runs at, what
 * triggered it (the channel of a pull task, the index of a Send) and, at the root, the checkpoint the
 * scheduling checkpoint was built on (below the root the namespace above already pins that down).
 * The trigger is folded into LangGraph's task id and nowhere else, so it is found by computing the
 * id for each candidate, as LangGraph's algo.js does (uuid5 of [namespace, step, node, kind, trigger]
 * in the scheduling checkpoint's id). A segment that no candidate matches (another LangGraph version,
 * a functional-API call) leaves the namespace unresolved, and the caller names the step otherwise.
 *
 * A task that an `updateState` at the thread's head re-schedules (the node a human interrupted, run
 * again after the edit) is the same task as the one it continues: see `taskAnchor`.
 */

const PULL = "__pregel_pull";
const PUSH = "__pregel_push";
/** Send indexes tried from memory before the scheduling checkpoint's Sends are counted (one read). */
const QUICK_SEND_INDEXES = 64;
/** Scheduling contexts whose Send task ids are kept (computed once each, shared by all their Sends). */
const MAX_SEND_CONTEXTS = 256;
/** Writes that leave a task unfinished: it was interrupted, failed, or only got a resume value. */
const UNFINISHED_WRITES = new Set(["__interrupt__", "__error__", "__resume__", "__scheduled__"]);

/** A checkpoint as stored: its origin, the task writes stored against it, the Sends it schedules. */
export interface StoredCheckpoint {
  origin: CheckpointOrigin;
  /** `[task id, channel]` of each pending write stored against the checkpoint. */
  writes: ReadonlyArray<readonly [string, string]>;
  /** How many Sends it schedules (its `__pregel_tasks` channel): the Send indexes are below this. */
  sends: number;
}

/** What naming a task needs to know of its thread's checkpoints (durable-step.ts builds it). */
export interface CheckpointView {
  /** A checkpoint's origin (waiting for it where it is sure to come), or undefined if not known. */
  origin(checkpointNs: string, checkpointId: string): Promise<CheckpointOrigin | undefined>;
  /** The checkpoint as stored (undefined if it is not stored). */
  stored(checkpointNs: string, checkpointId: string): Promise<StoredCheckpoint | undefined>;
  /** How many Sends the checkpoint schedules, read from storage (undefined if it cannot be read). */
  sendCount(checkpointNs: string, checkpointId: string): Promise<number | undefined>;
}

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
 */
export async function taskAnchor(
  view: CheckpointView,
  checkpointNs: string,
  checkpointId: string,
  origin: CheckpointOrigin,
  node: string,
): Promise<TaskAnchor> {
  let anchor: TaskAnchor = { checkpointId, origin, moved: false };
  const ns = checkpointNs === "" ? node : `${checkpointNs}|${node}`;
  while (anchor.origin.source === "update" && anchor.origin.parentId !== null) {
    const parentId = anchor.origin.parentId;
    const parent = await view.stored(checkpointNs, parentId);
    if (parent?.origin.step === undefined || !updatedAtHead(parent, parentId)) break;
    const step = String(parent.origin.step + 1);
    const candidates = [...pullChannels(node, parent.origin)].map((channel) =>
      uuid5(JSON.stringify([ns, step, node, PULL, [channel]]), parentId),
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

/**
 * The crash-stable name of a subgraph namespace, or undefined when a segment cannot be resolved.
 * `checkpointMap` is the running task's `configurable.checkpoint_map` (namespace to checkpoint id).
 */
export async function stableNamespace(
  checkpointNs: string,
  checkpointMap: Record<string, unknown>,
  view: CheckpointView,
): Promise<string | undefined> {
  const segments = checkpointNs.split("|");
  const stable: string[] = [];
  for (const [level, segment] of segments.entries()) {
    if (level > 0 && /^[1-9][0-9]*$/.test(segment)) {
      // The second, third... subgraph invoked by the task above (LangGraph's scratchpad counter):
      // as stable as the task above it.
      stable.push(`#${segment}`);
      continue;
    }
    const separator = segment.lastIndexOf(":");
    if (separator <= 0) return undefined;
    const node = segment.slice(0, separator);
    const taskId = segment.slice(separator + 1);
    const parentNs = segments.slice(0, level).join("|");
    const scheduledBy = checkpointMap[parentNs];
    if (typeof scheduledBy !== "string") return undefined;
    const origin = await view.origin(parentNs, scheduledBy);
    if (origin?.step === undefined) return undefined;
    if (isBranch(origin) && origin.source !== "update") {
      // A branch made on purpose runs anew: its task id (new with every branch) is the right name.
      stable.push(segment);
      continue;
    }
    const step = origin.step + 1;
    const trigger = await triggerOf(view, taskId, parentNs, node, step, scheduledBy, origin);
    let anchor: TaskAnchor = { checkpointId: scheduledBy, origin, moved: false };
    if (origin.source === "update" && trigger?.startsWith("pull:")) {
      anchor = await taskAnchor(view, parentNs, scheduledBy, origin, node);
    }
    if (isBranch(anchor.origin)) {
      stable.push(segment);
      continue;
    }
    if (trigger === undefined || anchor.origin.step === undefined) return undefined;
    const anchorStep = anchor.origin.step + 1;
    const place =
      parentNs === "" ? `after:${anchor.origin.parentId ?? "-"}|step:${anchorStep}` : `step:${anchorStep}`;
    stable.push(`${node}@${place}|${trigger}`);
  }
  return stable.join("|");
}

/** The channel of the pull task of `node` in a checkpoint whose LangGraph task id is `taskId`. */
export function pullTriggerOf(
  taskId: string,
  parentNs: string,
  node: string,
  step: number,
  checkpointId: string,
  origin: CheckpointOrigin,
): string | undefined {
  const ns = parentNs === "" ? node : `${parentNs}|${node}`;
  for (const channel of pullChannels(node, origin)) {
    if (uuid5(JSON.stringify([ns, String(step), node, PULL, [channel]]), checkpointId) === taskId) {
      return channel;
    }
  }
  return undefined;
}

/** `pull:<channel>` or `push:<index>`: the candidate whose LangGraph task id is `taskId`. */
async function triggerOf(
  view: CheckpointView,
  taskId: string,
  parentNs: string,
  node: string,
  step: number,
  checkpointId: string,
  origin: CheckpointOrigin,
): Promise<string | undefined> {
  const channel = pullTriggerOf(taskId, parentNs, node, step, checkpointId, origin);
  if (channel !== undefined) return `pull:${channel}`;
  const index = await sendIndexOf(view, taskId, parentNs, node, step, checkpointId);
  return index === undefined ? undefined : `push:${index}`;
}

function pullChannels(node: string, origin: CheckpointOrigin): Set<string> {
  return new Set([`branch:to:${node}`, ...Object.keys(origin.versions ?? {})]);
}

/** Send task ids computed so far (id to index), per scheduling context (checkpoint, namespace, step). */
const sendIds = new Map<string, Map<string, number>>();

/**
 * The index of the Send whose task id is `taskId`. Every index below the number of Sends the
 * scheduling checkpoint holds is a candidate, however many there are: the first few are tried from
 * memory; past them the Sends are counted (one read of the stored checkpoint). Each context's ids
 * are computed once, so the Sends of one step cost one uuid5 each in all.
 */
async function sendIndexOf(
  view: CheckpointView,
  taskId: string,
  parentNs: string,
  node: string,
  step: number,
  checkpointId: string,
): Promise<number | undefined> {
  const ns = parentNs === "" ? node : `${parentNs}|${node}`;
  const context = JSON.stringify([checkpointId, ns, step]);
  let ids = sendIds.get(context);
  if (ids === undefined) {
    if (sendIds.size >= MAX_SEND_CONTEXTS) {
      const oldest = sendIds.keys().next().value;
      if (oldest !== undefined) sendIds.delete(oldest);
    }
    ids = new Map();
    sendIds.set(context, ids);
  }
  const known = ids;
  const extend = (count: number) => {
    for (let index = known.size; index < count; index++) {
      known.set(uuid5(JSON.stringify([ns, String(step), node, PUSH, String(index)]), checkpointId), index);
    }
  };
  extend(QUICK_SEND_INDEXES);
  const quick = known.get(taskId);
  if (quick !== undefined) return quick;
  const sends = await view.sendCount(parentNs, checkpointId);
  if (sends !== undefined) extend(sends);
  return known.get(taskId); // (another Send of the step may have extended the ids meanwhile)
}
