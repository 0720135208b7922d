import { describeLedgerStoreConformance } from "@durable-tools/core/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";

let server: RedisServer;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

describeLedgerStoreConformance("RedisLedgerStore (redis-server)", {
  create: () => new RedisLedgerStore(new Redis(server.port, "127.0.0.1"), { prefix: `conf${++prefixes}` }),
  destroy: async (store) => {
    await (store as RedisLedgerStore).client.quit();
  },
});
