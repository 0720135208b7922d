import { randomUUID } from "node:crypto";
import {
  Annotation,
  Command,
  END,
  INTERRUPT,
  interrupt,
  isInterrupted,
  Send,
  START,
  StateGraph,
} from "@langchain/langgraph";
import {
  type BaseCheckpointSaver,
  type Checkpoint,
  copyCheckpoint,
  emptyCheckpoint,
  JsonPlusSerializer,
  MemorySaver,
  TASKS,
} from "@langchain/langgraph-checkpoint";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { serverWork, useRedisServer } from "../test-support.js";
import { RedisSaver } from "./redis-saver.js";
import { checkpointMember, parseBlobField } from "./saver-keys.js";
import { decodeCheckpointRecord } from "./saver-records.js";

type RunnableConfig = Parameters<RedisSaver["getTuple"]>[0];

const redis = useRedisServer();
let admin: Redis;
let prefixes = 0;
const nextPrefix = (name: string) => `${name}${++prefixes}`;

beforeAll(() => {
  admin = redis.admin;
});

async function keysMatching(pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of admin.scanStream({ match: pattern, count: 1000 }))
    found.push(...(keys as string[]));
  return found.sort();
}

const ApprovalState = Annotation.Root({
  request: Annotation<string>,
  decision: Annotation<string>,
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function approvalGraph(saver: RedisSaver) {
  return new StateGraph(ApprovalState)
    .addNode("ask", () => {
      const decision = interrupt<string, string>("approve the transfer?");
      return { decision, log: [`ask:${decision}`] };
    })
    .addNode("finish", (state) => ({ log: [`finish:${state.decision}`] }))
    .addEdge(START, "ask")
    .addEdge("ask", "finish")
    .addEdge("finish", END)
    .compile({ checkpointer: saver });
}

const CounterState = Annotation.Root({
  constant: Annotation<string>,
  steps: Annotation<number>,
});

function counterGraph(saver: RedisSaver) {
  const bump = (state: { steps: number }) => ({ steps: state.steps + 1 });
  return new StateGraph(CounterState)
    .addNode("a", bump)
    .addNode("b", bump)
    .addNode("c", bump)
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", "c")
    .addEdge("c", END)
    .compile({ checkpointer: saver });
}

describe("RedisSaver with a real LangGraph StateGraph", () => {
  it("pauses on interrupt() and resumes with Command({ resume }) through a new saver on a new connection", async () => {
    const prefix = nextPrefix("resume");
    const config = { configurable: { thread_id: "approval-1" } };

    const first = RedisSaver.fromUrl(redis.server.url, { prefix });
    const paused = await approvalGraph(first).invoke({ request: "pay 10 EUR" }, config);
    expect(isInterrupted<string>(paused) && paused[INTERRUPT][0]?.value).toBe("approve the transfer?");
    expect(paused.log).toEqual([]);
    await first.close();
    await vi.waitFor(() => expect(first.client.status).toBe("end"));

    const second = RedisSaver.fromUrl(redis.server.url, { prefix });
    try {
      const graph = approvalGraph(second);
      const pending = await graph.getState(config);
      expect(pending.next).toEqual(["ask"]);
      expect(pending.tasks[0]?.interrupts[0]?.value).toBe("approve the transfer?");

      const done = await graph.invoke(new Command({ resume: "approved" }), config);
      expect(done).toMatchObject({
        request: "pay 10 EUR",
        decision: "approved",
        log: ["ask:approved", "finish:approved"],
      });
      const finalState = await graph.getState(config);
      expect(finalState.next).toEqual([]);
      const history = [];
      for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
      expect(history.length).toBeGreaterThanOrEqual(4);
    } finally {
      await second.close();
    }
  });

  it("resumes a thread written with the 57-character versions of earlier releases", async () => {
    /** RedisSaver as earlier releases minted versions: `<20-digit counter>.<uuid>`. */
    class EarlierRedisSaver extends RedisSaver {
      override getNextVersion(current: number | undefined): number {
        const counter = Number.parseInt(String(current ?? 0).split(".")[0] ?? "0", 10);
        return `${String(counter + 1).padStart(20, "0")}.${randomUUID()}` as unknown as number;
      }
    }
    const prefix = nextPrefix("versions");
    const config = { configurable: { thread_id: "older" } };
    const earlier = new EarlierRedisSaver(admin, { prefix });
    await approvalGraph(earlier).invoke({ request: "pay 5 EUR" }, config);
    // Earlier releases also kept channel_versions inside the checkpoint bytes (record format 1).
    const [checkpointsKey] = earlier.threadKeys("older");
    const records = await admin.hgetallBuffer(checkpointsKey);
    for (const [member, record] of Object.entries(records)) {
      await admin.hset(checkpointsKey, member, toFormat1(record));
    }
    expect(Object.keys(records).length).toBeGreaterThan(1);

    const graph = approvalGraph(new RedisSaver(admin, { prefix }));
    const done = await graph.invoke(new Command({ resume: "approved" }), config);
    expect(done.log).toEqual(["ask:approved", "finish:approved"]);
    const latest = await new RedisSaver(admin, { prefix }).getTuple(config);
    const minted = Object.values(latest?.checkpoint.channel_versions ?? {}).map(String);
    expect(minted.some((v) => /^\d{20}\./.test(v))).toBe(true); // channels the resume did not touch
    expect(minted.filter((v) => /^\d{12}\.[\w-]{8}$/.test(v)).length).toBeGreaterThan(0);
    expect(latest?.checkpoint.channel_values).toMatchObject({ request: "pay 5 EUR", decision: "approved" });

    // A new input on the same thread: __start__ and the nodes run again only if each new version
    // sorts after the older one they have seen.
    const again = await graph.invoke({ request: "pay 6 EUR" }, config);
    expect(isInterrupted<string>(again) && again[INTERRUPT][0]?.value).toBe("approve the transfer?");
    const last = await graph.invoke(new Command({ resume: "rejected" }), config);
    expect(last.log).toEqual(["ask:approved", "finish:approved", "ask:rejected", "finish:rejected"]);
  });

  it("writes a channel's value once per version: an unchanged channel is stored once", async () => {
    const prefix = nextPrefix("blobs");
    const saver = new RedisSaver(admin, { prefix });
    const threadId = "counter-1";
    const [, , blobsKey] = saver.threadKeys(threadId);

    // Count every blob of the `constant` channel an HSET writes (HSET key field value [field value
    // ...]), as the server sees it.
    const monitor = await admin.monitor();
    const constantWrites: string[] = [];
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() !== "hset" || args[1] !== blobsKey) return;
      for (let i = 2; i < args.length; i += 2) {
        if (args[i]?.includes(":constant:")) constantWrites.push(args[i] as string);
      }
    });
    try {
      const result = await counterGraph(saver).invoke(
        { constant: "same", steps: 0 },
        { configurable: { thread_id: threadId } },
      );
      expect(result).toEqual({ constant: "same", steps: 3 });
      await admin.ping(); // the monitor sees commands in order: everything before this ping has arrived
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      monitor.disconnect();
    }

    const fields = await admin.hkeys(blobsKey);
    const perChannel = (channel: string) => fields.filter((field) => field.split(":")[1] === channel);
    expect(perChannel("constant")).toHaveLength(1);
    expect(constantWrites).toHaveLength(1);
    // `steps` changed in the input and in each of the three nodes: four versions, four blobs.
    expect(perChannel("steps")).toHaveLength(4);

    // Every checkpoint still reads the constant back, rebuilt from that one blob.
    const tuples = [];
    for await (const tuple of saver.list({ configurable: { thread_id: threadId } })) tuples.push(tuple);
    expect(tuples.length).toBeGreaterThanOrEqual(4);
    const withConstant = tuples.filter((tuple) => tuple.checkpoint.channel_values.constant === "same");
    expect(withConstant.length).toBe(tuples.length - 1); // all but the empty first (input) checkpoint
  });

  it("keeps both branches intact when a thread is forked from an older checkpoint", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("fork") });
    const graph = counterGraph(saver);
    const config = { configurable: { thread_id: "fork-1" } };
    await graph.invoke({ constant: "x", steps: 0 }, config);

    const history = [];
    for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
    const afterA = history.find((snapshot) => snapshot.values.steps === 1 && snapshot.next[0] === "b");
    expect(afterA).toBeDefined();
    const original = await graph.getState(config);
    expect(original.values.steps).toBe(3);

    // Fork: the same channel is written again from an older checkpoint. With plain integer versions
    // the fork would get the version the original branch already used for `steps`.
    const forkConfig = await graph.updateState(afterA?.config ?? config, { steps: 100 }, "a");
    const forked = await graph.invoke(null, forkConfig);
    expect(forked.steps).toBe(102);

    const originalAgain = await graph.getState(original.config);
    expect(originalAgain.values).toEqual({ constant: "x", steps: 3 });
  });

  it("deleteThread removes every key of the thread, all namespaces, and nothing of other threads", async () => {
    const prefix = nextPrefix("delete");
    const saver = new RedisSaver(admin, { prefix });
    const child = counterGraph(saver);
    const parent = new StateGraph(CounterState)
      .addNode("sub", child)
      .addEdge(START, "sub")
      .addEdge("sub", END)
      .compile({ checkpointer: saver });

    for (const threadId of ["doomed", "kept"]) {
      const config = { configurable: { thread_id: threadId } };
      await approvalGraph(saver).invoke({ request: "r" }, config);
      await parent.invoke({ constant: "c", steps: 0 }, { configurable: { thread_id: `${threadId}-nested` } });
    }
    const namespaces = new Set<string>();
    for await (const tuple of saver.list({ configurable: { thread_id: "doomed-nested" } })) {
      namespaces.add(tuple.config.configurable?.checkpoint_ns as string);
    }

    expect(await keysMatching(`{${prefix}:doomed}*`)).toHaveLength(5);
    expect(await keysMatching(`{${prefix}:doomed-nested}*`)).toHaveLength(5);
    await saver.deleteThread("doomed");
    await saver.deleteThread("doomed-nested");

    expect(await keysMatching(`*doomed*`)).toEqual([]);
    expect(await saver.getTuple({ configurable: { thread_id: "doomed" } })).toBeUndefined();
    expect(await keysMatching(`{${prefix}:kept}*`)).toHaveLength(5);
    expect(await keysMatching(`{${prefix}:kept-nested}*`)).toHaveLength(5);
    expect(await saver.getTuple({ configurable: { thread_id: "kept" } })).toBeDefined();
    const remaining = new Set<string>();
    for await (const tuple of saver.list({})) remaining.add(tuple.config.configurable?.thread_id as string);
    expect([...remaining].sort()).toEqual(["kept", "kept-nested"]);
    // The subgraph had checkpointed under its own namespace too, and those keys went with the thread.
    expect([...namespaces].some((ns) => ns !== "")).toBe(true);
  });

  it("keeps pending writes by task and index; __error__/__interrupt__ overwrite, regular writes do not", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("writes") });
    const config = await saver.put(
      { configurable: { thread_id: "w", checkpoint_ns: "" } },
      {
        v: 4,
        id: "1f000000-0000-6000-8000-000000000001",
        ts: new Date().toISOString(),
        channel_values: {},
        channel_versions: {},
        versions_seen: {},
      },
      { source: "input", step: -1, parents: {} },
      {},
    );
    await saver.putWrites(config, [["out", "first"]], "task-b", "~1");
    await saver.putWrites(config, [["out", "second"]], "task-b", "~1");
    await saver.putWrites(config, [["__error__", "boom 1"]], "task-a", "~0");
    await saver.putWrites(config, [["__error__", "boom 2"]], "task-a", "~0");
    const tuple = await saver.getTuple(config);
    expect(tuple?.pendingWrites).toEqual([
      ["task-a", "__error__", "boom 2"],
      ["task-b", "out", "first"],
    ]);
  });

  it("stores thousands of channel values and writes in one call (past Lua's unpack limit), all read back", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("wide") });
    const channels = Array.from({ length: 5_000 }, (_, i) => `ch${i}`);
    const versions = Object.fromEntries(channels.map((c) => [c, saver.getNextVersion(undefined)]));
    const config = await saver.put(
      { configurable: { thread_id: "wide", checkpoint_ns: "" } },
      {
        v: 4,
        id: "1f000000-0000-6000-8000-000000000002",
        ts: new Date().toISOString(),
        channel_values: Object.fromEntries(channels.map((c, i) => [c, { i }])),
        channel_versions: versions,
        versions_seen: {},
      },
      { source: "input", step: -1, parents: {} },
      versions,
    );
    const writes = Array.from({ length: 3_000 }, (_, i): [string, unknown] => [`out${i}`, i]);
    await saver.putWrites(config, writes, "task-wide", "~0");
    // The same task again: regular writes keep their first value, even with new values.
    await saver.putWrites(
      config,
      writes.map(([c, v]): [string, unknown] => [c, `again ${v}`]),
      "task-wide",
      "~0",
    );

    const tuple = await saver.getTuple(config);
    expect(Object.keys(tuple?.checkpoint.channel_values ?? {})).toHaveLength(5_000);
    expect(tuple?.checkpoint.channel_values.ch4999).toEqual({ i: 4999 });
    expect(tuple?.pendingWrites).toHaveLength(3_000);
    expect(tuple?.pendingWrites?.[2_999]).toEqual(["task-wide", "out2999", 2999]);
    expect(await admin.zcard(saver.threadKeys("wide")[4])).toBe(3_000);
  });

  it("does the same work in Redis for a checkpoint's 2,001st putWrites as for its second, and likewise for put", async () => {
    // Tests may not assert time, so this asserts the work itself: the commands the server runs (a
    // script's own commands included, as MONITOR shows them) and the bytes they carry. A write that
    // rewrote what earlier writes left (a growing per-checkpoint list, say: tried and reverted) grows
    // here, and would be quadratic under fan-out, where thousands of tasks write on one checkpoint.
    const saver = new RedisSaver(admin, { prefix: nextPrefix("fanout") });
    const thread = { configurable: { thread_id: "fan", checkpoint_ns: "" } };
    const checkpoint = (n: number) => ({
      v: 4,
      id: `1f000000-0000-6000-8000-${String(n).padStart(12, "0")}`,
      ts: "2026-12-06T00:00:00.000Z",
      channel_values: {},
      channel_versions: {},
      versions_seen: {},
    });
    const metadata = { source: "loop" as const, step: 0, parents: {} };
    const task = (n: number) => `task-${String(n).padStart(6, "0")}`;

    const config = await saver.put(thread, checkpoint(1), metadata, {});
    await saver.putWrites(config, [["out", 0]], task(0), "~0"); // loads the script (EVAL, then EVALSHA)
    const firstWrites = await serverWork(admin, () => saver.putWrites(config, [["out", 1]], task(1), "~0"));
    for (let n = 2; n < 2_000; n++) await saver.putWrites(config, [["out", n]], task(n), "~0");
    const laterWrites = await serverWork(admin, () =>
      saver.putWrites(config, [["out", 1]], task(2_000), "~0"),
    );
    expect(laterWrites).toEqual(firstWrites);
    // HSETNX, ZADD, then the thread's TTL is not set: no PEXPIRE.
    expect(firstWrites.map((line) => line.split(" ")[0])).toEqual(["evalsha", "hsetnx", "zadd"]);
    expect(await admin.zcard(saver.threadKeys("fan")[4])).toBe(2_001);

    // And a put on a thread of 2,001 checkpoints writes what the second one wrote.
    let parent = await saver.put(config, checkpoint(2), metadata, {});
    const secondPut = await serverWork(admin, () => saver.put(parent, checkpoint(3), metadata, {}));
    for (let n = 4; n <= 2_000; n++) parent = await saver.put(parent, checkpoint(n), metadata, {});
    const laterPut = await serverWork(admin, () => saver.put(parent, checkpoint(2_001), metadata, {}));
    expect(laterPut).toEqual(secondPut);
    expect(secondPut.map((line) => line.split(" ")[0])).toEqual(["evalsha", "hset", "zadd"]);
  });

  it("keeps channel versions once, in the record's blob fields, and gives them back with their types", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("types") });
    const channel_versions = { count: 3, "to:node b": "000000000002.AbCd-_9z", empty: 7 };
    const config = await saver.put(
      { configurable: { thread_id: "types", checkpoint_ns: "" } },
      {
        v: 4,
        id: "1f000000-0000-6000-8000-000000000003",
        ts: new Date().toISOString(),
        channel_values: { count: 41, "to:node b": "b" },
        channel_versions: channel_versions as unknown as Record<string, number>,
        versions_seen: { n: { count: 2 } },
      },
      { source: "loop", step: 1, parents: {} },
      channel_versions as unknown as Record<string, number>,
    );
    const tuple = await saver.getTuple(config);
    expect(tuple?.checkpoint.channel_versions).toStrictEqual(channel_versions);
    expect(tuple?.checkpoint.channel_values).toStrictEqual({ count: 41, "to:node b": "b" });
    expect(tuple?.checkpoint.versions_seen).toStrictEqual({ n: { count: 2 } });
    // The checkpoint bytes no longer carry them.
    const [checkpointsKey] = saver.threadKeys("types");
    const record = await admin.hgetBuffer(
      checkpointsKey,
      checkpointMember("", "1f000000-0000-6000-8000-000000000003"),
    );
    expect(record?.toString("utf8")).not.toContain("channel_versions");
  });

  it("expires a thread as a whole: ttlMs is set again on all five keys by every write", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("ttl"), ttlMs: 60_000 });
    await approvalGraph(saver).invoke({ request: "r" }, { configurable: { thread_id: "t" } });
    const keys = saver.threadKeys("t");
    const ttls = await Promise.all(keys.map((key) => admin.pttl(key)));
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    const withoutTtl = new RedisSaver(admin, { prefix: nextPrefix("nottl") });
    await approvalGraph(withoutTtl).invoke({ request: "r" }, { configurable: { thread_id: "t" } });
    for (const key of withoutTtl.threadKeys("t")) expect(await admin.pttl(key)).toBe(-1);
  });

  it("runs on plain Redis without modules (no RedisJSON, no RediSearch)", async () => {
    expect(await admin.call("MODULE", "LIST")).toEqual([]);
    await expect(admin.call("JSON.SET", "k", "$", "{}")).rejects.toThrow(/unknown command/i);
    const info = await admin.info("server");
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    expect(Number(version?.[1]) * 100 + Number(version?.[2])).toBeGreaterThanOrEqual(602);

    const saver = new RedisSaver(admin, { prefix: nextPrefix("plain") });
    const result = await counterGraph(saver).invoke(
      { constant: "k", steps: 0 },
      { configurable: { thread_id: "p" } },
    );
    expect(result.steps).toBe(3);
  });

  it("leaves a client it did not create open, and refuses bad options", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("close") });
    await saver.close();
    expect(await admin.ping()).toBe("PONG");
    expect(() => new RedisSaver(admin, { prefix: "a{b}" })).toThrow(/hash tag/);
    expect(() => new RedisSaver(admin, { ttlMs: 1.5 })).toThrow(/ttlMs/);
    expect(() => new RedisSaver({} as Redis)).toThrow(/ioredis/);
    expect(JSON.stringify({ saver })).toBe('{"saver":"[RedisSaver]"}');
  });

  it("refuses ids and serializer types it could not store apart, before writing anything", async () => {
    const prefix = nextPrefix("refuse");
    const saver = new RedisSaver(admin, { prefix });
    // UTF-8 would store a lone surrogate as U+FFFD, the same bytes as another thread's id.
    await expect(
      counterGraph(saver).invoke({ constant: "k", steps: 0 }, { configurable: { thread_id: "t\uD800" } }),
    ).rejects.toThrow(/lone UTF-16 surrogate/);
    await expect(saver.getTuple({ configurable: { thread_id: "t\uFFFD" } })).resolves.toBeUndefined();
    expect(await keysMatching(`{${prefix}:*`)).toEqual([]);

    // A serializer whose type would read back as "no value".
    const serde = new JsonPlusSerializer();
    const confusing = new RedisSaver(admin, {
      prefix,
      serde: {
        dumpsTyped: async (value: unknown) => ["empty", (await serde.dumpsTyped(value))[1]],
        loadsTyped: (type: string, bytes: Uint8Array | string) => serde.loadsTyped(type, bytes),
      },
    });
    await expect(
      counterGraph(confusing).invoke({ constant: "k", steps: 0 }, { configurable: { thread_id: "u" } }),
    ).rejects.toThrow(/must not contain a newline or be "empty"/);
    const [checkpoints, , blobs] = confusing.threadKeys("u");
    expect(await admin.exists(checkpoints, blobs)).toBe(0);
  });
});

const LogState = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

/** ask (interrupts), after, last. */
function askGraph(saver: BaseCheckpointSaver) {
  return new StateGraph(LogState)
    .addNode("ask", () => ({ log: [`ask:${interrupt<string, string>("q")}`] }))
    .addNode("after", () => ({ log: ["after"] }))
    .addNode("last", () => ({ log: ["last"] }))
    .addEdge(START, "ask")
    .addEdge("ask", "after")
    .addEdge("after", "last")
    .addEdge("last", END)
    .compile({ checkpointer: saver });
}

/** start, which sends one task to w. */
function sendGraph(saver: BaseCheckpointSaver) {
  return new StateGraph(LogState)
    .addNode("start", () => ({ log: ["start"] }))
    .addNode("w", (state: { item?: string }) => ({ log: [`w:${state.item}`] }))
    .addEdge(START, "start")
    .addConditionalEdges("start", () => [new Send("w", { item: "A" })])
    .addEdge("w", END)
    .compile({ checkpointer: saver });
}

/** RedisSaver on the same keys, minting LangGraph's default integer versions (as MemorySaver and SqliteSaver do). */
class IntegerVersionsRedisSaver extends RedisSaver {
  override getNextVersion(current: number | undefined): number {
    return typeof current === "number" ? current + 1 : 1;
  }
}

describe("RedisSaver on threads another saver or an earlier LangGraph wrote", () => {
  it("continues a thread whose channel versions are numbers to the same end as MemorySaver", async () => {
    async function run(first: BaseCheckpointSaver, then: BaseCheckpointSaver, threadId: string) {
      const config = { configurable: { thread_id: threadId } };
      const paused = await askGraph(first).invoke({ log: ["in"] }, config);
      const graph = askGraph(then);
      const done = await graph.invoke(new Command({ resume: "yes" }), config);
      const again = await graph.invoke({ log: ["again"] }, config);
      const last = await graph.invoke(new Command({ resume: "no" }), config);
      const state = await graph.getState(config);
      return { paused: paused.log, done: done.log, again: again.log, last: last.log, next: state.next };
    }
    const memory = new MemorySaver();
    const expected = await run(memory, memory, "m");
    expect(expected).toEqual({
      paused: ["in"],
      done: ["in", "ask:yes", "after", "last"],
      again: ["in", "ask:yes", "after", "last", "again"],
      last: ["in", "ask:yes", "after", "last", "again", "ask:no", "after", "last"],
      next: [],
    });

    const prefix = nextPrefix("numeric");
    const integers = new IntegerVersionsRedisSaver(admin, { prefix });
    const saver = new RedisSaver(admin, { prefix });
    expect(await run(integers, saver, "n")).toEqual(expected);

    // Phase 1 wrote whole numbers; RedisSaver went on with numbers (never a string among them).
    const versions: (string | number)[][] = [];
    for await (const tuple of saver.list({ configurable: { thread_id: "n" } })) {
      versions.push(Object.values(tuple.checkpoint.channel_versions));
    }
    expect(versions.flat().every((v) => typeof v === "number")).toBe(true);
    expect(versions.at(-1)?.every((v) => Number.isInteger(v))).toBe(true);
    expect(versions[0]?.some((v) => !Number.isInteger(v))).toBe(true);
  });

  /** Checkpoints as LangGraph before format 4 wrote them: the Send is a TASKS write on the parent. */
  async function writeLegacyThread(saver: BaseCheckpointSaver, threadId: string) {
    const base = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
    const versions = { log: 2, "branch:to:start": 2, __start__: 1 };
    const legacy = (id: string) =>
      ({
        v: 1,
        id,
        ts: "2024-01-01T00:00:00.000Z",
        channel_values: { log: ["start"] },
        channel_versions: { ...versions },
        versions_seen: { __input__: {}, start: { "branch:to:start": 2 } },
        pending_sends: [],
      }) as unknown as Checkpoint;
    const [parentId, childId] = [
      "1ef00000-0000-6000-8000-000000000001",
      "1ef00000-0000-6000-8000-000000000002",
    ];
    const metadata = (step: number) => ({ source: "loop" as const, step, parents: {} });
    await saver.put(base, legacy(parentId), metadata(0), versions);
    const parent = { configurable: { ...base.configurable, checkpoint_id: parentId } };
    await saver.putWrites(parent, [[TASKS, new Send("w", { item: "A" })]], "task-1");
    return saver.put(parent, legacy(childId), metadata(1), {});
  }

  it("keeps the pending Send of a checkpoint from before format 4 through updateState(config, null), as MemorySaver does", async () => {
    async function run(saver: BaseCheckpointSaver) {
      await writeLegacyThread(saver, "legacy");
      const graph = sendGraph(saver);
      const config = { configurable: { thread_id: "legacy" } };
      const before = (await graph.getState(config)).next;
      await graph.updateState(config, null);
      const after = (await graph.getState(config)).next;
      const done = await graph.invoke(null, config);
      return { before, after, log: done.log };
    }
    const expected = { before: ["w"], after: ["w"], log: ["start", "w:A"] };
    expect(await run(new MemorySaver())).toEqual(expected);
    expect(await run(new RedisSaver(admin, { prefix: nextPrefix("legacy") }))).toEqual(expected);
  });

  it("stores the migrated Sends with the next checkpoint that keeps their version, only where no value is stored", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("sends") });
    const migratedConfig = await writeLegacyThread(saver, "t");
    const migrated = await saver.getTuple(migratedConfig);
    const sends = migrated?.checkpoint.channel_values[TASKS];
    expect(sends).toStrictEqual([{ node: "w", args: { item: "A" } }]); // as the serializer reads a Send back
    const tasksVersion = migrated?.checkpoint.channel_versions[TASKS];
    expect(tasksVersion).toBe(2);
    const [, , blobsKey] = saver.threadKeys("t");
    const field = `:${TASKS}:2`;
    expect(await admin.hexists(blobsKey, field)).toBe(0);

    // The next checkpoint LangGraph writes without touching TASKS: newVersions is empty.
    const next = {
      ...copyCheckpoint(migrated?.checkpoint as Checkpoint),
      v: 4,
      id: "1ef00000-0000-6000-8000-000000000003",
    };
    const nextConfig = await saver.put(migratedConfig, next, { source: "update", step: 2, parents: {} }, {});
    const stored = await admin.hgetBuffer(blobsKey, field);
    expect((await saver.getTuple(nextConfig))?.checkpoint.channel_values[TASKS]).toEqual(sends);

    // A value already stored under that version stays as it is (HSETNX), whatever a later put holds.
    const other = {
      ...next,
      id: "1ef00000-0000-6000-8000-000000000004",
      channel_values: { [TASKS]: ["other"] },
    };
    await saver.put(nextConfig, other, { source: "update", step: 3, parents: {} }, {});
    expect(await admin.hgetBuffer(blobsKey, field)).toEqual(stored);
    // The first put's log, branch:to:start and __start__, and the Sends: nothing else.
    expect(await admin.hlen(blobsKey)).toBe(4);
  });
});

describe("RedisSaver checkpoint order", () => {
  /** Ids percent-encoding changes ('+', ':', 'é', '%', ' ', emoji) beside ones it leaves alone. */
  const idChar = fc.constantFrom(
    "a",
    "b",
    "Z",
    "0",
    "9",
    "-",
    ".",
    "_",
    "~",
    "*",
    "!",
    "+",
    ":",
    "é",
    "%",
    " ",
    "😀",
  );
  const ids = fc.uniqueArray(fc.string({ unit: idChar, minLength: 1, maxLength: 4 }), {
    minLength: 1,
    maxLength: 12,
  });
  let threads = 0;

  async function listIds(
    saver: RedisSaver,
    config: RunnableConfig,
    before?: string,
  ): Promise<[string, string][]> {
    const listed: [string, string][] = [];
    const options = before === undefined ? {} : { before: { configurable: { checkpoint_id: before } } };
    for await (const tuple of saver.list(config, options)) {
      listed.push([tuple.config.configurable?.checkpoint_ns as string, tuple.checkpoint.id]);
    }
    return listed;
  }

  it("takes an empty `before` id as no bound, as MemorySaver does", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("before") });
    for (const ns of ["", "sub:1"]) {
      for (const id of ["1", "2"]) {
        await saver.put(
          { configurable: { thread_id: "t", checkpoint_ns: ns } },
          { ...emptyCheckpoint(), id },
          { source: "loop", step: 0, parents: {} },
          {},
        );
      }
    }
    expect(await listIds(saver, { configurable: { thread_id: "t", checkpoint_ns: "" } }, "")).toEqual([
      ["", "2"],
      ["", "1"],
    ]);
    expect(await listIds(saver, { configurable: { thread_id: "t" } }, "")).toHaveLength(4);
  });

  it("lists every checkpoint once, in the index's order, and `before` returns exactly those after it there", async () => {
    const saver = new RedisSaver(admin, { prefix: nextPrefix("order") });
    await fc.assert(
      fc.asyncProperty(
        ids,
        fc.subarray(["", "sub:1"], { minLength: 1 }),
        async (checkpointIds, namespaces) => {
          const threadId = `order-${++threads}`;
          for (const ns of namespaces) {
            for (const id of checkpointIds) {
              await saver.put(
                { configurable: { thread_id: threadId, checkpoint_ns: ns } },
                { ...emptyCheckpoint(), id },
                { source: "loop", step: 0, parents: {} },
                {},
              );
            }
          }
          // The index's order (ZRANGE, newest last): the percent-encoded ids, byte by byte.
          const byEncodedId = [...checkpointIds].sort((a, b) =>
            Buffer.compare(Buffer.from(encodeURIComponent(b)), Buffer.from(encodeURIComponent(a))),
          );
          for (const ns of namespaces) {
            const indexed = (
              await admin.zrevrangebylex(
                saver.threadKeys(threadId)[1],
                `(${encodeURIComponent(ns)};`,
                `[${encodeURIComponent(ns)}:`,
              )
            ).map((member) => decodeURIComponent(member.slice(member.indexOf(":") + 1)));
            expect(indexed).toEqual(byEncodedId);
            const config = { configurable: { thread_id: threadId, checkpoint_ns: ns } };
            const listed = await listIds(saver, config);
            expect(listed).toEqual(byEncodedId.map((id) => [ns, id]));
            expect((await saver.getTuple(config))?.checkpoint.id).toBe(byEncodedId[0]);
            for (const [i, id] of byEncodedId.entries()) {
              expect(await listIds(saver, config, id)).toEqual(listed.slice(i + 1));
            }
          }
          // Across namespaces (no checkpoint_ns): newest id first, one id's namespaces in index order.
          const all = await listIds(saver, { configurable: { thread_id: threadId } });
          expect(all).toEqual(byEncodedId.flatMap((id) => namespaces.map((ns) => [ns, id])));
          for (const id of byEncodedId) {
            const after = all.findLastIndex(([, listedId]) => listedId === id) + 1;
            expect(await listIds(saver, { configurable: { thread_id: threadId } }, id)).toEqual(
              all.slice(after),
            );
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("RedisSaver on an ioredis client with a keyPrefix", () => {
  const metadata = { source: "loop", step: 0, parents: {} } as const;
  const put = (saver: RedisSaver, threadId: string, id: string) =>
    saver.put(
      { configurable: { thread_id: threadId, checkpoint_ns: "" } },
      { ...emptyCheckpoint(), id },
      metadata,
      {},
    );
  const listAll = async (saver: RedisSaver) => {
    const listed: string[] = [];
    for await (const tuple of saver.list({})) {
      listed.push(`${tuple.config.configurable?.thread_id}/${tuple.checkpoint.id}`);
    }
    return listed.sort();
  };

  it("lists every thread without a thread_id (SCAN is not prefixed by ioredis), and deletes under the prefix", async () => {
    // Glob characters in the client's prefix must match literally.
    const keyPrefix = "app[1]*:";
    const prefix = nextPrefix("kp");
    const saver = new RedisSaver(redis.client({ keyPrefix }), { prefix });
    await put(saver, "t1", "1");
    await put(saver, "t2", "2");
    // A key that matches the pattern only when the prefix is taken as a glob.
    await new RedisSaver(redis.client({ keyPrefix: "app11:" }), { prefix }).put(
      { configurable: { thread_id: "other", checkpoint_ns: "" } },
      { ...emptyCheckpoint(), id: "9" },
      metadata,
      {},
    );
    const stored = await keysMatching(`app\\[1\\]\\*:{${prefix}:*`);
    expect(stored).toHaveLength(4); // cp and idx of two threads, under the client's prefix
    expect(await keysMatching(`{${prefix}:*`)).toEqual([]);

    expect(await listAll(saver)).toEqual(["t1/1", "t2/2"]);
    expect((await saver.getTuple({ configurable: { thread_id: "t1" } }))?.checkpoint.id).toBe("1");
    // A saver on a client without the prefix sees none of them.
    expect(await listAll(new RedisSaver(admin, { prefix }))).toEqual([]);

    await saver.deleteThread("t1");
    expect(await listAll(saver)).toEqual(["t2/2"]);
    expect(await keysMatching(`app\\[1\\]\\*:{${prefix}:t1}*`)).toEqual([]);
  });
});

/** A record as format 1 wrote it: channel_versions in the checkpoint JSON, no `cv` in the header. */
function toFormat1(record: Buffer): Buffer {
  const decoded = decodeCheckpointRecord(record);
  const checkpoint = JSON.parse(Buffer.from(decoded.checkpoint).toString("utf8")) as Record<string, unknown>;
  checkpoint.channel_versions = Object.fromEntries(
    decoded.blobFields.map(parseBlobField).map(({ channel, version }) => [channel, version]),
  );
  const body = Buffer.from(JSON.stringify(checkpoint));
  const head = {
    v: 1,
    parent: decoded.parent,
    ct: decoded.checkpointType,
    cn: body.length,
    mt: decoded.metadataType,
  };
  return Buffer.concat([
    Buffer.from(`${JSON.stringify(head)}\n${decoded.blobFields.join(" ")}\n`),
    body,
    decoded.metadata,
  ]);
}
