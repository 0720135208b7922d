import {
  type BaseCheckpointSaver,
  Command,
  END,
  interrupt,
  MemorySaver,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { type CheckpointMetadata, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import type { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";
import { type Durability, durable, State, thread } from "./test-support.js";

/*
 * A busy worker: while a task runs, other threads' checkpoints go through the same
 * DurableCheckpointer, more of them than its lineage remembers (10,000), so the checkpoint the task
 * runs in is forgotten before durableStep names it. The step must still run once: not stall and fail
 * (a wait for a checkpoint handed over long ago), and not run again under a new name on a resume.
 * Side effects are counted outside the ledger, exactly.
 */

const OTHER_THREADS = 101;
const PUTS_PER_THREAD = 100;

/** 10,100 checkpoint puts for other threads, each thread a chain of checkpoints, all at once. */
async function otherThreadsTraffic(checkpointer: DurableCheckpointer, round: number): Promise<void> {
  const chain = async (threadId: string) => {
    let parent: string | undefined;
    for (let step = 0; step < PUTS_PER_THREAD; step++) {
      const checkpoint = { ...emptyCheckpoint(), id: uuid6(step) };
      const metadata: CheckpointMetadata = { source: "loop", step, parents: {} };
      const configurable = { thread_id: threadId, checkpoint_ns: "", checkpoint_id: parent };
      await checkpointer.put({ configurable }, checkpoint, metadata, {});
      parent = checkpoint.id;
    }
  };
  await Promise.all(Array.from({ length: OTHER_THREADS }, (_, i) => chain(`busy-${round}-${i}`)));
}

/**
 * START -> prep -> pay -> END: `pay` waits out the other threads' traffic (while `traffic.on`), runs
 * the durable step "charge", then asks interrupt("ok?"); it logs the receipt and the answer.
 */
function prepThenPay(checkpointer: DurableCheckpointer) {
  const effects = { charges: 0, floods: 0 };
  const traffic = { on: true };
  const app = new StateGraph(State)
    .addNode("prep", async () => ({ log: ["prep"] }))
    .addNode("pay", async () => {
      if (traffic.on) await otherThreadsTraffic(checkpointer, ++effects.floods);
      const receipt = await durableStep("charge", () => `receipt-${++effects.charges}`);
      return { log: [receipt, interrupt("ok?") as string] };
    })
    .addEdge(START, "prep")
    .addEdge("prep", "pay")
    .addEdge("pay", END)
    .compile({ checkpointer: checkpointer as BaseCheckpointSaver });
  return { app, effects, traffic };
}

describe("durableStep whose checkpoint other threads' traffic pushed out of the lineage", () => {
  for (const durability of ["sync", "async"] as const satisfies Durability[]) {
    it(`runs the step once, and the run completes (durability ${durability})`, async () => {
      const { checkpointer } = durable(new MemorySaver());
      const { app, effects } = prepThenPay(checkpointer);
      const config = thread(`evicted-${durability}`, durability);
      const first = await app.invoke({ log: [] }, config);
      expect((first as { __interrupt__?: unknown[] }).__interrupt__).toHaveLength(1);
      expect(effects.charges).toBe(1);
      const out = await app.invoke(new Command({ resume: "yes" }), config);
      expect(effects).toEqual({ charges: 1, floods: 2 });
      expect(out.log).toEqual(["prep", "receipt-1", "yes"]);
    });
  }

  it('runs the step once across a resume under durability "exit" of a run under "async"', async () => {
    const { checkpointer } = durable(new MemorySaver());
    const { app, effects, traffic } = prepThenPay(checkpointer);
    // The first run is quiet: it records the step under its stable name, which the resume must find.
    traffic.on = false;
    const first = await app.invoke({ log: [] }, thread("evicted-exit", "async"));
    expect((first as { __interrupt__?: unknown[] }).__interrupt__).toHaveLength(1);
    expect(effects.charges).toBe(1);
    traffic.on = true;
    const out = await app.invoke(new Command({ resume: "yes" }), thread("evicted-exit", "exit"));
    expect(effects).toEqual({ charges: 1, floods: 1 });
    expect(out.log).toEqual(["prep", "receipt-1", "yes"]);
  });
});
