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
 * a functional-API call) leaves the namespace unresolved, and the caller keeps the task ids.
 */

const PULL = "__pregel_pull";
const PUSH = "__pregel_push";
/** Sends to one node in one step that are tried. */
const MAX_SEND_INDEX = 64;

/** The origin of a checkpoint of the thread (waiting for it under "async"), or undefined if unknown. */
export type OriginLookup = (
  checkpointNs: string,
  checkpointId: string,
) => Promise<CheckpointOrigin | undefined>;

/**
 * The crash-stable name of a subgraph namespace, or undefined when a segment cannot be resolved.
 * `checkpointMap` is the running task's `configurable.checkpoint_map` (namespace to checkpoint id).
 */
export async function stableNamespace(
  checkpointNs: string,
  checkpointMap: Record<string, unknown>,
  originOf: OriginLookup,
): Promise<string | undefined> {
  const segments = checkpointNs.split("|");
  const stable: string[] = [];
  for (const [level, segment] of segments.entries()) {
    const separator = segment.lastIndexOf(":");
    if (separator <= 0) return undefined;
    const node = segment.slice(0, separator);
    const taskId = segment.slice(separator + 1);
    const parentNs = segments.slice(0, level).join("|");
    const scheduledBy = checkpointMap[parentNs];
    if (typeof scheduledBy !== "string") return undefined;
    const origin = await originOf(parentNs, scheduledBy);
    if (origin?.step === undefined) return undefined;
    if (isBranch(origin)) {
      // A branch made on purpose runs anew: its task id (new with every branch) is the right name.
      stable.push(segment);
      continue;
    }
    const step = origin.step + 1;
    const trigger = triggerOf(taskId, parentNs, node, step, scheduledBy, Object.keys(origin.versions ?? {}));
    if (trigger === undefined) return undefined;
    const place = parentNs === "" ? `after:${origin.parentId ?? "-"}|step:${step}` : `step:${step}`;
    stable.push(`${node}@${place}|${trigger}`);
  }
  return stable.join("|");
}

/** `pull:<channel>` or `push:<index>`: the candidate whose LangGraph task id is `taskId`. */
function triggerOf(
  taskId: string,
  parentNs: string,
  node: string,
  step: number,
  checkpointId: string,
  channels: readonly string[],
): string | undefined {
  const ns = parentNs === "" ? node : `${parentNs}|${node}`;
  const idOf = (kind: string, trigger: unknown) =>
    uuid5(JSON.stringify([ns, String(step), node, kind, trigger]), checkpointId);
  for (const channel of new Set([`branch:to:${node}`, ...channels])) {
    if (idOf(PULL, [channel]) === taskId) return `pull:${channel}`;
  }
  for (let index = 0; index < MAX_SEND_INDEX; index++) {
    if (idOf(PUSH, String(index)) === taskId) return `push:${index}`;
  }
  return undefined;
}
