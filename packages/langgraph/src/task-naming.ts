import { LedgerUnavailableError } from "@durable-tools/core";
import type { getConfig } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { type CheckpointLineage, type CheckpointOrigin, isBranch, originOf } from "./checkpoint-lineage.js";
import { lineageOfCheckpointer } from "./durable-checkpointer.js";
import type { DurableStepIdentity } from "./journal-keys.js";
import {
  type CheckpointView,
  pullTriggerOf,
  type StoredCheckpoint,
  stableNamespace,
  taskAnchor,
} from "./stable-namespace.js";

/*
 * How a durableStep names the task it runs in (the thread, namespace and task parts of its journal
 * key): by what a crash, a resume or a change of durability cannot change. See `taskIdentity`.
 */

/** How long a step waits for LangGraph to hand its task's checkpoint to the DurableCheckpointer. */
const LINEAGE_WAIT_MS = 10_000;

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

/** A step's name, and the name the same task's steps may have been recorded under by an earlier run. */
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
 * Under "exit" the subgraph's namespace as LangGraph named it, plus the step and path: the namespace
 * carries the ids of tasks whose checkpoints "exit" stores when the run stops at an interrupt, and a
 * subgraph that finished inside a node that then stopped is run again from its start on the resume
 * (its checkpoints were never stored), with the same steps. The subgraph's own checkpoint is never
 * waited for (a subgraph compiled with `checkpointer: false` stores none).
 *
 * The alias: the other of the two names, for a task that a run under another durability (or one
 * that could not know its checkpoint yet) may have started.
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
  const scope: ViewScope = { threadId, lineage, checkpointer, stepName };
  const peeking = checkpointView(scope, "none");
  const node = pullNodeOf(path);
  const pathText = JSON.stringify(path);

  if (checkpointNs === "") {
    // Under "async" the task's checkpoint may still be on its way to the checkpointer; under "sync"
    // it was handed over before the task started. Under "exit" it is known only when this run
    // resumed it (stored when an earlier run stopped there).
    const view = durability === "exit" ? peeking : checkpointView(scope, "root");
    const origin = await view.origin("", checkpointId);
    if (origin === undefined) return { primary: byTaskId };
    const anchor =
      origin.source === "update" && node !== undefined && node === metadata.langgraph_node
        ? await taskAnchor(view, "", checkpointId, origin, node)
        : { checkpointId, origin, moved: false as const, taskId: undefined };
    const primary: Place = isBranch(anchor.origin)
      ? { checkpointNs: "", task: `at:${anchor.checkpointId}|path:${pathText}` }
      : {
          checkpointNs: "",
          task: `after:${anchor.origin.parentId ?? "-"}|step:${anchor.moved ? (anchor.origin.step ?? -1) + 1 : step}|path:${pathText}`,
        };
    // What a run that did not know this checkpoint named the task by: its LangGraph id (in the
    // checkpoint the task continues, if an update at the head re-scheduled it).
    const continued = anchor.moved ? anchor.taskId : taskId;
    const alias: Place | undefined =
      continued === undefined || !taskNs.endsWith(`:${taskId}`)
        ? undefined
        : { checkpointNs: `${taskNs.slice(0, -taskId.length)}${continued}`, task: `id:${continued}` };
    return alias === undefined ? { primary } : { primary, alias: async () => alias };
  }

  // In a subgraph. The subgraph's own checkpoint is only peeked at: an update of the subgraph's state
  // (stored before any run reads it) is known whenever it matters.
  let task = `step:${step}|path:${pathText}`;
  const own = peeking.peek(checkpointNs, checkpointId);
  if (own?.source === "update") {
    const anchor =
      node !== undefined && node === metadata.langgraph_node
        ? await taskAnchor(peeking, checkpointNs, checkpointId, own, node)
        : { checkpointId, origin: own, moved: false };
    if (isBranch(anchor.origin)) {
      return { primary: { checkpointNs, task: `at:${anchor.checkpointId}|path:${pathText}` } };
    }
    task = `step:${(anchor.origin.step ?? -1) + 1}|path:${pathText}`;
  }
  const asNamed = async (): Promise<Place> => ({
    checkpointNs: await continuedNamespace(peeking, checkpointNs, checkpointMap),
    task,
  });
  if (durability === "exit") {
    return {
      primary: await asNamed(),
      alias: async () => {
        const stable = await stableNamespace(checkpointNs, checkpointMap, peeking);
        return stable === undefined ? undefined : { checkpointNs: stable, task };
      },
    };
  }
  const stable = await stableNamespace(
    checkpointNs,
    checkpointMap,
    checkpointView(scope, durability === "async" ? "all" : "root"),
  );
  if (stable === undefined) return { primary: await asNamed() };
  return { primary: { checkpointNs: stable, task }, alias: asNamed };
}

/**
 * A subgraph namespace as LangGraph named it, but for its first segment when the root task that
 * runs the subgraph was re-scheduled by an update at the head: then the id of the task it continues
 * (the namespace a run before the update used).
 */
async function continuedNamespace(
  view: PeekingView,
  checkpointNs: string,
  checkpointMap: Record<string, unknown>,
): Promise<string> {
  const [first = "", ...rest] = checkpointNs.split("|");
  const separator = first.lastIndexOf(":");
  const rootId = checkpointMap[""];
  if (separator <= 0 || typeof rootId !== "string") return checkpointNs;
  const origin = view.peek("", rootId);
  if (origin?.source !== "update" || origin.step === undefined) return checkpointNs;
  const node = first.slice(0, separator);
  const taskId = first.slice(separator + 1);
  if (pullTriggerOf(taskId, "", node, origin.step + 1, rootId, origin) === undefined) return checkpointNs;
  const anchor = await taskAnchor(view, "", rootId, origin, node);
  if (!anchor.moved || anchor.taskId === undefined) return checkpointNs;
  return [`${node}:${anchor.taskId}`, ...rest].join("|");
}

/** The node of the pull task a task path belongs to (a functional-API call's caller), if any. */
function pullNodeOf(path: unknown[]): string | undefined {
  let current: unknown = path;
  while (Array.isArray(current) && current[0] === PUSH && Array.isArray(current[1])) current = current[1];
  return Array.isArray(current) && current[0] === PULL && typeof current[1] === "string"
    ? current[1]
    : undefined;
}

const PULL = "__pregel_pull";
const PUSH = "__pregel_push";

interface ViewScope {
  threadId: string;
  lineage: CheckpointLineage;
  checkpointer: unknown;
  stepName: string;
}

type PeekingView = CheckpointView & {
  peek(checkpointNs: string, checkpointId: string): CheckpointOrigin | undefined;
};

/**
 * What the step knows of its thread's checkpoints. `wait` says whose hand-over to the
 * DurableCheckpointer to wait for: "all" (durability "async": every checkpoint a subgraph above the
 * step was scheduled by is written in the background), "root" (the root checkpoint: "sync" hands it
 * over before its tasks run, so waiting costs nothing; subgraph checkpoints are only peeked at) or
 * "none" (peek only).
 */
function checkpointView(scope: ViewScope, wait: "all" | "root" | "none"): PeekingView {
  const { threadId, lineage, checkpointer, stepName } = scope;
  // Read at most once per step (a view lives for one durableStep call).
  const reads = new Map<string, Promise<StoredCheckpoint | undefined>>();
  const storedOnce = (ns: string, id: string) => {
    const slot = JSON.stringify([ns, id]);
    let read = reads.get(slot);
    if (read === undefined) {
      read = storedCheckpoint(checkpointer, threadId, ns, id);
      reads.set(slot, read);
    }
    return read;
  };
  return {
    peek: (ns, id) => lineage.peek(threadId, ns, id),
    origin: async (ns, id) => {
      if (wait === "none" || (wait === "root" && ns !== "")) return lineage.peek(threadId, ns, id);
      try {
        return await lineage.originOf(threadId, ns, id, LINEAGE_WAIT_MS);
      } catch (error) {
        throw new LedgerUnavailableError(notHandedOver(stepName, threadId, ns, id), error);
      }
    },
    stored: storedOnce,
    sendCount: async (ns, id) => {
      const counts = rememberedSends(checkpointer);
      const slot = JSON.stringify([threadId, ns, id]);
      const known = counts?.get(slot);
      if (known !== undefined) return known;
      // Under "async" the checkpoint may be handed over but not stored yet: poll until it lands.
      const deadline = Date.now() + (wait === "none" ? 0 : LINEAGE_WAIT_MS);
      for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
        const stored = await storedCheckpoint(checkpointer, threadId, ns, id);
        if (stored !== undefined) {
          counts?.set(slot, stored.sends);
          return stored.sends;
        }
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      if (wait === "none") return undefined;
      throw new LedgerUnavailableError(
        `durableStep("${stepName}"): checkpoint ${id} of thread ${threadId}${ns === "" ? "" : ` (namespace "${ns}")`} schedules the Send that started this step's subgraph, and it was not stored within ${LINEAGE_WAIT_MS} ms, so the step cannot be named stably and did not run. LangGraph handed the checkpoint over; its write failed or is still waiting on the checkpoint store.`,
      );
    },
  };
}

function notHandedOver(stepName: string, threadId: string, ns: string, id: string): string {
  const head = `durableStep("${stepName}"): checkpoint ${id} of thread ${threadId}`;
  if (ns === "") {
    return `${head} was not handed to the DurableCheckpointer within ${LINEAGE_WAIT_MS} ms, so the step's task cannot be named stably; the step did not run. Under durability "async" LangGraph writes a run's checkpoints one after another in the background and this one never started: a checkpoint write before it in this run failed or is still waiting on the checkpoint store. (A root graph run with durability "exit" while the subgraph around this step was invoked with another durability also never writes it: give the subgraph the root's config.)`;
  }
  return `${head}, namespace "${ns}", was not handed to the DurableCheckpointer within ${LINEAGE_WAIT_MS} ms. A step in a nested subgraph is named after the checkpoints of the subgraphs above it, and under durability "async" LangGraph writes them in the background; the subgraph running in "${ns}" never wrote this one. If it was compiled with \`checkpointer: false\` it stores no checkpoints: compile it without that option (it then uses the parent's checkpointer), or run the graph with durability "sync" or "exit". Otherwise a checkpoint write of this run failed or is still waiting on the checkpoint store. The step did not run.`;
}

/**
 * The checkpoint as stored, read through the checkpointer (which also learns its origin). Its task
 * writes can grow (a task finishing there later), so it is read anew for each step.
 */
async function storedCheckpoint(
  checkpointer: unknown,
  threadId: string,
  checkpointNs: string,
  checkpointId: string,
): Promise<StoredCheckpoint | undefined> {
  const saver = checkpointer as BaseCheckpointSaver;
  if (typeof saver?.getTuple !== "function") return undefined;
  const tuple = await saver.getTuple({
    configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpointId },
  });
  if (tuple === undefined || tuple.checkpoint.id !== checkpointId) return undefined;
  const sends = (tuple.checkpoint.channel_values as Record<string, unknown> | undefined)?.__pregel_tasks;
  return {
    origin: originOf(tuple.checkpoint, tuple.parentConfig, tuple.metadata),
    writes: (tuple.pendingWrites ?? []).map(([taskId, channel]) => [taskId, channel] as const),
    sends: Array.isArray(sends) ? sends.length : 0,
  };
}

/** Send counts read so far, per checkpointer and checkpoint (a stored checkpoint's Sends never change). */
const sendCounts = new WeakMap<object, Map<string, number>>();
const MAX_SEND_COUNTS = 1_000;

function rememberedSends(checkpointer: unknown): Map<string, number> | undefined {
  if (typeof checkpointer !== "object" || checkpointer === null) return undefined;
  let counts = sendCounts.get(checkpointer);
  if (counts === undefined) {
    counts = new Map();
    sendCounts.set(checkpointer, counts);
  }
  if (counts.size >= MAX_SEND_COUNTS) {
    const oldest = counts.keys().next().value;
    if (oldest !== undefined) counts.delete(oldest);
  }
  return counts;
}

function parentNamespace(ns: string): string {
  return ns.slice(0, Math.max(0, ns.lastIndexOf("|")));
}
