import { RedisSaver } from "@durable-tools/redis/saver";
import { MemorySaver } from "@langchain/langgraph";
import type { BaseCheckpointSaver, Checkpoint, CheckpointMetadata } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { CHANNEL_SOURCES_KEY, ChannelDeltas } from "./channel-deltas.js";
import { CheckpointValueMissingError } from "./errors.js";
import { durable, savers, thread, threeStepGraph } from "./test-support.js";

const DOC = "d".repeat(10_000);

/** The DurableCheckpointer under test, over `saver`. */
const wrap = (saver: BaseCheckpointSaver, channelDeltas?: boolean) =>
  durable(saver, channelDeltas === undefined ? {} : { channelDeltas }).checkpointer;

/** How many checkpoints the saver itself stores with a value for `channel`. */
async function storedWith(saver: BaseCheckpointSaver, threadId: string, channel: string): Promise<number> {
  let count = 0;
  for await (const tuple of saver.list(thread(threadId))) {
    if (Object.hasOwn(tuple.checkpoint.channel_values, channel)) count += 1;
  }
  return count;
}

/** Every checkpoint of a thread as read through `checkpointer`: step and channel values, newest first. */
async function history(checkpointer: BaseCheckpointSaver, threadId: string) {
  const out: Array<{ step: number; values: Record<string, unknown> }> = [];
  for await (const tuple of checkpointer.list(thread(threadId))) {
    out.push({ step: tuple.metadata?.step ?? Number.NaN, values: tuple.checkpoint.channel_values });
  }
  return out;
}

describe.each(savers)("channel deltas over $name", ({ create }) => {
  let close = () => {};
  afterEach(() => close());

  it("stores an unchanged channel once, and reads every checkpoint back as the bare saver does", async () => {
    const bare = create();
    const wrapped = create();
    close = () => {
      bare.close();
      wrapped.close();
    };
    const checkpointer = wrap(wrapped.saver);
    for (const app of [
      threeStepGraph().compile({ checkpointer: bare.saver }),
      threeStepGraph().compile({ checkpointer }),
    ]) {
      await app.invoke({ doc: DOC, log: [] }, thread("t"));
      await app.invoke({ log: ["again"] }, thread("t"));
    }
    // The bare saver stores the document in each of the 9 checkpoints after the first input.
    expect(await storedWith(bare.saver, "t", "doc")).toBe(9);
    expect(await storedWith(wrapped.saver, "t", "doc")).toBe(1);
    expect(await history(checkpointer, "t")).toEqual(await history(bare.saver, "t"));
    const state = await threeStepGraph().compile({ checkpointer }).getState(thread("t"));
    expect(state.values).toEqual({ doc: DOC, log: ["a", "b", "c", "again", "a", "b", "c"] });
    expect(state.metadata).not.toHaveProperty(CHANNEL_SOURCES_KEY);
  });

  it("a new process (no remembered shapes) reads the thread whole and goes on storing deltas", async () => {
    const made = create();
    close = made.close;
    await threeStepGraph()
      .compile({ checkpointer: wrap(made.saver) })
      .invoke({ doc: DOC, log: [] }, thread("t"));
    const restarted = wrap(made.saver);
    const app = threeStepGraph().compile({ checkpointer: restarted });
    expect((await app.getState(thread("t"))).values.doc).toBe(DOC);
    expect((await app.invoke({ log: ["x"] }, thread("t"))).doc).toBe(DOC);
    expect(await storedWith(made.saver, "t", "doc")).toBe(1);
  });

  it("continues a thread the bare saver wrote whole, without storing the document again", async () => {
    const made = create();
    close = made.close;
    await threeStepGraph().compile({ checkpointer: made.saver }).invoke({ doc: DOC, log: [] }, thread("t"));
    const before = await storedWith(made.saver, "t", "doc");
    const app = threeStepGraph().compile({ checkpointer: wrap(made.saver) });
    const result = await app.invoke({ log: ["x"] }, thread("t"));
    expect(result).toEqual({ doc: DOC, log: ["a", "b", "c", "x", "a", "b", "c"] });
    expect(await storedWith(made.saver, "t", "doc")).toBe(before);
  });

  it("stores whole checkpoints with channelDeltas: false", async () => {
    const made = create();
    close = made.close;
    await threeStepGraph()
      .compile({ checkpointer: wrap(made.saver, false) })
      .invoke({ doc: DOC, log: [] }, thread("t"));
    expect(await storedWith(made.saver, "t", "doc")).toBe(4);
  });
});

describe("channel deltas", () => {
  it("are on by default for MemorySaver and SqliteSaver only", () => {
    const redis = new Redis({ lazyConnect: true });
    expect(ChannelDeltas.suitFor(new MemorySaver())).toBe(true);
    expect(ChannelDeltas.suitFor(new (class extends MemorySaver {})())).toBe(true);
    expect(ChannelDeltas.suitFor(SqliteSaver.fromConnString(":memory:"))).toBe(true);
    expect(ChannelDeltas.suitFor(new RedisSaver(redis))).toBe(false);
    redis.disconnect();
  });

  it("refuse to return a checkpoint whose value holder was deleted behind the wrapper's back", async () => {
    const saver = new MemorySaver();
    const checkpointer = wrap(saver);
    await threeStepGraph().compile({ checkpointer }).invoke({ doc: DOC, log: [] }, thread("t"));
    const checkpoints = saver.storage.t?.[""] ?? {};
    let holder: string | undefined;
    for await (const tuple of saver.list(thread("t"))) {
      if (Object.hasOwn(tuple.checkpoint.channel_values, "doc")) holder = tuple.checkpoint.id;
    }
    expect(holder).toBeDefined();
    delete checkpoints[holder as string];
    const error = await checkpointer.getTuple(thread("t")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointValueMissingError);
    expect(error).toMatchObject({ channel: "doc", holderCheckpointId: holder, threadId: "t" });
  });

  it("forget a deleted thread: the same ids written again are stored and read whole", async () => {
    const checkpointer = wrap(new MemorySaver());
    const first = checkpoint("c1", { doc: ["x", 1] });
    const second = checkpoint("c2", { doc: ["x", 1] });
    await checkpointer.put(root(), first, metadata(), { doc: 1 });
    await checkpointer.put(root("c1"), second, metadata(), {});
    await checkpointer.deleteThread("t");
    // c1 comes back without the document, so c2 may not point at it.
    await checkpointer.put(root(), checkpoint("c1", {}), metadata(), {});
    await checkpointer.put(root("c1"), second, metadata(), {});
    expect((await checkpointer.getTuple(root("c2")))?.checkpoint.channel_values).toEqual({ doc: "x" });
  });
});

type ChannelChange = "set" | "clear" | "keep";
const CHANNELS = ["a", "b", "c", "d"] as const;

/**
 * Property: for any tree of puts (linear runs and forks from any earlier checkpoint, channels set,
 * cleared or kept, newVersions naming what changed against the parent), every checkpoint reads back
 * with exactly the values it was put with, through a wrapper that remembers nothing, and the saver
 * stores a value only in the checkpoint where it changed.
 */
describe("channel deltas round trip", () => {
  const step = fc.record({
    parent: fc.nat(),
    changes: fc.record(
      Object.fromEntries(CHANNELS.map((c) => [c, fc.constantFrom<ChannelChange>("set", "clear", "keep")])),
    ) as fc.Arbitrary<Record<(typeof CHANNELS)[number], ChannelChange>>,
    value: fc.oneof(fc.string(), fc.integer(), fc.array(fc.string(), { maxLength: 3 })),
  });

  it("reads every checkpoint back whole and stores each value once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const saver = new MemorySaver();
        const writer = durable(saver, { optimisticConcurrency: false }).checkpointer;
        const put: Checkpoint[] = [];
        const changed = new Map<string, Set<string>>();
        for (const [index, { parent: pick, changes, value }] of steps.entries()) {
          // Index 0 of the choice is "no parent" (a new thread), the rest pick an earlier checkpoint.
          const parent = pick % (put.length + 1) === 0 ? undefined : put[(pick % (put.length + 1)) - 1];
          const values: Record<string, unknown> = { ...parent?.channel_values };
          const versions: Record<string, number> = {
            ...(parent?.channel_versions as Record<string, number>),
          };
          const newVersions: Record<string, number> = {};
          for (const channel of CHANNELS) {
            const change = parent === undefined && changes[channel] === "keep" ? "set" : changes[channel];
            if (change === "keep") continue;
            if (change === "set") values[channel] = [value, index];
            else delete values[channel];
            versions[channel] = (versions[channel] ?? 0) + 1;
            newVersions[channel] = versions[channel];
          }
          const next: Checkpoint = {
            v: 4,
            id: `c${String(index).padStart(3, "0")}`,
            ts: new Date(index).toISOString(),
            channel_values: values,
            channel_versions: versions,
            versions_seen: {},
          };
          await writer.put(root(parent?.id), next, metadata(), newVersions);
          put.push(next);
          changed.set(next.id, new Set(Object.keys(newVersions).filter((c) => c in values)));
        }
        const reader = wrap(saver);
        for (const expected of put) {
          const tuple = await reader.getTuple(root(expected.id));
          expect(tuple?.checkpoint.channel_values).toEqual(expected.channel_values);
        }
        for await (const stored of saver.list(thread("t"))) {
          expect(new Set(Object.keys(stored.checkpoint.channel_values))).toEqual(
            changed.get(stored.checkpoint.id),
          );
        }
        for await (const tuple of reader.list(thread("t"))) {
          const expected = put.find((c) => c.id === tuple.checkpoint.id);
          expect(tuple.checkpoint.channel_values).toEqual(expected?.channel_values);
        }
      }),
      { numRuns: 150 },
    );
  });
});

function root(checkpointId?: string) {
  return { configurable: { thread_id: "t", checkpoint_ns: "", checkpoint_id: checkpointId } };
}

function metadata(): CheckpointMetadata {
  return { source: "loop", step: 0, parents: {} };
}

function checkpoint(id: string, values: Record<string, [unknown, number]>): Checkpoint {
  return {
    v: 4,
    id,
    ts: new Date().toISOString(),
    channel_values: Object.fromEntries(Object.entries(values).map(([c, [v]]) => [c, v])),
    channel_versions: Object.fromEntries(Object.entries(values).map(([c, [, version]]) => [c, version])),
    versions_seen: {},
  };
}
