import { uuid5 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import type { CheckpointOrigin } from "./checkpoint-lineage.js";
import { stableNamespace } from "./stable-namespace.js";

/** The task id LangGraph 1.7 gives a pull task (algo.ts, _prepareSingleTask). */
const pullTaskId = (ns: string, step: number, node: string, trigger: string, checkpointId: string) =>
  uuid5(JSON.stringify([ns, String(step), node, "__pregel_pull", [trigger]]), checkpointId);
const sendTaskId = (ns: string, step: number, node: string, index: number, checkpointId: string) =>
  uuid5(JSON.stringify([ns, String(step), node, "__pregel_push", String(index)]), checkpointId);

const ROOT = "1f000000-0000-6000-8000-000000000001";
const SUB = "1f000000-0000-6000-8000-000000000002";

function lookup(origins: Record<string, CheckpointOrigin>) {
  return async (ns: string, id: string) => origins[`${ns}/${id}`];
}

describe("stableNamespace", () => {
  const outerTask = pullTaskId("outer", 4, "outer", "branch:to:outer", ROOT);
  const outerNs = `outer:${outerTask}`;
  const origins: Record<string, CheckpointOrigin> = {
    [`/${ROOT}`]: { parentId: "p0", source: "loop", step: 3, versions: { log: 1 } },
    [`${outerNs}/${SUB}`]: { parentId: null, source: "input", step: -1, versions: {} },
  };
  const map = { "": ROOT, [outerNs]: SUB };

  it("names each level by node, step, trigger and (at the root) the scheduling checkpoint's parent", async () => {
    const innerTask = sendTaskId(`${outerNs}|inner`, 0, "inner", 1, SUB);
    const ns = `${outerNs}|inner:${innerTask}`;
    expect(await stableNamespace(ns, map, lookup(origins))).toBe(
      "outer@after:p0|step:4|pull:branch:to:outer|inner@step:0|push:1",
    );
  });

  it("finds a trigger among the scheduling checkpoint's channels", async () => {
    const task = pullTaskId("outer", 4, "outer", "log", ROOT);
    expect(await stableNamespace(`outer:${task}`, { "": ROOT }, lookup(origins))).toBe(
      "outer@after:p0|step:4|pull:log",
    );
  });

  it("keeps the task id of a level scheduled by a fork or an update (a branch runs anew)", async () => {
    const forked = { [`/${ROOT}`]: { parentId: "p0", source: "fork", step: 3, versions: {} } };
    expect(await stableNamespace(outerNs, { "": ROOT }, lookup(forked))).toBe(outerNs);
  });

  it("is undefined when a level cannot be resolved", async () => {
    // A task id no candidate produces (another LangGraph version, a functional-API call).
    expect(await stableNamespace("outer:not-a-task-id", { "": ROOT }, lookup(origins))).toBeUndefined();
    // The scheduling checkpoint is not in the map, or its origin is unknown.
    expect(await stableNamespace(outerNs, {}, lookup(origins))).toBeUndefined();
    expect(await stableNamespace(outerNs, { "": ROOT }, lookup({}))).toBeUndefined();
    // A segment without a task id.
    expect(await stableNamespace("outer", { "": ROOT }, lookup(origins))).toBeUndefined();
  });
});
