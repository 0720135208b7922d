/*
 * Task writes on their way to Redis (writes-in-flight.ts): reads and deletes of the thread wait for
 * them, from the putWrites call on, serialization included; writes of any size go in one script.
 */
import { randomUUID } from "node:crypto";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { type Checkpoint, emptyCheckpoint, MemorySaver } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { slowSerde } from "../../../../test/support/slow-serde.js";
import { useRedisServer } from "../test-support.js";
import { RedisSaver } from "./redis-saver.js";

type RunnableConfig = Parameters<RedisSaver["getTuple"]>[0];

const redis = useRedisServer();
let prefixes = 0;
const nextPrefix = (name: string) => `${name}${++prefixes}`;

const checkpoint = (n: number): Checkpoint => ({
  ...emptyCheckpoint(),
  id: `1f000000-0000-6000-8000-${String(n).padStart(12, "0")}`,
  ts: "2026-12-07T00:00:00.000Z",
});
const metadata = (step: number) => ({ source: "loop" as const, step, parents: {} });
const root = (thread: string): RunnableConfig => ({ configurable: { thread_id: thread, checkpoint_ns: "" } });

/** A saver on its own prefix with thread `t` holding checkpoint 1; `first` is that checkpoint's config. */
async function started(name: string) {
  const saver = new RedisSaver(redis.admin, { prefix: nextPrefix(name), serde: slowSerde() });
  const first = await saver.put(root("t"), checkpoint(1), metadata(0), {});
  return { saver, first };
}

describe("RedisSaver reads and deletes after the thread's task writes in flight", () => {
  it("reads a thread after its writes, even ones still being serialized: getTuple and list see them", async () => {
    const { saver, first } = await started("reads");
    const written = saver.putWrites(first, [["out", "slow"]], "task-r", "~0");
    expect((await saver.getTuple(first))?.pendingWrites).toEqual([["task-r", "out", "slow"]]);
    await written;

    const again = saver.putWrites(first, [["again", "slow"]], "task-l", "~1");
    const listed = [];
    for await (const tuple of saver.list(root("t"))) listed.push(tuple);
    expect(listed[0]?.pendingWrites).toContainEqual(["task-l", "again", "slow"]);
    await again;
  });

  it("deletes a thread after its writes, even ones still being serialized: they cannot bring it back", async () => {
    const { saver, first } = await started("delete");
    const written = saver.putWrites(first, [["out", "slow"]], "task-d", "~0");
    await saver.deleteThread("t");
    await written;
    expect(await redis.admin.exists(...saver.threadKeys("t"))).toBe(0);
    expect(await saver.getTuple(root("t"))).toBeUndefined();
  });

  it("is not held up by writes that failed: a serializer error or a Redis error goes to the writer", async () => {
    const { saver, first } = await started("failed");
    const keys = saver.threadKeys("t");
    await redis.admin.set(keys[3] as string, "not a hash"); // the writes hash replaced: WRONGTYPE
    // Both outcomes are taken at once (a rejection nobody handles yet would be an unhandled one).
    const outcomes = Promise.allSettled([
      saver.putWrites(first, [["out", "unserializable"]], "task-s", "~0"),
      saver.putWrites(first, [["out", 1]], "task-w", "~1"),
    ]);
    await saver.deleteThread("t");
    const [refused, failed] = await outcomes;
    expect(refused).toEqual({ status: "rejected", reason: new TypeError("cannot serialize this value") });
    expect(failed).toMatchObject({
      status: "rejected",
      reason: { message: expect.stringMatching(/^WRONGTYPE/) },
    });
    expect(await redis.admin.exists(...keys)).toBe(0);
  });

  it("stores 50,000 writes of one call (more arguments than a JavaScript call takes) in one script", async () => {
    const { saver, first } = await started("wide");
    const writes = Array.from({ length: 50_000 }, (_, i): [string, unknown] => [`out${i}`, i]);
    await saver.putWrites(first, writes, "task-wide", "~0");
    expect(await redis.admin.hlen(saver.threadKeys("t")[3] as string)).toBe(50_000);
  });

  it("does the same bookkeeping for each of N concurrent writes on one thread, whatever N", async () => {
    // Tests may not assert time: this counts the promises the saver waits on while writing, which
    // would grow with the writes in flight if each write waited for the others.
    const { saver, first } = await started("concurrent");
    const original = Promise.allSettled;
    const awaitedPerWrite: number[] = [];
    for (const n of [500, 2_000]) {
      let awaited = 0;
      Promise.allSettled = function (this: PromiseConstructor, values: Iterable<unknown>) {
        const list = [...values];
        awaited += list.length;
        return original.call(this, list);
      } as typeof Promise.allSettled;
      try {
        await Promise.all(
          Array.from({ length: n }, (_, i) => saver.putWrites(first, [["out", i]], `task-${n}-${i}`, "~0")),
        );
      } finally {
        Promise.allSettled = original;
      }
      awaitedPerWrite.push(awaited / n);
    }
    expect(awaitedPerWrite[1]).toBe(awaitedPerWrite[0]);
  });
});

describe("RedisSaver under a LangGraph run", () => {
  const State = Annotation.Root({
    trail: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  });
  const graphOn = (checkpointer: RedisSaver | MemorySaver) =>
    new StateGraph(State)
      .addNode("a", () => ({ trail: ["a"] }))
      .addNode("b", () => ({ trail: ["b"] }))
      .addNode("c", () => ({ trail: ["c"] }))
      .addEdge(START, "a")
      .addEdge("a", "b")
      .addEdge("b", "c")
      .addEdge("c", END)
      .compile({ checkpointer });

  /** Per checkpoint, newest first: its step and its pending writes (task ids differ between runs). */
  async function history(saver: RedisSaver | MemorySaver, thread: string) {
    const steps = [];
    for await (const tuple of saver.list({ configurable: { thread_id: thread } })) {
      steps.push({
        step: tuple.metadata?.step,
        writes: tuple.pendingWrites?.map(([, channel, value]) => [channel, value]),
      });
    }
    return steps;
  }

  it.each(["async", "sync"] as const)(
    "leaves every checkpoint with the task writes MemorySaver keeps for it (durability %s)",
    async (durability) => {
      const saver = new RedisSaver(redis.admin, { prefix: nextPrefix(`run-${durability}`) });
      const memory = new MemorySaver();
      const thread = randomUUID();
      for (const checkpointer of [saver, memory]) {
        const out = await graphOn(checkpointer).invoke(
          { trail: [] },
          { configurable: { thread_id: thread }, durability },
        );
        expect(out).toEqual({ trail: ["a", "b", "c"] });
      }
      const expected = await history(memory, thread);
      expect(expected.map(({ step }) => step)).toEqual([3, 2, 1, 0, -1]);
      expect(await history(saver, thread)).toEqual(expected);
    },
  );
});
