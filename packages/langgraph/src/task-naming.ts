import type { getConfig } from "@langchain/langgraph";
import { isBranch, ownsItsHistory } from "./checkpoint-lineage.js";
import { checkpointView, type PeekingView, type ViewScope } from "./checkpoint-view.js";
import { lineageOfCheckpointer, runsOfCheckpointer } from "./durable-checkpointer.js";
import type { DurableStepIdentity } from "./journal-keys.js";
import { runOf } from "./run-records.js";
import { namespaceUnderExit, parseSegment, pullTriggerOf, stableNamespace } from "./stable-namespace.js";
import { anchoredPlace, taskAnchor } from "./task-anchor.js";
import { PULL, PUSH } from "./task-ids.js";

/*
 * How a durableStep names the task it runs in (the thread, namespace and task parts of its journal
 * key): by what a crash, a resume or a change of durability cannot change. See `taskIdentity`.
 */

/** How LangGraph writes this run's checkpoints: "exit" writes none until the run ends. */
type Durability = "async" | "sync" | "exit";

/**
 * The durability LangGraph 1.7 runs a graph with (pregel/index.js `_defaults`): `durability`, else
 * `checkpointDuring` (false is "exit", true "async"), else `configurable.__pregel_durability`, else
 * "async". A subgraph invoked inside a node inherits the node's config, so the same answer.
 */
function durabilityOf(config: ReturnType<typeof getConfig>): Durability {
  const options = (config ?? {}) as { durability?: unknown; checkpointDuring?: unknown };
  if (isDurability(options.durability)) return options.durability;
  if (options.checkpointDuring === false) return "exit";
  if (options.checkpointDuring === true) return "async";
  const fromConfigurable = (config?.configurable as Record<string, unknown> | undefined)?.__pregel_durability;
  return isDurability(fromConfigurable) ? fromConfigurable : "async";
}

function isDurability(value: unknown): value is Durability {
  return value === "async" || value === "sync" || value === "exit";
}

export type Place = Pick<DurableStepIdentity, "checkpointNs" | "task">;

/**
 * A step's name, and, for a task that may have run before (see `taskIdentity`), the name an earlier
 * run may have recorded the same task's steps under.
 */
export interface Naming {
  primary: Place;
  alias?: () => Promise<Place | undefined>;
}

/**
 * The task a step runs in, named by what a crash under durability "async" cannot change.
 *
 * At the root: the checkpoint the task's checkpoint was built on, the step and the task's path
 * (`after:`), or the checkpoint itself for a fork or an update that branches (`at:`). LangGraph's task
 * id is derived from the task's own checkpoint, which "async" writes in the background: a process
 * killed before it landed resumes from the parent and schedules the same task under a new id. Where
 * the checkpoint is not known (under "exit" LangGraph stores it only when the run ends), the task id
 * (`id:`), which an "exit" run keeps: its checkpoint is stored with that id when the run stops.
 *
 * In a subgraph: the namespace renamed stably (stable-namespace.ts) plus the step and path inside it.
 * Under "exit" the first level as LangGraph named it (the root task's id) and the levels below named
 * stably where no waiting is needed (`namespaceUnderExit`), plus the step and path: a subgraph that
 * finished inside a node that then stopped is run again from its start on the resume (its
 * checkpoints were never stored), with the same steps. The subgraph's own checkpoint is never waited
 * for, nor the checkpoints of a subgraph above that stores none (`checkpointer: false`: no loop of
 * the run loaded its namespace).
 *
 * The alias: the other of the two names, for a task that a run under another durability (or one
 * that could not know its checkpoint yet) may have started. Given only for a task that may have run
 * before: one of the tasks a resumed run starts with (LangGraph's `__pregel_resuming`), or any task,
 * in a subgraph too, that runs in the root checkpoint the run loaded when it started (the checkpoint
 * an interrupted, failed or crashed run stopped at). A fresh run's tasks run in checkpoints of its
 * own: no alias, no extra ledger read.
 */
export async function taskIdentity(
  config: ReturnType<typeof getConfig>,
  threadId: string,
  taskNs: string,
  taskId: string,
  stepName: string,
): Promise<Naming> {
  const configurable = (config?.configurable ?? {}) as Record<string, unknown>;
  const checkpointMap = (configurable.checkpoint_map ?? {}) as Record<string, unknown>;
  // A node runs in its own namespace (`...|<node>:<task id>`); its task belongs to the checkpoint of
  // the namespace above. A functional-API task called from an entrypoint (or a node) sits one level
  // deeper, in a namespace that maps to the same checkpoint as its caller's: climb to where that
  // checkpoint was written.
  let checkpointNs = parentNamespace(taskNs);
  const checkpointId = checkpointMap[checkpointNs];
  while (checkpointNs !== "" && checkpointMap[parentNamespace(checkpointNs)] === checkpointId) {
    checkpointNs = parentNamespace(checkpointNs);
  }
  const metadata = (config?.metadata ?? {}) as Record<string, unknown>;
  const checkpointer = configurable.__pregel_checkpointer;
  const lineage = lineageOfCheckpointer(checkpointer);
  const byTaskId: Place = { checkpointNs: taskNs, task: `id:${taskId}` };
  const step = metadata.langgraph_step;
  const path = metadata.langgraph_path;
  if (
    lineage === undefined ||
    typeof checkpointId !== "string" ||
    typeof step !== "number" ||
    !Array.isArray(path)
  ) {
    return { primary: byTaskId };
  }
  const durability = durabilityOf(config);
  const runs = runsOfCheckpointer(checkpointer);
  const run = runOf(config);
  const scope: ViewScope = { threadId, lineage, runs, run, checkpointer, stepName };
  const peeking = checkpointView(scope, "none");
  const node = pullNodeOf(path);
  // The node an update may have re-scheduled this task for (see `taskAnchor`): the task's own pull node.
  const updatedNode = node !== undefined && node === metadata.langgraph_node ? node : undefined;
  const pathText = JSON.stringify(path);
  const start = runs?.startedFrom(run, threadId);
  const mayHaveRun =
    configurable.__pregel_resuming === true ||
    (start !== undefined && !start.superseded && start.checkpointId === checkpointMap[""]);
  const naming = (primary: Place, alias?: () => Promise<Place | undefined>): Naming =>
    alias !== undefined && mayHaveRun ? { primary, alias } : { primary };

  if (ownsItsHistory(checkpointNs)) {
    // The root, or a subgraph with a history of its own (`checkpointer: true`). Under "async" the
    // task's checkpoint may still be on its way to the checkpointer; under "sync" it was handed over
    // before the task started. Under "exit" it is known only when this run resumed it (stored when
    // an earlier run stopped there).
    const view =
      durability === "exit" ? peeking : checkpointView(scope, checkpointNs === "" ? "root" : "all");
    const origin = await view.origin(checkpointNs, checkpointId);
    if (origin === undefined) return { primary: byTaskId };
    const anchor = await taskAnchor(view, checkpointNs, checkpointId, origin, updatedNode);
    const place = anchoredPlace(anchor, checkpointNs, anchor.moved ? (anchor.origin.step ?? -1) + 1 : step);
    const primary: Place = { checkpointNs, task: `${place}|path:${pathText}` };
    // What a run that did not know this checkpoint named the task by: its LangGraph id (in the
    // checkpoint the task continues, if an update at the head re-scheduled it).
    const continued = anchor.moved ? anchor.taskId : taskId;
    const alias: Place | undefined =
      continued === undefined || !taskNs.endsWith(`:${taskId}`)
        ? undefined
        : { checkpointNs: `${taskNs.slice(0, -taskId.length)}${continued}`, task: `id:${continued}` };
    return naming(primary, alias === undefined ? undefined : async () => alias);
  }

  // In a subgraph. The subgraph's own checkpoint is only peeked at: an update of the subgraph's state
  // (stored before any run reads it) is known whenever it matters.
  let task = `step:${step}|path:${pathText}`;
  const own = peeking.peek(checkpointNs, checkpointId);
  if (own?.source === "update") {
    const anchor = await taskAnchor(peeking, checkpointNs, checkpointId, own, updatedNode);
    task = `${anchoredPlace(anchor, checkpointNs, (anchor.origin.step ?? -1) + 1)}|path:${pathText}`;
    if (isBranch(anchor.origin)) return { primary: { checkpointNs, task } };
  }
  const underExit = async (): Promise<Place> => ({
    checkpointNs: await namespaceUnderExit(
      checkpointNs,
      checkpointMap,
      peeking,
      await continuedFirstLevel(peeking, checkpointNs, checkpointMap),
    ),
    task,
  });
  if (durability === "exit") {
    return naming(await underExit(), async () => {
      const stable = await stableNamespace(checkpointNs, checkpointMap, peeking);
      return stable === undefined ? undefined : { checkpointNs: stable, task };
    });
  }
  const stable = await stableNamespace(
    checkpointNs,
    checkpointMap,
    checkpointView(scope, durability === "async" ? "all" : "root"),
  );
  if (stable === undefined) return { primary: await underExit() };
  return naming({ checkpointNs: stable, task }, underExit);
}

/**
 * The first level of a subgraph namespace as LangGraph named it, but for a root task that an update
 * at the head re-scheduled: then the id of the task it continues (the namespace a run before the
 * update used).
 */
async function continuedFirstLevel(
  view: PeekingView,
  checkpointNs: string,
  checkpointMap: Record<string, unknown>,
): Promise<string> {
  const first = checkpointNs.split("|", 1)[0] ?? "";
  const parsed = parseSegment(first);
  const rootId = checkpointMap[""];
  if (parsed === undefined || typeof rootId !== "string") return first;
  const origin = view.peek("", rootId);
  if (origin?.source !== "update" || origin.step === undefined) return first;
  const { node, taskId } = parsed;
  const scheduled = { taskId, parentNs: "", node, step: origin.step + 1, checkpointId: rootId };
  if (pullTriggerOf(scheduled, origin) === undefined) return first;
  const anchor = await taskAnchor(view, "", rootId, origin, node);
  if (!anchor.moved || anchor.taskId === undefined) return first;
  return `${node}:${anchor.taskId}`;
}

/** The node of the pull task a task path belongs to (a functional-API call's caller), if any. */
function pullNodeOf(path: unknown[]): string | undefined {
  let current: unknown = path;
  while (Array.isArray(current) && current[0] === PUSH && Array.isArray(current[1])) current = current[1];
  return Array.isArray(current) && current[0] === PULL && typeof current[1] === "string"
    ? current[1]
    : undefined;
}

function parentNamespace(ns: string): string {
  return ns.slice(0, Math.max(0, ns.lastIndexOf("|")));
}
