import { describe, expect, it } from "vitest";
import { MAX_PER_RUN, RunRecords } from "./run-records.js";

/** A load's config as a LangGraph run makes it (`control`: the run). */
const load = (control: object, ns: string, extra: Record<string, unknown> = {}) => ({
  control,
  configurable: { thread_id: "t", checkpoint_ns: ns, ...extra },
});

describe("RunRecords", () => {
  it("takes a run's first root load as its start, and no later one", () => {
    const runs = new RunRecords();
    const run = {};
    const first = runs.loading(load(run, ""));
    expect(first?.addressed).toBe(false);
    expect(runs.startedFrom(run, "t")).toBeUndefined(); // until the load returns a checkpoint
    if (first !== undefined) first.start.checkpointId = "c1";
    expect(runs.loading(load(run, "", { checkpoint_id: "c0" }))).toBeUndefined();
    expect(runs.startedFrom(run, "t")).toEqual({ checkpointId: "c1", superseded: false });
    expect(runs.startedFrom({}, "t")).toBeUndefined(); // another run
  });

  it("records nothing for a load outside a run", () => {
    const runs = new RunRecords();
    expect(runs.loading({ configurable: { thread_id: "t", checkpoint_ns: "sub:1" } })).toBeUndefined();
    expect(runs.loadedIn(undefined, "t", "sub:1")).toBeUndefined();
  });

  it("past its bound, a namespace it did not keep is not known, never 'not loaded'", () => {
    const runs = new RunRecords();
    const run = {};
    for (let i = 0; i < MAX_PER_RUN; i++) runs.loading(load(run, `sub:${i}`));
    expect(runs.loadedIn(run, "t", "sub:0")).toBe(true);
    expect(runs.loadedIn(run, "t", "never")).toBe(false);
    runs.loading(load(run, "late:1"));
    expect(runs.loadedIn(run, "t", "late:1")).toBeUndefined();
    expect(runs.loadedIn(run, "t", "never")).toBeUndefined();
    expect(runs.loadedIn(run, "t", "sub:0")).toBe(true);
  });

  describe("subgraphOrdinal: a subgraph's place among those its task invoked in one attempt", () => {
    /** A subgraph's load: the invoking task `task:1` (its metadata), at `attempt`, its counter `counter`. */
    const subgraphLoad = (run: object, counter: number, attempt: number) => ({
      ...load(run, counter === 0 ? "task:1" : `task:1|${counter}`),
      metadata: { langgraph_checkpoint_ns: "task:1" },
      executionInfo: { nodeAttempt: attempt },
    });

    it("is the counter in the first attempt, and counts again from each retry's first subgraph", () => {
      const runs = new RunRecords();
      const run = {};
      for (const [counter, attempt] of [
        [0, 1],
        [1, 1],
        [2, 2],
        [3, 2],
        [4, 3],
      ] as const) {
        runs.loading(subgraphLoad(run, counter, attempt));
      }
      expect([0, 1, 2, 3, 4].map((counter) => runs.subgraphOrdinal(run, "t", "task:1", counter))).toEqual([
        0, 1, 0, 1, 0,
      ]);
      expect(runs.subgraphOrdinal(run, "t", "task:1", 5)).toBeUndefined(); // never loaded
      expect(runs.subgraphOrdinal({}, "t", "task:1", 1)).toBeUndefined(); // another run
    });

    it("is not known where a subgraph that never loads may stand between two attempts", () => {
      const runs = new RunRecords();
      const run = {};
      // Counter 1 (attempt 1) and 2 (attempt 2) were subgraphs that store no checkpoints: which
      // attempt 2 began with cannot be told.
      runs.loading(subgraphLoad(run, 0, 1));
      runs.loading(subgraphLoad(run, 3, 2));
      expect(runs.subgraphOrdinal(run, "t", "task:1", 0)).toBe(0);
      expect(runs.subgraphOrdinal(run, "t", "task:1", 3)).toBeUndefined();
    });

    it("takes a load without executionInfo for the first attempt", () => {
      const runs = new RunRecords();
      const run = {};
      runs.loading({ ...load(run, "task:1|2"), metadata: { langgraph_checkpoint_ns: "task:1" } });
      expect(runs.subgraphOrdinal(run, "t", "task:1", 2)).toBe(2);
    });
  });
});
