import { uuid5 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import type { CheckpointOrigin } from "./checkpoint-lineage.js";
import { type CheckpointView, stableNamespace } from "./stable-namespace.js";

/** The task id LangGraph 1.7 gives a pull task (algo.ts, _prepareSingleTask). */
const pullTaskId = (ns: string, step: number, node: string, trigger: string, checkpointId: string) =>
  uuid5(JSON.stringify([ns, String(step), node, "__pregel_pull", [trigger]]), checkpointId);
const sendTaskId = (ns: string, step: number, node: string, index: number, checkpointId: string) =>
  uuid5(JSON.stringify([ns, String(step), node, "__pregel_push", String(index)]), checkpointId);

const ROOT = "1f000000-0000-6000-8000-000000000001";
const SUB = "1f000000-0000-6000-8000-000000000002";

function lookup(origins: Record<string, CheckpointOrigin>, sends?: number): CheckpointView {
  return {
    origin: async (ns, id) => origins[`${ns}/${id}`],
    stored: async () => undefined,
    sendCount: async () => sends,
  };
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

  // Each test below schedules its Sends from its own checkpoint: Send task ids are cached per checkpoint.
  const sendsFrom = (checkpointId: string, sends?: number) => {
    const view = lookup(
      { [`/${checkpointId}`]: { parentId: "p0", source: "loop", step: 3, versions: {} } },
      sends,
    );
    const nsOf = (index: number) => `outer:${sendTaskId("outer", 4, "outer", index, checkpointId)}`;
    return { view, nsOf, map: { "": checkpointId } };
  };

  it("finds a Send at any index below the scheduling checkpoint's Send count, whatever the count", async () => {
    const { view, nsOf, map } = sendsFrom("1f000000-0000-6000-8000-000000000003", 5_000);
    for (const index of [63, 64, 100, 4_999]) {
      expect(await stableNamespace(nsOf(index), map, view)).toBe(`outer@after:p0|step:4|push:${index}`);
    }
  });

  it("stops at the Send count, and without one at the first indexes", async () => {
    const counted = sendsFrom("1f000000-0000-6000-8000-000000000004", 70);
    expect(await stableNamespace(counted.nsOf(69), counted.map, counted.view)).toBe(
      "outer@after:p0|step:4|push:69",
    );
    expect(await stableNamespace(counted.nsOf(70), counted.map, counted.view)).toBeUndefined();
    const uncounted = sendsFrom("1f000000-0000-6000-8000-000000000005");
    expect(await stableNamespace(uncounted.nsOf(63), uncounted.map, uncounted.view)).toBe(
      "outer@after:p0|step:4|push:63",
    );
    expect(await stableNamespace(uncounted.nsOf(64), uncounted.map, uncounted.view)).toBeUndefined();
  });

  it("counts the Sends only when the first indexes do not match", async () => {
    let counts = 0;
    const { view, nsOf, map } = sendsFrom("1f000000-0000-6000-8000-000000000006");
    const counting: CheckpointView = {
      ...view,
      sendCount: async () => {
        counts++;
        return 200;
      },
    };
    expect(await stableNamespace(nsOf(3), map, counting)).toBe("outer@after:p0|step:4|push:3");
    expect(counts).toBe(0);
    expect(await stableNamespace(nsOf(150), map, counting)).toBe("outer@after:p0|step:4|push:150");
    expect(counts).toBe(1);
  });

  it("takes the Send count from the scheduling checkpoint's origin when the checkpointer saw it: no read", async () => {
    let reads = 0;
    const checkpointId = "1f000000-0000-6000-8000-000000000007";
    const view: CheckpointView = {
      origin: async () => ({ parentId: "p0", source: "loop", step: 3, versions: {}, sends: 200 }),
      stored: async () => undefined,
      sendCount: async () => {
        reads++;
        return undefined;
      },
    };
    const ns = `outer:${sendTaskId("outer", 4, "outer", 150, checkpointId)}`;
    expect(await stableNamespace(ns, { "": checkpointId }, view)).toBe("outer@after:p0|step:4|push:150");
    expect(reads).toBe(0);
  });

  it("names the second, third... subgraph a task invokes by its place after the task", async () => {
    const innerTask = pullTaskId(`${outerNs}|1|inner`, 0, "inner", "branch:to:inner", SUB);
    const ns = `${outerNs}|1|inner:${innerTask}`;
    const second = { "": ROOT, [`${outerNs}|1`]: SUB };
    expect(await stableNamespace(`${outerNs}|1`, second, lookup(origins))).toBe(
      "outer@after:p0|step:4|pull:branch:to:outer|#1",
    );
    const subOrigin = { parentId: null, source: "input", step: -1, versions: {} };
    expect(
      await stableNamespace(ns, second, lookup({ ...origins, [`${outerNs}|1/${SUB}`]: subOrigin })),
    ).toBe("outer@after:p0|step:4|pull:branch:to:outer|#1|inner@step:0|pull:branch:to:inner");
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
  });

  it("keeps a level without a task id (a subgraph with `checkpointer: true`) as LangGraph names it", async () => {
    expect(await stableNamespace("outer", { "": ROOT }, lookup(origins))).toBe("outer");
    expect(await stableNamespace("outer|inner", { "": ROOT }, lookup({}))).toBe("outer|inner");
  });
});
