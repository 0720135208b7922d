/*
 * Task writes queued to ride with the thread's next put under durability "sync" (queued-writes.ts):
 * one script for a task's writes and the checkpoint that follows them, each putWrites settled by the
 * command that stored it; other writes sent at once; reads and deletes of the thread ordered after
 * its writes either way.
 */
import { randomUUID } from "node:crypto";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import {
  type Checkpoint,
  emptyCheckpoint,
  JsonPlusSerializer,
  MemorySaver,
} from "@langchain/langgraph-checkpoint";
import { ReplyError } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { serverWork, useRedisServer } from "../test-support.js";
import { RedisSaver } from "./redis-saver.js";

type RunnableConfig = Parameters<RedisSaver["getTuple"]>[0];

const redis = useRedisServer();
let prefixes = 0;
const nextPrefix = (name: string) => `${name}${++prefixes}`;

const checkpoint = (n: number, values: Record<string, unknown> = {}): Checkpoint => ({
  ...emptyCheckpoint(),
  id: `1f000000-0000-6000-8000-${String(n).padStart(12, "0")}`,
  ts: "2026-12-07T00:00:00.000Z",
  channel_values: values,
  channel_versions: Object.fromEntries(Object.keys(values).map((c) => [c, `00000000000${n}.AAAAAAAA`])),
});
const metadata = (step: number) => ({ source: "loop" as const, step, parents: {} });
const root = (thread: string): RunnableConfig => ({ configurable: { thread_id: thread, checkpoint_ns: "" } });

/**
 * A saver on its own prefix with thread `t` holding checkpoint 1. `first` is that checkpoint's config
 * as put returns it; `sync` is the same as LangGraph passes it to putWrites under durability "sync".
 */
async function started(name: string, options: ConstructorParameters<typeof RedisSaver>[1] = {}) {
  const saver = new RedisSaver(redis.admin, { prefix: nextPrefix(name), ...options });
  const first = await saver.put(root("t"), checkpoint(1), metadata(0), {});
  const sync = { ...first, durability: "sync" } as RunnableConfig;
  // Loads the scripts (EVAL once, then EVALSHA), so the work measured below is the steady state.
  await Promise.all([saver.putWrites(sync, [["warm", 0]], "warm-up", "~9"), saver.getTuple(first)]);
  return { saver, first, sync };
}

/**
 * LangGraph's serializer, except that it takes 50 ms over `slow` values: a write still being
 * serialized when the next call on its thread comes (ordering, not timing, is what tests assert).
 */
function slowOn(slow: string) {
  const serde = new JsonPlusSerializer();
  return {
    dumpsTyped: async (value: unknown) => {
      if (value === slow) await new Promise((resolve) => setTimeout(resolve, 50));
      return serde.dumpsTyped(value);
    },
    loadsTyped: (type: string, bytes: Uint8Array | string) => serde.loadsTyped(type, bytes),
  };
}

/** Command names only, in the order the server ran them. */
const names = (work: string[]) => work.map((line) => line.split(" ")[0]);

beforeAll(() => {
  expect(redis.admin).toBeDefined();
});

describe('RedisSaver task writes: riding with the next put under durability "sync", sent at once otherwise', () => {
  it("stores a task's writes inside the put made in the same turn: one script, writes first", async () => {
    const { saver, first, sync } = await started("ride");
    const next = checkpoint(2, { out: "ab" });
    const work = await serverWork(redis.admin, () =>
      Promise.all([
        saver.putWrites(sync, [["out", "a"]], "task-a", "~0"),
        saver.putWrites(sync, [["out", "b"]], "task-b", "~1"),
        saver.put(first, next, metadata(1), next.channel_versions),
      ]),
    );
    expect(names(work)).toEqual(["evalsha", "hsetnx", "zadd", "hsetnx", "zadd", "hset", "hset", "zadd"]);

    const before = await saver.getTuple(first);
    expect(before?.pendingWrites).toEqual([
      ["task-a", "out", "a"],
      ["task-b", "out", "b"],
      ["warm-up", "warm", 0],
    ]);
    expect((await saver.getTuple(root("t")))?.checkpoint.channel_values).toEqual({ out: "ab" });
  });

  it("keeps first-write-wins and special-channel overwrites within one carried batch", async () => {
    const { saver, first, sync } = await started("order");
    await Promise.all([
      saver.putWrites(sync, [["out", "first"]], "task-b", "~1"),
      saver.putWrites(sync, [["out", "second"]], "task-b", "~1"),
      saver.putWrites(sync, [["__error__", "boom 1"]], "task-a", "~0"),
      saver.putWrites(sync, [["__error__", "boom 2"]], "task-a", "~0"),
      saver.put(first, checkpoint(2), metadata(1), {}),
    ]);
    expect((await saver.getTuple(first))?.pendingWrites).toEqual([
      ["task-a", "__error__", "boom 2"],
      ["task-b", "out", "first"],
      ["warm-up", "warm", 0],
    ]);
  });

  it("resolves each putWrites only once its writes are in Redis, carried or alone", async () => {
    const { saver, first, sync } = await started("settle");
    const [writesKey] = saver.threadKeys("t").slice(3);
    const other = redis.client();
    const storedWhenResolved = async (write: Promise<void>) => {
      await write;
      return other.hlen(writesKey as string);
    };
    // Carried by a put; then alone (no put follows).
    const [carried] = await Promise.all([
      storedWhenResolved(saver.putWrites(sync, [["out", 1]], "task-1", "~0")),
      saver.put(first, checkpoint(2), metadata(1), {}),
    ]);
    expect(carried).toBe(2);
    expect(await storedWhenResolved(saver.putWrites(sync, [["out", 2]], "task-2", "~0"))).toBe(3);
  });

  it('sends writes outside durability "sync" at once, on their own, even when a put follows in the same turn', async () => {
    const { saver, first } = await started("at-once");
    for (const durability of [undefined, "async"]) {
      const config = { ...first, durability } as RunnableConfig;
      const work = await serverWork(redis.admin, () =>
        Promise.all([
          saver.putWrites(config, [["out", 1]], `task-${durability}`, "~0"),
          saver.put(first, checkpoint(2), metadata(1), {}),
        ]),
      );
      // Two scripts: the writes' own (HSETNX, ZADD) and the put's (HSET, ZADD), in either order.
      expect(names(work).sort()).toEqual(["evalsha", "evalsha", "hset", "hsetnx", "zadd", "zadd"]);
      expect(
        work.filter((line) => line.startsWith("evalsha ")).map((line) => line.split(" ").length),
      ).toEqual(
        // The writes' script: its name, sha, numkeys, five keys, ttl and one triple; no write count.
        expect.arrayContaining([1 + 1 + 1 + 5 + 1 + 3]),
      );
    }
  });

  it("sends writes no put takes on their own by the next turn of the event loop", async () => {
    const { saver, sync } = await started("alone");
    const work = await serverWork(redis.admin, () => saver.putWrites(sync, [["out", 1]], "task-1", "~0"));
    expect(names(work)).toEqual(["evalsha", "hsetnx", "zadd"]);
  });

  it("never lets one thread's writes ride with another thread's put", async () => {
    const { saver, first, sync } = await started("threads");
    const elsewhere = await saver.put(root("u"), checkpoint(1), metadata(0), {});
    const work = await serverWork(redis.admin, () =>
      Promise.all([
        saver.putWrites(sync, [["out", "t"]], "task-t", "~0"),
        saver.put(elsewhere, checkpoint(2), metadata(1), {}),
      ]),
    );
    // u's put (record, index), then t's writes on their own.
    expect(names(work)).toEqual(["evalsha", "hset", "zadd", "evalsha", "hsetnx", "zadd"]);
    expect((await saver.getTuple(first))?.pendingWrites).toContainEqual(["task-t", "out", "t"]);
    expect((await saver.getTuple(elsewhere))?.pendingWrites).toEqual([]);
  });

  it.each(["sync", "async"] as const)(
    "reads a thread after its writes, even ones still being serialized: getTuple and list see them (%s)",
    async (durability) => {
      const { saver, first } = await started("reads", { serde: slowOn("slow") });
      const config = { ...first, durability } as RunnableConfig;
      const written = saver.putWrites(config, [["out", "slow"]], "task-r", "~0");
      const tuple = await saver.getTuple(first);
      expect(tuple?.pendingWrites).toContainEqual(["task-r", "out", "slow"]);
      await written;

      const again = saver.putWrites(config, [["again", "slow"]], "task-l", "~0");
      const listed = [];
      for await (const t of saver.list(root("t"))) listed.push(t);
      expect(listed[0]?.pendingWrites).toContainEqual(["task-l", "again", "slow"]);
      await again;
    },
  );

  it.each(["sync", "async"] as const)(
    "deletes a thread after its writes, even ones still being serialized: they cannot bring it back (%s)",
    async (durability) => {
      const { saver, first } = await started("delete", { serde: slowOn("slow") });
      const written = saver.putWrites(
        { ...first, durability } as RunnableConfig,
        [["out", "slow"]],
        "task-d",
        "~0",
      );
      await saver.deleteThread("t");
      await written;
      expect(await redis.admin.exists(...saver.threadKeys("t"))).toBe(0);
      expect(await saver.getTuple(root("t"))).toBeUndefined();
    },
  );

  it("reads a thread after writes a put carries that is still being serialized", async () => {
    const { saver, first, sync } = await started("carried-read", { serde: slowOn("slow") });
    const next = checkpoint(2, { out: "slow" });
    const written = saver.putWrites(sync, [["out", "carried"]], "task-c", "~0");
    const putting = saver.put(first, next, metadata(1), next.channel_versions);
    expect((await saver.getTuple(first))?.pendingWrites).toContainEqual(["task-c", "out", "carried"]);
    await Promise.all([written, putting]);
  });

  it("stores the queued writes when putIfLatest finds a conflict, and still reports it", async () => {
    const { saver, first, sync } = await started("conflict");
    const [, outcome] = await Promise.all([
      saver.putWrites(sync, [["out", "kept"]], "task-c", "~0"),
      saver.putIfLatest(first, checkpoint(2), metadata(1), {}, "1f000000-0000-6000-8000-00000000ffff"),
    ]);
    expect(outcome).toEqual({ ok: false, latestCheckpointId: checkpoint(1).id });
    expect((await saver.getTuple(first))?.pendingWrites).toContainEqual(["task-c", "out", "kept"]);
    expect((await saver.getTuple(root("t")))?.checkpoint.id).toBe(checkpoint(1).id);
  });

  it("leaves the queued writes to go alone when the put fails before it is sent", async () => {
    const serde = new JsonPlusSerializer();
    const { saver, first, sync } = await started("unsent", {
      serde: {
        dumpsTyped: async (value: unknown) => {
          if (value === "unserializable") throw new TypeError("cannot serialize this value");
          return serde.dumpsTyped(value);
        },
        loadsTyped: (type: string, bytes: Uint8Array | string) => serde.loadsTyped(type, bytes),
      },
    });
    const next = checkpoint(2, { out: "unserializable" });
    const results = await Promise.allSettled([
      saver.putWrites(sync, [["out", "survives"]], "task-s", "~0"),
      saver.put(first, next, metadata(1), next.channel_versions),
    ]);
    expect(results[0]).toEqual({ status: "fulfilled", value: undefined });
    expect(results[1]).toMatchObject({
      status: "rejected",
      reason: new TypeError("cannot serialize this value"),
    });
    expect((await saver.getTuple(first))?.pendingWrites).toContainEqual(["task-s", "out", "survives"]);
    expect((await saver.getTuple(root("t")))?.checkpoint.id).toBe(checkpoint(1).id);
  });

  it("stores a thread's writes in call order around a put, whichever is serialized first", async () => {
    // A special channel keeps its last write, a regular one its first: the order Redis stored them in.
    const { saver, first, sync } = await started("call-order", { serde: slowOn("slow") });
    const next = checkpoint(2, { a: "slow" });
    await Promise.all([
      saver.putWrites(
        sync,
        [
          ["__error__", "older"],
          ["out", "first"],
        ],
        "task",
        "~0",
      ),
      saver.put(first, next, metadata(1), next.channel_versions), // carries the writes above; slow
      saver.putWrites(
        first,
        [
          ["__error__", "newer"],
          ["out", "second"],
        ],
        "task",
        "~0",
      ), // at once
    ]);
    expect((await saver.getTuple(first))?.pendingWrites).toEqual([
      ["task", "__error__", "newer"],
      ["task", "out", "first"],
      ["warm-up", "warm", 0],
    ]);

    // All under "sync": the later batch goes by the next check phase, the put is still serializing.
    const third = checkpoint(3, { a: "slow" });
    const atSecond = { ...sync, configurable: { ...sync.configurable, checkpoint_id: next.id } };
    await Promise.all([
      saver.putWrites(
        atSecond,
        [
          ["__interrupt__", "older"],
          ["out", "first"],
        ],
        "task",
        "~0",
      ),
      saver.put(atSecond, third, metadata(2), third.channel_versions),
      saver.putWrites(
        atSecond,
        [
          ["__interrupt__", "newer"],
          ["out", "second"],
        ],
        "task",
        "~0",
      ),
    ]);
    expect((await saver.getTuple(atSecond))?.pendingWrites).toEqual([
      ["task", "__interrupt__", "newer"],
      ["task", "out", "first"],
    ]);
  });

  it.each([
    ["with the put that carries them", true],
    ["alone", false],
  ])(
    "stores 50,000 task writes queued in one turn %s (more arguments than a call takes)",
    async (_, withPut) => {
      const { saver, first, sync } = await started(`wide-${withPut}`);
      const writes = Array.from({ length: 50_000 }, (_, i) =>
        saver.putWrites(sync, [["out", i]], `task-${i}`, `~${i}`),
      );
      const put = withPut ? [saver.put(first, checkpoint(2), metadata(1), {})] : [];
      const results = await Promise.allSettled([...writes, ...put]);
      expect(results.filter((result) => result.status === "rejected")).toEqual([]);
      expect(await redis.admin.hlen(saver.threadKeys("t")[3] as string)).toBe(50_000 + 1);
    },
  );

  it("does the same bookkeeping for each of N concurrent writes outside durability sync, whatever N", async () => {
    // Tests may not assert time: this counts the promises the saver waits on, which grew with every
    // write already in flight when each putWrites waited for the thread's writes to land.
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

  it("fails every putWrites a failed command carried, with that command's error, and stores nothing of it", async () => {
    const { saver, first, sync } = await started("fails");
    const keys = saver.threadKeys("t");
    // The writes hash replaced by a string: the script's first HSETNX fails with WRONGTYPE.
    await redis.admin.del(keys[3] as string);
    await redis.admin.set(keys[3] as string, "not a hash");
    const results = await Promise.allSettled([
      saver.putWrites(sync, [["out", 1]], "task-1", "~0"),
      saver.putWrites(sync, [["out", 2]], "task-2", "~0"),
      saver.put(first, checkpoint(2), metadata(1), {}),
    ]);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      const reason = (result as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(ReplyError);
      expect(String(reason.message)).toMatch(/WRONGTYPE/);
    }
    expect(await redis.admin.hkeys(keys[0] as string)).toEqual([`:${checkpoint(1).id}`]);
    // Alone, and sent at once (outside durability "sync"), the same.
    await expect(saver.putWrites(sync, [["out", 3]], "task-3", "~0")).rejects.toThrow(/WRONGTYPE/);
    await expect(saver.putWrites(first, [["out", 4]], "task-4", "~0")).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.admin.get(keys[3] as string)).toBe("not a hash");
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
      for (const checkpointer of [saver, memory]) {
        const out = await graphOn(checkpointer).invoke(
          { trail: [] },
          { configurable: { thread_id: "run" }, durability },
        );
        expect(out).toEqual({ trail: ["a", "b", "c"] });
      }
      const expected = await history(memory, "run");
      expect(expected.map(({ step }) => step)).toEqual([3, 2, 1, 0, -1]);
      expect(await history(saver, "run")).toEqual(expected);
    },
  );

  it("sends each task's writes on their own under durability async, as soon as the task ends", async () => {
    const saver = new RedisSaver(redis.admin, { prefix: nextPrefix("run-async-scripts") });
    const graph = graphOn(saver);
    const run = (thread: string) =>
      graph.invoke({ trail: [] }, { configurable: { thread_id: thread }, durability: "async" });
    await run(randomUUID()); // loads the scripts
    const work = await serverWork(redis.admin, () => run(randomUUID()));
    // The read; five checkpoints (input, steps 0 to 3); four task writes (input, a, b, c), none carried.
    expect(work.filter((line) => line.startsWith("evalsha "))).toHaveLength(1 + 5 + 4);
    expect(work.filter((line) => line.startsWith("hsetnx "))).toHaveLength(2 + 2 + 2 + 1);
  });

  it("sends one script per checkpoint under durability sync: each step's task writes ride with it", async () => {
    const saver = new RedisSaver(redis.admin, { prefix: nextPrefix("run-scripts") });
    const graph = graphOn(saver);
    const run = (thread: string) =>
      graph.invoke({ trail: [] }, { configurable: { thread_id: thread }, durability: "sync" });
    await run(randomUUID()); // loads the scripts
    const thread = randomUUID();
    const checkpointsKey = saver.threadKeys(thread)[0];
    const work = await serverWork(redis.admin, () => run(thread));
    // Per script, in the order the server ran them: the task writes it stored (HSETNX), and whether
    // it stored a checkpoint record (HSET on the checkpoints hash).
    const scripts: { writes: number; checkpoint: boolean }[] = [];
    for (const line of work) {
      if (line.startsWith("evalsha ")) scripts.push({ writes: 0, checkpoint: false });
      const current = scripts.at(-1);
      if (current === undefined) continue;
      if (line.startsWith("hsetnx ")) current.writes++;
      if (line.startsWith(`hset ${checkpointsKey.length} `)) current.checkpoint = true;
    }
    expect(scripts).toEqual([
      { writes: 0, checkpoint: false }, // the read of the thread
      { writes: 0, checkpoint: true }, // the input checkpoint (step -1)
      { writes: 2, checkpoint: false }, // the input's writes, on their own: LangGraph awaits them first
      { writes: 0, checkpoint: true }, // step 0
      { writes: 2, checkpoint: true }, // node a's writes (value, branch to b) with step 1
      { writes: 2, checkpoint: true }, // node b's with step 2
      { writes: 1, checkpoint: true }, // node c's (value) with step 3
    ]);
  });
});
