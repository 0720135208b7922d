import { type CheckpointOrigin, namedByOwnId } from "./checkpoint-lineage.js";
import type { Invocation } from "./run-records.js";
import { anchoredPlace, pullChannels, type StoredReader, taskAnchor } from "./task-anchor.js";
import { PULL, PUSH, pullTaskId, pushTaskId, taskNamespace } from "./task-ids.js";

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
 * Below the root, a level scheduled by a checkpoint that is not stored while the step runs (a
 * subgraph compiled with `checkpointer: false`, or one under durability "exit") is named the same way
 * from what the task says of itself: see `invokedAs`. Such a subgraph starts over when the task
 * around it runs again, with new checkpoint ids, but its tasks run at the same steps with the same
 * triggers.
 *
 * A task that an `updateState` at the thread's head re-schedules (the node a human interrupted, run
 * again after the edit) is the same task as the one it continues: see `taskAnchor` (task-anchor.ts).
 */

/** Send indexes tried from memory before the scheduling checkpoint's Sends are counted. */
const QUICK_SEND_INDEXES = 64;
/** Scheduling contexts whose Send task ids are kept (computed once each, shared by all their Sends). */
const MAX_SEND_CONTEXTS = 256;

/** What naming a task needs to know of its thread's checkpoints (task-naming.ts builds it). */
export interface CheckpointView {
  /** A checkpoint's origin (waiting for it where it is sure to come), or undefined if not known. */
  origin(checkpointNs: string, checkpointId: string): Promise<CheckpointOrigin | undefined>;
  /** The checkpoint as stored (undefined if it is not stored). */
  stored: StoredReader;
  /** How many Sends the checkpoint schedules, read from storage (undefined if it cannot be read). */
  sendCount(checkpointNs: string, checkpointId: string): Promise<number | undefined>;
  /** The task (by its namespace) that invoked a subgraph, as the subgraph's load described it. */
  invocation?(taskNs: string): Invocation | undefined;
  /** Where LangGraph's subgraph `counter` of the task `taskNs` stands in its attempt (run-records.ts). */
  subgraphOrdinal?(taskNs: string, counter: number): number | undefined;
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
  for (let level = 0; level < segments.length; level++) {
    const name = await levelName(segments, level, checkpointMap, view);
    if (name === undefined) return undefined;
    if (name !== "") stable.push(name);
  }
  return stable.join("|");
}

/**
 * The namespace as a run under durability "exit" names it: the first level as given (`first`: the
 * root task, named by its id, which the root checkpoint keeps when "exit" stores it as the run
 * stops), each level below as `stableNamespace` does where that needs no waiting, else as LangGraph
 * named it. (A subgraph's checkpoints are not stored before it stops, and one that finished inside a
 * node that then stopped starts over on the resume, under new task ids; its tasks' steps and
 * triggers are the same.)
 */
export async function namespaceUnderExit(
  checkpointNs: string,
  checkpointMap: Record<string, unknown>,
  view: CheckpointView,
  first: string,
): Promise<string> {
  const segments = checkpointNs.split("|");
  const named = [first];
  for (let level = 1; level < segments.length; level++) {
    const name = (await levelName(segments, level, checkpointMap, view)) ?? (segments[level] as string);
    if (name !== "") named.push(name);
  }
  return named.join("|");
}

/** A namespace segment `<node>:<task id>` split in its parts (undefined if it is not one). */
export function parseSegment(segment: string): { node: string; taskId: string } | undefined {
  const separator = segment.lastIndexOf(":");
  if (separator <= 0) return undefined;
  return { node: segment.slice(0, separator), taskId: segment.slice(separator + 1) };
}

/**
 * The stable name of one level of a namespace (see `stableNamespace`), or undefined; "" for a level
 * that is left out: the first subgraph of a retried attempt, named as the first of the first attempt.
 */
async function levelName(
  segments: readonly string[],
  level: number,
  checkpointMap: Record<string, unknown>,
  view: CheckpointView,
): Promise<string | undefined> {
  const segment = segments[level] as string;
  if (level > 0 && /^[1-9][0-9]*$/.test(segment)) {
    // The second, third... subgraph invoked by the task above (LangGraph's scratchpad counter): as
    // stable as the task above it, counted from the start of the task's attempt. (The first subgraph
    // has no counter level.)
    const counter = Number(segment);
    const taskNs = segments.slice(0, level).join("|");
    const ordinal = view.subgraphOrdinal?.(taskNs, counter) ?? counter;
    return ordinal === 0 ? "" : `#${ordinal}`;
  }
  const parsed = parseSegment(segment);
  // A subgraph with a history of its own (`checkpointer: true`): LangGraph names its level by the node
  // alone, the same in every run; the levels below are named by its checkpoints (`anchoredPlace`).
  if (parsed === undefined) return segment.includes(":") ? undefined : segment;
  const { node, taskId } = parsed;
  const parentNs = segments.slice(0, level).join("|");
  const scheduledBy = checkpointMap[parentNs];
  if (typeof scheduledBy !== "string") return undefined;
  const origin = await view.origin(parentNs, scheduledBy);
  if (origin?.step === undefined) {
    // The scheduling checkpoint is not known and is not waited for: a subgraph that stores no
    // checkpoints, or one "exit" has not stored yet. Below the root the task itself says where it ran.
    if (parentNs === "") return undefined;
    const taskNs = segments.slice(0, level + 1).join("|");
    return invokedAs(view.invocation?.(taskNs), taskId, parentNs, node, scheduledBy);
  }
  if (namedByOwnId(origin, parentNs) && origin.source !== "update") {
    // A branch made on purpose, or a run's input, runs anew: its task id (new with every one) is the
    // right name.
    return segment;
  }
  const step = origin.step + 1;
  const count = async () => origin.sends ?? (await view.sendCount(parentNs, scheduledBy));
  const scheduled = { taskId, parentNs, node, step, checkpointId: scheduledBy };
  const trigger = await triggerOf(scheduled, origin, count);
  const anchor = await taskAnchor(
    view,
    parentNs,
    scheduledBy,
    origin,
    trigger?.startsWith("pull:") ? node : undefined,
  );
  if (namedByOwnId(anchor.origin, parentNs)) return segment;
  if (trigger === undefined || anchor.origin.step === undefined) return undefined;
  return `${node}@${anchoredPlace(anchor, parentNs, anchor.origin.step + 1)}|${trigger}`;
}

/**
 * A level below the root whose scheduling checkpoint is not known, named as `levelName` names it
 * (`<node>@step:<step>|<trigger>`) from what the task says of itself, checked against its id:
 * - the invoking task's step, triggers and path, which LangGraph handed to the subgraph it invoked
 *   and that subgraph's load showed the DurableCheckpointer (any trigger, any Send index);
 * - else (that subgraph stores no checkpoints either): the step is the one the scheduling checkpoint
 *   was written at plus one (LangGraph 1.7 ids a checkpoint with a UUID v6 whose clock sequence is
 *   its step), and the trigger an edge to the node or one of the first 64 Sends.
 */
async function invokedAs(
  invocation: Invocation | undefined,
  taskId: string,
  parentNs: string,
  node: string,
  scheduledBy: string,
): Promise<string | undefined> {
  const ns = taskNamespace(parentNs, node);
  if (invocation !== undefined) {
    const { step, triggers, path } = invocation;
    if (path[0] === PULL) {
      for (const trigger of triggers) {
        if (typeof trigger === "string" && pullTaskId(ns, step, node, trigger, scheduledBy) === taskId) {
          return `${node}@step:${step}|pull:${trigger}`;
        }
      }
    } else if (path[0] === PUSH && (typeof path[1] === "number" || typeof path[1] === "string")) {
      if (pushTaskId(ns, step, node, String(path[1]), scheduledBy) === taskId) {
        return `${node}@step:${step}|push:${path[1]}`;
      }
    }
  }
  const written = stepOfCheckpointId(scheduledBy);
  if (written === undefined) return undefined;
  const step = written + 1;
  if (pullTaskId(ns, step, node, `branch:to:${node}`, scheduledBy) === taskId) {
    return `${node}@step:${step}|pull:branch:to:${node}`;
  }
  const scheduled = { taskId, parentNs, node, step, checkpointId: scheduledBy };
  const index = await sendIndexOf(scheduled, async () => undefined);
  return index === undefined ? undefined : `${node}@step:${step}|push:${index}`;
}

/** The step of a LangGraph checkpoint id (`uuid6(step)`: the clock sequence), for steps from 0. */
function stepOfCheckpointId(checkpointId: string): number | undefined {
  const clockSequence = /^[0-9a-f]{8}-[0-9a-f]{4}-6[0-9a-f]{3}-([89ab][0-9a-f]{3})-[0-9a-f]{12}$/i.exec(
    checkpointId,
  )?.[1];
  return clockSequence === undefined ? undefined : Number.parseInt(clockSequence, 16) & 0x3fff;
}

/**
 * A task as LangGraph scheduled it: its id, the node it runs, and the namespace, step and checkpoint
 * it was scheduled in (what its id is derived from, with its trigger).
 */
export interface Scheduled {
  taskId: string;
  parentNs: string;
  node: string;
  step: number;
  checkpointId: string;
}

/** The channel of the pull task of `node` in a checkpoint whose LangGraph task id is `taskId`. */
export function pullTriggerOf(
  { taskId, parentNs, node, step, checkpointId }: Scheduled,
  origin: CheckpointOrigin,
): string | undefined {
  const ns = taskNamespace(parentNs, node);
  for (const channel of pullChannels(node, origin)) {
    if (pullTaskId(ns, step, node, channel, checkpointId) === taskId) return channel;
  }
  return undefined;
}

/** `pull:<channel>` or `push:<index>`: the candidate whose LangGraph task id is `taskId`. */
async function triggerOf(
  task: Scheduled,
  origin: CheckpointOrigin,
  sendCount: () => Promise<number | undefined>,
): Promise<string | undefined> {
  const channel = pullTriggerOf(task, origin);
  if (channel !== undefined) return `pull:${channel}`;
  const index = await sendIndexOf(task, sendCount);
  return index === undefined ? undefined : `push:${index}`;
}

/** Send task ids computed so far (id to index), per scheduling context (checkpoint, namespace, step). */
const sendIds = new Map<string, Map<string, number>>();

/**
 * The index of the Send whose task id is `taskId`. Every index below the number of Sends the
 * scheduling checkpoint holds is a candidate, however many there are: the first few are tried from
 * memory; past them the Sends are counted (`sendCount`: what the DurableCheckpointer saw of the
 * checkpoint, else one read of it). Each context's ids are computed once, so the Sends of one step
 * cost one uuid5 each in all.
 */
async function sendIndexOf(
  { taskId, parentNs, node, step, checkpointId }: Scheduled,
  sendCount: () => Promise<number | undefined>,
): Promise<number | undefined> {
  const ns = taskNamespace(parentNs, node);
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
  // Ids are computed (uuid5) only as far as the first match, or up to `count`.
  const extendTo = (count: number) => {
    let found = known.get(taskId);
    for (let index = known.size; found === undefined && index < count; index++) {
      const id = pushTaskId(ns, step, node, String(index), checkpointId);
      known.set(id, index);
      if (id === taskId) found = index;
    }
    return found;
  };
  const quick = extendTo(QUICK_SEND_INDEXES);
  if (quick !== undefined) return quick;
  const sends = await sendCount();
  // (another Send of the step may have extended the ids meanwhile)
  return sends === undefined ? known.get(taskId) : extendTo(sends);
}
