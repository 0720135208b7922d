/*
 * Clients that `fromUrl` creates are this package's: their connection errors become one
 * DurableToolsWarning per outage, instead of ioredis printing every reconnect attempt to stderr.
 */
import { isLedgerUnavailableError, Ledger } from "@durable-tools/core";
import { afterAll, afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { freePort, type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";
import { RedisSaver } from "./saver/redis-saver.js";

const fastRetries = { retryStrategy: () => 20, maxRetriesPerRequest: 1 };
let warn: MockInstance<typeof process.emitWarning>;
const servers: RedisServer[] = [];
beforeEach(() => {
  warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

/** Connection-error warnings so far, as their messages. */
const warnings = () =>
  warn.mock.calls
    .filter((call) => (call as unknown[])[1] === "DurableToolsWarning")
    .map(([message]) => String(message));

/** Resolves once `client` has emitted `count` more connection errors. */
function errorsFrom(client: { on(event: "error", listener: () => void): unknown }, count: number) {
  let seen = 0;
  return new Promise<void>((resolve) => {
    client.on("error", () => {
      if (++seen === count) resolve();
    });
  });
}

describe("fromUrl clients and connection errors", () => {
  it("RedisLedgerStore.fromUrl: calls fail closed, and many reconnect errors make one warning", async () => {
    const port = await freePort(); // nothing listens here
    const store = RedisLedgerStore.fromUrl(`redis://127.0.0.1:${port}`, {
      prefix: "dead",
      redis: fastRetries,
    });
    try {
      const errors = errorsFrom(store.client, 4);
      const ledger = new Ledger({ store });
      let runs = 0;
      const attempt = ledger.execute({ tool: "charge", key: "k", args: {}, submit: () => ++runs });
      await expect(attempt).rejects.toSatisfy(isLedgerUnavailableError);
      await errors;
      expect(runs).toBe(0);
      expect(warnings()).toEqual([
        expect.stringMatching(
          /^RedisLedgerStore\.fromUrl: Redis connection error \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); calls fail until it reconnects/,
        ),
      ]);
    } finally {
      await store.close().catch(() => undefined);
      store.client.disconnect();
    }
  });

  it("RedisSaver.fromUrl: the same, one warning for the outage", async () => {
    const port = await freePort();
    const saver = RedisSaver.fromUrl(`redis://127.0.0.1:${port}`, { redis: fastRetries });
    try {
      const errors = errorsFrom(saver.client, 4);
      await expect(saver.getTuple({ configurable: { thread_id: "t" } })).rejects.toThrow();
      await errors;
      expect(warnings()).toEqual([expect.stringMatching(/^RedisSaver\.fromUrl: Redis connection error/)]);
    } finally {
      saver.client.disconnect();
    }
  });

  it("warns again only after the client was ready again: one warning per outage", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const store = RedisLedgerStore.fromUrl(server.url, { prefix: "outages", redis: fastRetries });
    try {
      const ready = () => new Promise<void>((resolve) => store.client.once("ready", () => resolve()));
      await ready();
      for (const outage of [1, 2]) {
        const errors = errorsFrom(store.client, 3);
        server.kill("SIGKILL");
        await errors;
        expect(warnings()).toHaveLength(outage);
        const back = ready();
        await server.restart();
        await back;
      }
      expect(warnings()).toHaveLength(2);
    } finally {
      store.client.disconnect();
    }
  });
});
