import { Ledger } from "@durable-tools/core";
import { describeLedgerStoreConformance } from "@durable-tools/core/testing";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisCluster, startRedisCluster } from "../../../test/support/redis-cluster.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";

let cluster: RedisCluster;
let prefixes = 0;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

const connect = () => new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });

describeLedgerStoreConformance("RedisLedgerStore (3-master Redis Cluster)", {
  create: () => new RedisLedgerStore(connect(), { prefix: `cl${++prefixes}` }),
  destroy: async (store) => {
    await (store as RedisLedgerStore).client.quit();
  },
});

describe("RedisLedgerStore on Redis Cluster", () => {
  it("spreads operations over every master and runs each exactly once", async () => {
    const client = connect();
    try {
      const ledger = new Ledger({ store: new RedisLedgerStore(client, { prefix: "spread" }) });
      const runs = new Map<string, number>();
      const keys = Array.from({ length: 200 }, (_, i) => `op-${i}`);
      const call = (key: string) =>
        ledger.execute({
          tool: "t",
          args: { key },
          key,
          submit: () => runs.set(key, (runs.get(key) ?? 0) + 1).get(key),
        });
      await Promise.all([...keys, ...keys].map(call));
      expect(runs.size).toBe(200);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      const perMaster = await Promise.all(
        client.nodes("master").map(async (node) => (await node.keys("spread:*:rec")).length),
      );
      expect(perMaster).toHaveLength(3);
      expect(perMaster.every((n) => n > 0)).toBe(true);
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(200);
    } finally {
      await client.quit();
    }
  });
});
