/*
 * RedisLedgerStore on Valkey 8 (see test/support/valkey-install.ts): the store conformance suite every
 * store passes, with the native claim (SET NX GET, which Valkey implements as Redis 7 does) and with the
 * claim script, and one ledger call end to end with its ground-truth count.
 */
import { describeLedgerStoreConformance } from "@durable-tools/core/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { isValkeyInfo } from "../../../test/support/valkey-install.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";
import { charge } from "./test-support.js";

let server: RedisServer;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedisServer({ flavor: "valkey" });
});

afterAll(async () => {
  await server?.stop();
});

describe("the server these tests run on", () => {
  it("is Valkey, not Redis", async () => {
    const client = new Redis(server.port, "127.0.0.1");
    try {
      const info = await client.info("server");
      expect(isValkeyInfo(info)).toBe(true);
      expect(isValkeyInfo(info.replace(/valkey/gi, "redis"))).toBe(false);
    } finally {
      await client.quit();
    }
  });
});

for (const [mode, options] of [
  ["", {}],
  [", claims by script", { claimWith: "script" }],
] as const) {
  describeLedgerStoreConformance(`RedisLedgerStore (valkey-server${mode})`, {
    create: () =>
      new RedisLedgerStore(new Redis(server.port, "127.0.0.1"), {
        prefix: `valkey${++prefixes}`,
        ...options,
      }),
    destroy: async (store) => {
      await (store as RedisLedgerStore).client.quit();
    },
  });
}

describe("RedisLedgerStore on Valkey", () => {
  it("runs a charge once and replays it, across two stores on two connections", async () => {
    const prefix = `valkey-charge${++prefixes}`;
    const first = new RedisLedgerStore(new Redis(server.port, "127.0.0.1"), { prefix });
    const second = new RedisLedgerStore(new Redis(server.port, "127.0.0.1"), { prefix });
    try {
      const a = charge(first);
      const b = charge(second);
      const [x, y] = await Promise.all([a.call(), b.call()]);
      expect(a.runs() + b.runs()).toBe(1);
      expect(y.result).toEqual(x.result);
      expect([x.replayed, y.replayed].sort()).toEqual([false, true]);
    } finally {
      await first.client.quit();
      await second.client.quit();
    }
  });
});
