import { Ledger, type LedgerOptions } from "@durable-tools/core";
import { describeLedgerStoreConformance } from "@durable-tools/core/testing";
import { Redis, type RedisOptions } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { type RedisServer, type ServerFlavor, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";

/*
 * Helpers shared by this package's tests (not exported from the package entry point).
 */

export interface RedisFixture {
  /** Set once the file's first beforeAll has run. */
  server: RedisServer;
  /** A client for looking at what the tests left (INFO, MEMORY USAGE, ...). */
  admin: Redis;
  /** A client on the server, quit after the file's tests (unless a test ended it). */
  client(options?: RedisOptions): Redis;
}

/** A redis-server (or valkey-server) of the test file's own: started before its tests, stopped with its clients after. */
export function useRedisServer(options: { flavor?: ServerFlavor } = {}): RedisFixture {
  const clients: Redis[] = [];
  const fixture = {
    client(options: RedisOptions = {}) {
      const client = new Redis({ host: "127.0.0.1", port: fixture.server.port, ...options });
      clients.push(client);
      return client;
    },
  } as RedisFixture;
  beforeAll(async () => {
    fixture.server = await startRedisServer(options);
    fixture.admin = fixture.client();
  });
  afterAll(async () => {
    await Promise.all(clients.filter((client) => client.status !== "end").map((client) => client.quit()));
    await fixture.server?.stop();
  });
  return fixture;
}

/**
 * What the server ran while `call` ran, as MONITOR shows it (a script's own commands included): one
 * line per command, its name then each argument's length. Tests may not assert time, so they assert
 * the work instead. `admin` must not be in a transaction or subscribed.
 */
export async function serverWork(admin: Redis, call: () => Promise<unknown>): Promise<string[]> {
  const monitor = await admin.monitor();
  const sentinel = `server-work-done-${process.hrtime.bigint()}`;
  const seen: string[] = [];
  const done = new Promise<void>((resolve) => {
    monitor.on("monitor", (_time: string, args: string[]) => {
      const [name, ...rest] = args;
      if (name?.toLowerCase() === "ping") {
        if (rest[0] === sentinel) resolve();
        return;
      }
      seen.push([name?.toLowerCase(), ...rest.map((arg) => arg.length)].join(" "));
    });
  });
  try {
    await call();
    // MONITOR reports commands in the order the server ran them: once it reports this PING, it has
    // reported everything the call made the server run.
    await admin.ping(sentinel);
    await done;
  } finally {
    monitor.removeAllListeners("monitor"); // disconnecting takes a while; stop collecting now
    monitor.disconnect();
  }
  return seen;
}

/** A ledger call with a fixed key on `store`, and how many times its function ran. */
export function charge(store: RedisLedgerStore, options: Omit<LedgerOptions, "store"> = {}) {
  const ledger = new Ledger({ ...options, store });
  let runs = 0;
  const call = () =>
    ledger.execute({
      tool: "charge",
      key: "order-1",
      args: { cents: 500 },
      submit: () => ({ chargeId: `ch_${++runs}` }),
    });
  return { call, runs: () => runs };
}

/**
 * The store conformance suite every store passes, once per mode (`[label suffix, store options, ioredis
 * options]`), on the server `server()` returns when the suite runs: each store on a connection and a
 * prefix of its own.
 */
export function describeConformanceOn(
  serverName: string,
  server: () => RedisServer,
  modes: readonly (readonly [string, RedisLedgerStoreOptions, RedisOptions?])[],
): void {
  let stores = 0;
  for (const [mode, options, clientOptions = {}] of modes) {
    describeLedgerStoreConformance(`RedisLedgerStore (${serverName}${mode})`, {
      create: () =>
        new RedisLedgerStore(new Redis(server().port, "127.0.0.1", clientOptions), {
          prefix: `conf-${serverName}-${++stores}`,
          ...options,
        }),
      destroy: async (store) => {
        await (store as RedisLedgerStore).client.quit();
      },
    });
  }
}
