import { uuid5 } from "@langchain/langgraph-checkpoint";

/*
 * How LangGraph 1.7 ids its tasks (algo.ts, _prepareSingleTask): uuid5 of [namespace, step, node,
 * kind, trigger] in the id of the checkpoint that schedules the task.
 */

/** The kind of a task a channel triggered (an edge to its node, or a channel it reads). */
export const PULL = "__pregel_pull";
/** The kind of a task a Send scheduled (and of a functional-API call). */
export const PUSH = "__pregel_push";

/** The namespace LangGraph ids a task of `node` in, scheduled in namespace `parentNs`. */
export function taskNamespace(parentNs: string, node: string): string {
  return parentNs === "" ? node : `${parentNs}|${node}`;
}

/** LangGraph's id of the pull task of `node` that `channel` triggered. */
export function pullTaskId(ns: string, step: number, node: string, channel: string, checkpointId: string) {
  return uuid5(JSON.stringify([ns, String(step), node, PULL, [channel]]), checkpointId);
}

/** LangGraph's id of the task of `node` that the Send at `index` scheduled. */
export function pushTaskId(ns: string, step: number, node: string, index: string, checkpointId: string) {
  return uuid5(JSON.stringify([ns, String(step), node, PUSH, index]), checkpointId);
}
