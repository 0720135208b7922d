import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { RedisSaver, type RedisSaverOptions } from "@durable-tools/redis/saver";
import type { RunnableConfig } from "@langchain/core/runnables";
import { Command, END, START, StateGraph } from "@langchain/langgraph";
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { slowSerde } from "../../../test/support/slow-serde.js";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { CheckpointConflictError } from "./errors.js";
import { approveThenCharge, gate, holdSlow, State, thread } from "./test-support.js";

let server: RedisServer;
let client: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  client = new Redis(server.port, "127.0.0.1");
});
afterAll(async () => {
  client?.disconnect();
  await server?.stop();
});

/** Two workers (separate DurableCheckpointers, as two processes would have) over one Redis. */
function workers(prefix: string, ledger?: Ledger) {
  const make = () =>
    new DurableCheckpointer({
      saver: new RedisSaver(client, { prefix }),
      ledger: ledger ?? new Ledger({ store: new MemoryLedgerStore() }),
    });
  return [make(), make()] as const;
}

const checkpoint = () => ({ ...emptyCheckpoint(), id: uuid6(-1) });
const loop = { source: "loop" as const, step: 1, parents: {} };

describe("DurableCheckpointer over RedisSaver: the stale-parent check is a compare-and-set in Redis", () => {
  it("lets exactly one of two workers write on the same parent, whatever the interleaving", async () => {
    const [a, b] = workers("cas1");
    await a.put(
      { configurable: { thread_id: "t", checkpoint_ns: "" } },
      checkpoint(),
      { ...loop, source: "input", step: -1 },
      {},
    );
    for (let round = 0; round < 20; round++) {
      const latest = await a.saver.getTuple({ configurable: { thread_id: "t" } });
      const on = {
        configurable: { thread_id: "t", checkpoint_ns: "", checkpoint_id: latest?.checkpoint.id },
      };
      const results = await Promise.allSettled([
        a.put(on, checkpoint(), loop, {}),
        b.put(on, checkpoint(), loop, {}),
      ]);
      const refused = results.filter((r) => r.status === "rejected");
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(CheckpointConflictError);
    }
  });

  it("refuses a put on a parent that is no longer the latest, naming both, and writes nothing", async () => {
    const [a] = workers("cas2");
    const root = await a.put(
      { configurable: { thread_id: "t", checkpoint_ns: "" } },
      checkpoint(),
      { ...loop, source: "input", step: -1 },
      {},
    );
    const next = await a.put(root, checkpoint(), loop, {});
    const stale = checkpoint();
    const error = await a.put(root, stale, loop, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(error).toMatchObject({
      parentCheckpointId: root.configurable?.checkpoint_id,
      latestCheckpointId: next.configurable?.checkpoint_id,
    });
    expect(
      await a.saver.getTuple({ configurable: { thread_id: "t", checkpoint_id: stale.id } }),
    ).toBeUndefined();
    expect((await a.saver.getTuple({ configurable: { thread_id: "t" } }))?.checkpoint.id).toBe(
      next.configurable?.checkpoint_id,
    );
  });

  it("refuses a first checkpoint on a thread another worker already started", async () => {
    const [a, b] = workers("cas3");
    await a.put(
      { configurable: { thread_id: "t", checkpoint_ns: "" } },
      checkpoint(),
      { ...loop, source: "input", step: -1 },
      {},
    );
    const error = await b
      .put(
        { configurable: { thread_id: "t", checkpoint_ns: "" } },
        checkpoint(),
        { ...loop, source: "input", step: -1 },
        {},
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointConflictError);
  });
});

describe("DurableCheckpointer over RedisSaver: time travel", () => {
  /** START -> a -> b -> END, counting node runs. */
  const twoSteps = (runs: { a: number; b: number }) =>
    new StateGraph(State)
      .addNode("a", async () => ({ log: [`a${++runs.a}`] }))
      .addNode("b", async () => ({ log: [`b${++runs.b}`] }))
      .addEdge(START, "a")
      .addEdge("a", "b")
      .addEdge("b", END);

  for (const durability of ["async", "exit"] as const) {
    it(`a worker branches from an older checkpoint another worker wrote (new input, durability ${durability})`, async () => {
      const [a, b] = workers(`tt-${durability}`);
      const runs = { a: 0, b: 0 };
      const config = thread("t");
      await twoSteps(runs)
        .compile({ checkpointer: a })
        .invoke({ log: ["x"] }, config);
      const app = twoSteps(runs).compile({ checkpointer: b });
      let older: RunnableConfig | undefined;
      for await (const snapshot of app.getStateHistory(config)) {
        if (snapshot.next.includes("b")) older = snapshot.config;
      }

      const out = await app.invoke({ log: ["new-input"] }, { ...older, durability });

      expect(out.log).toEqual(["x", "a1", "new-input", "a2", "b2"]);
      expect(runs).toEqual({ a: 2, b: 2 });
      expect((await app.getState(config)).values.log).toEqual(["x", "a1", "new-input", "a2", "b2"]);
    });
  }

  it("a worker that resumed the head is refused after another wrote and branched from that head", async () => {
    const [a, b] = workers("tt-stale", new Ledger({ store: new MemoryLedgerStore() })); // one ledger, as in production
    let charges = 0;
    const inside = gate();
    const released = gate();
    const build = (checkpointer: DurableCheckpointer) =>
      approveThenCharge(checkpointer, () => `charge-${++charges}`, holdSlow(inside, released));
    const config = thread("t");
    const appA = build(a);
    const appB = build(b);
    await appA.invoke({ log: [] }, config);
    const head = (await appA.getState(config)).config;

    const slow = appA.invoke(new Command({ resume: "slow" }), config).catch((e: unknown) => e);
    await inside.opened;
    expect((await appB.invoke(new Command({ resume: "fast" }), config)).log).toEqual(["fast", "charge-1"]);
    await appB.invoke(new Command({ resume: "branch" }), head); // a deliberate branch from the old head
    expect((await appA.getState(head)).values.log).toEqual([]); // and A's process opens the old head by id
    const latest = (await appB.getState(config)).config.configurable?.checkpoint_id;
    released.open();

    const error = await slow;
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(error).toMatchObject({
      parentCheckpointId: head.configurable?.checkpoint_id,
      latestCheckpointId: latest,
    });
    expect(charges).toBe(1);
  });
});

/** A DurableCheckpointer over a RedisSaver on its own prefix, thread "t" holding an input checkpoint. */
async function started(
  prefix: string,
  options: { optimisticConcurrency: boolean; serde?: RedisSaverOptions["serde"] },
) {
  const saver = new RedisSaver(client, { prefix, serde: options.serde });
  const checkpointer = new DurableCheckpointer({
    saver,
    ledger: new Ledger({ store: new MemoryLedgerStore() }),
    optimisticConcurrency: options.optimisticConcurrency,
  });
  const root = { configurable: { thread_id: "t", checkpoint_ns: "" } };
  const first = await checkpointer.put(root, checkpoint(), { ...loop, source: "input", step: -1 }, {});
  return { saver, checkpointer, first };
}

describe("DurableCheckpointer over RedisSaver: a checkpoint write beside task writes still in flight", () => {
  it.each([
    ["checked (putIfLatest)", true],
    ["unchecked (optimisticConcurrency: false)", false],
  ] as const)(
    "fails the put with its own error when it fails before the writes land, %s: no unhandled rejection, the writes stored",
    async (_, optimisticConcurrency) => {
      const { saver, checkpointer, first } = await started(`early-fail-${optimisticConcurrency}`, {
        optimisticConcurrency,
        serde: slowSerde(),
      });
      const next = { ...checkpoint(), channel_values: { x: "unserializable" }, channel_versions: { x: 2 } };
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        for (const durability of ["sync", "async"] as const) {
          const config = { ...first, durability } as RunnableConfig;
          const written = checkpointer.putWrites(config, [["x", "slow"]], `task-${durability}`);
          await expect(checkpointer.put(first, next, loop, { x: 2 })).rejects.toThrow(
            "cannot serialize this value",
          );
          await written;
        }
        await new Promise((resolve) => setTimeout(resolve, 10)); // lets a late rejection report itself
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
      expect(unhandled).toEqual([]);
      const tuple = await saver.getTuple(first);
      expect(tuple?.pendingWrites).toEqual([
        ["task-async", "x", "slow"],
        ["task-sync", "x", "slow"],
      ]);
    },
  );
});
