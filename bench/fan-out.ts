/*
 * Fan-out: many tasks of one superstep writing on one checkpoint (a Send to thousands of workers, a
 * map over documents). A saver whose putWrites read or rewrote what earlier writes left would slow
 * down as they accumulate: quadratic for the whole step. This times each saver's putWrites over the
 * first and the last WINDOW writes of FAN_OUT single-write tasks, and the getTuple that reads them all;
 * last / first near 1 means a write's cost does not grow with the writes before it.
 */
import { performance } from "node:perf_hooks";
import { type BaseCheckpointSaver, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { median, round1, round2 } from "./stats.js";

export const FAN_OUT = 5_000;
const WINDOW = 500;
const IN_FLIGHT = 64; // LangGraph issues each task's putWrites as it finishes: many at once

export interface FanOutFigures {
  /** µs per putWrites, over the first WINDOW tasks. */
  firstWritesUs: number;
  /** µs per putWrites, over the last WINDOW tasks. */
  lastWritesUs: number;
  lastOverFirst: number;
  /** ms for the getTuple that reads the checkpoint with all FAN_OUT writes. */
  getTupleMs: number;
}

async function writeWindow(
  saver: BaseCheckpointSaver,
  config: Parameters<BaseCheckpointSaver["putWrites"]>[0],
  from: number,
  to: number,
): Promise<number> {
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = from; i < to; i++) {
    const task = `task-${String(i).padStart(6, "0")}`;
    inFlight.push(saver.putWrites(config, [["results", { doc: i, summary: "x".repeat(50) }]], task));
    if (inFlight.length >= IN_FLIGHT) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  return ((performance.now() - start) * 1000) / (to - from);
}

/** One pass on a fresh thread of `saver`; checks that every write reads back. */
async function fanOutOnce(saver: BaseCheckpointSaver, threadId: string): Promise<FanOutFigures> {
  const config = await saver.put(
    { configurable: { thread_id: threadId, checkpoint_ns: "" } },
    emptyCheckpoint(),
    { source: "loop", step: 1, parents: {} },
    {},
  );
  const firstWritesUs = await writeWindow(saver, config, 0, WINDOW);
  await writeWindow(saver, config, WINDOW, FAN_OUT - WINDOW);
  const lastWritesUs = await writeWindow(saver, config, FAN_OUT - WINDOW, FAN_OUT);
  const start = performance.now();
  const tuple = await saver.getTuple(config);
  const getTupleMs = performance.now() - start;
  if (tuple?.pendingWrites?.length !== FAN_OUT) {
    throw new Error(`fan-out: ${threadId} read back ${tuple?.pendingWrites?.length} writes, not ${FAN_OUT}`);
  }
  await saver.deleteThread(threadId);
  return { firstWritesUs, lastWritesUs, lastOverFirst: lastWritesUs / firstWritesUs, getTupleMs };
}

/** Medians over `passes` passes per saver (after one unrecorded warm-up pass), savers interleaved. */
export async function measureFanOut(
  savers: Record<string, BaseCheckpointSaver>,
  passes: number,
): Promise<Record<string, FanOutFigures>> {
  const samples: Record<string, FanOutFigures[]> = Object.fromEntries(
    Object.keys(savers).map((name) => [name, []]),
  );
  for (let pass = 0; pass <= passes; pass++) {
    for (const [name, saver] of Object.entries(savers)) {
      const figures = await fanOutOnce(saver, `bench-fan-out-${pass}`);
      if (pass > 0) samples[name]?.push(figures);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, runs]) => {
      const of = (pick: (f: FanOutFigures) => number) => median(runs.map(pick));
      return [
        name,
        {
          firstWritesUs: round1(of((f) => f.firstWritesUs)),
          lastWritesUs: round1(of((f) => f.lastWritesUs)),
          lastOverFirst: round2(of((f) => f.lastOverFirst)),
          getTupleMs: round1(of((f) => f.getTupleMs)),
        },
      ];
    }),
  );
}
