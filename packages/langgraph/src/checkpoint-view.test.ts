import { isLedgerUnavailableError } from "@durable-tools/core";
import { emptyCheckpoint, MemorySaver } from "@langchain/langgraph-checkpoint";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CheckpointLineage } from "./checkpoint-lineage.js";
import { checkpointView } from "./checkpoint-view.js";
import { RunRecords } from "./run-records.js";

/** A MemorySaver (the view reads what it stores) that counts the checkpoint ids it is asked for. */
class CountingSaver extends MemorySaver {
  readonly reads: string[] = [];
  override async getTuple(config: Parameters<MemorySaver["getTuple"]>[0]) {
    this.reads.push(config.configurable?.checkpoint_id as string);
    return super.getTuple(config);
  }
}

/** Stores checkpoint `id`, built on `parentId`, written at `step`, in thread "t". */
async function store(saver: MemorySaver, id: string, parentId: string, step: number): Promise<void> {
  const parent = { configurable: { thread_id: "t", checkpoint_ns: "", checkpoint_id: parentId } };
  await saver.put(parent, { ...emptyCheckpoint(), id }, { source: "loop", step, parents: {} });
}

function scope(lineage: CheckpointLineage, checkpointer: unknown) {
  return { threadId: "t", lineage, runs: undefined, run: undefined, checkpointer, stepName: "charge" };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("checkpointView, for a checkpoint not in memory", () => {
  for (const wait of ["all", "root"] as const) {
    it(`reads a stored checkpoint at once, and learns it (wait ${wait})`, async () => {
      const lineage = new CheckpointLineage();
      const checkpointer = new CountingSaver();
      await store(checkpointer, "c2", "c1", 2);
      const { reads } = checkpointer;
      const view = checkpointView(scope(lineage, checkpointer), wait);
      const origin = await view.origin("", "c2");
      expect(origin).toMatchObject({ parentId: "c1", source: "loop", step: 2 });
      expect(lineage.peek("t", "", "c2")).toEqual(origin);
      expect(await view.origin("", "c2")).toEqual(origin);
      expect(reads).toEqual(["c2"]);
    });
  }

  it("without waiting (durability exit), reads only the root checkpoint the run started from", async () => {
    const lineage = new CheckpointLineage();
    const checkpointer = new CountingSaver();
    await store(checkpointer, "c2", "c1", 2);
    const { reads } = checkpointer;
    const runs = new RunRecords();
    const run = {};
    // LangGraph hands every checkpointer call of a run its config.control.
    const load = { control: run, configurable: { thread_id: "t", checkpoint_ns: "" } };
    const started = runs.loading(load);
    if (started !== undefined) started.start.checkpointId = "c2";
    const view = checkpointView({ ...scope(lineage, checkpointer), runs, run }, "none");
    // A checkpoint of this run: "exit" has not stored it, so no read.
    expect(await view.origin("", "c3")).toBeUndefined();
    expect(await view.origin("sub:1", "c2")).toBeUndefined();
    expect(reads).toEqual([]);
    // The checkpoint it resumed from is stored.
    expect(await view.origin("", "c2")).toMatchObject({ parentId: "c1", step: 2 });
    expect(reads).toEqual(["c2"]);
  });

  it("waits for one not stored yet, reads it again after the wait, and fails closed if it never comes", async () => {
    vi.useFakeTimers();
    const checkpointer = new CountingSaver();
    const { reads } = checkpointer;
    const view = checkpointView(scope(new CheckpointLineage(), checkpointer), "root");
    // Handed over and forgotten before the step asked: no put wakes the wait; it lands meanwhile.
    const landed = view.origin("", "c2");
    await vi.advanceTimersByTimeAsync(5_000);
    await store(checkpointer, "c2", "c1", 2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await landed).toMatchObject({ parentId: "c1", step: 2 });
    expect(reads).toEqual(["c2", "c2"]);

    const never = view.origin("", "c9").catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10_000);
    const error = await never;
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /checkpoint c9 of thread t was not handed to the DurableCheckpointer/,
    );
  });
});
