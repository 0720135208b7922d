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
});
