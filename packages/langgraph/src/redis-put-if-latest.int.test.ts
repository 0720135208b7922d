import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { RedisSaver } from "@durable-tools/redis/saver";
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { CheckpointConflictError } from "./errors.js";

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
function workers(prefix: string) {
  const make = () =>
    new DurableCheckpointer({
      saver: new RedisSaver(client, { prefix }),
      ledger: new Ledger({ store: new MemoryLedgerStore() }),
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
