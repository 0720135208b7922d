import { Ledger } from "@durable-tools/core";
import { claimRequest, testEvent } from "@durable-tools/core/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";

/*
 * Redis 7 gives a new stream a first node of stream-node-max-bytes (4096 by default) whatever it holds.
 * The scripts rewrite a stream they have just created at its real size (DUMP + RESTORE), best effort:
 * measured here with MEMORY USAGE on a server of this file's own, which keeps the default setting.
 */

const NODE_BYTES = 4096;
let server: RedisServer;
let admin: Redis;
const clients: Redis[] = [];
let prefixes = 0;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.port, "127.0.0.1");
  // What makes the rest of the file meaningful: this server preallocates a 4 KB node per new stream.
  expect(await admin.config("GET", "stream-node-max-bytes")).toEqual([
    "stream-node-max-bytes",
    `${NODE_BYTES}`,
  ]);
  await admin.xadd("plain-stream", "*", "e", "x");
  expect(await streamBytes("plain-stream")).toBeGreaterThan(NODE_BYTES);
  // A user that may not DUMP or RESTORE, as some managed services or ACLs have it.
  await admin.acl("SETUSER", "no-dump", "on", ">secret", "~*", "&*", "+@all", "-dump", "-restore");
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit()));
  await admin?.quit();
  await server?.stop();
});

function newStore(
  options: RedisLedgerStoreOptions = {},
  user?: string,
): { store: RedisLedgerStore; prefix: string } {
  const client = new Redis({
    port: server.port,
    host: "127.0.0.1",
    ...(user ? { username: user, password: "secret" } : {}),
  });
  clients.push(client);
  const prefix = `compact${++prefixes}`;
  return { store: new RedisLedgerStore(client, { prefix, ...options }), prefix };
}

async function streamBytes(key: string): Promise<number> {
  return Number(await admin.memory("USAGE", key, "SAMPLES", 0));
}

/** The one event stream under `prefix` (each test makes one operation). */
async function streamOf(prefix: string): Promise<string> {
  const keys = await admin.keys(`${prefix}:*:ev`);
  expect(keys).toHaveLength(1);
  return keys[0] as string;
}

function newKeyCall(ledger: Ledger) {
  let runs = 0;
  const call = () =>
    ledger.execute({
      tool: "charge",
      key: "order-1",
      args: { cents: 500 },
      submit: () => ({ id: `ch_${++runs}` }),
    });
  return { call, runs: () => runs };
}

describe("RedisLedgerStore: a stream a script creates is stored at its size", () => {
  it("confirms a new key with the operation's stream well under one preallocated node, its events whole", async () => {
    const { store, prefix } = newStore();
    const ledger = new Ledger({ store });
    const { call, runs } = newKeyCall(ledger);
    expect((await call()).result).toEqual({ id: "ch_1" });
    const stream = await streamOf(prefix);
    expect(await streamBytes(stream)).toBeLessThan(NODE_BYTES / 2);

    const key = (await store.readEvents())[0]?.key as string;
    const events = await store.readEvents({ key });
    expect(events.map((e) => [e.type, e.from, e.to])).toEqual([
      ["claimed", undefined, "PENDING"],
      ["transition", "PENDING", "VALIDATED"],
      ["transition", "VALIDATED", "SUBMITTED"],
      ["transition", "SUBMITTED", "CONFIRMED"],
    ]);
    // The rewritten stream keeps its ids, and its TTL comes after the rewrite.
    const [[lastId]] = (await admin.xrevrange(stream, "+", "-", "COUNT", 1)) as [[string, string[]]];
    const info = (await admin.xinfo("STREAM", stream)) as unknown[];
    expect(info[info.indexOf("last-generated-id") + 1]).toBe(lastId);
    expect(await admin.pttl(stream)).toBeGreaterThan(0);

    // A replay reads the record; a later append goes after the rewritten stream's last id.
    expect((await call()).result).toEqual({ id: "ch_1" });
    expect(runs()).toBe(1);
    await store.appendEvents([testEvent(key, "reconciled")]);
    const after = await store.readEvents({ key });
    expect(after.map((e) => e.type)).toEqual([
      "claimed",
      "transition",
      "transition",
      "transition",
      "reconciled",
    ]);
    expect((after[4]?.seq as number) > (after[3]?.seq as number)).toBe(true);
  });

  it("does the same where a claim script creates the stream, for events of a key with no record, and on release", async () => {
    const byScript = newStore({ claimWith: "script" });
    expect((await byScript.store.claim(claimRequest("k"))).outcome).toBe("created");
    expect(await streamBytes(await streamOf(byScript.prefix))).toBeLessThan(NODE_BYTES / 2);

    const loose = newStore();
    await loose.store.appendEvents([testEvent("no-record", "waiting")]);
    expect(await streamBytes(await streamOf(loose.prefix))).toBeLessThan(NODE_BYTES / 2);
    expect((await loose.store.readEvents({ key: "no-record" })).map((e) => e.type)).toEqual(["waiting"]);

    const released = newStore();
    const { record } = await released.store.claim(claimRequest("r"));
    await released.store.release({
      key: "r",
      owner: "owner-a",
      fencingToken: record.fencingToken,
      events: [testEvent("r", "released")],
    });
    const stream = await streamOf(released.prefix);
    expect(await streamBytes(stream)).toBeLessThan(NODE_BYTES / 2);
    expect(await admin.pttl(stream)).toBeGreaterThan(0);
    expect((await released.store.readEvents({ key: "r" })).map((e) => e.type)).toEqual([
      "claimed",
      "released",
    ]);
  });

  it("works unchanged where DUMP and RESTORE are refused: the stream just stays at its preallocated size", async () => {
    const { store, prefix } = newStore({}, "no-dump");
    const ledger = new Ledger({ store });
    const { call, runs } = newKeyCall(ledger);
    expect((await call()).result).toEqual({ id: "ch_1" });
    expect((await call()).result).toEqual({ id: "ch_1" });
    expect(runs()).toBe(1);
    expect(await streamBytes(await streamOf(prefix))).toBeGreaterThan(NODE_BYTES);
    const key = (await store.readEvents())[0]?.key as string;
    expect((await store.get(key))?.state).toBe("CONFIRMED");
    expect((await store.readEvents({ key })).map((e) => e.type)).toEqual([
      "claimed",
      "transition",
      "transition",
      "transition",
    ]);
  });
});
