import { claimRequest, testEvent } from "@durable-tools/core/testing";
import { beforeAll, describe, expect, it } from "vitest";
import { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";
import { charge, useRedisServer } from "./test-support.js";

/*
 * Redis 7 gives a new stream a first node of stream-node-max-bytes (4096 by default) whatever it holds.
 * The scripts rewrite a stream they have just created at its real size (COPY to a scratch key, RENAME
 * back), best effort: measured here with MEMORY USAGE on a server of this file's own, which keeps the
 * default setting.
 */

const NODE_BYTES = 4096;
const redis = useRedisServer();
let prefixes = 0;

beforeAll(async () => {
  // What makes the rest of the file meaningful: this server preallocates a 4 KB node per new stream.
  expect(await redis.admin.config("GET", "stream-node-max-bytes")).toEqual([
    "stream-node-max-bytes",
    `${NODE_BYTES}`,
  ]);
  await redis.admin.xadd("plain-stream", "*", "e", "x");
  expect(await streamBytes("plain-stream")).toBeGreaterThan(NODE_BYTES);
  // Users that may not COPY, or may COPY but not RENAME, as some managed services or ACLs have it.
  await redis.admin.acl("SETUSER", "no-copy", "on", ">secret", "~*", "&*", "+@all", "-copy");
  await redis.admin.acl("SETUSER", "no-rename", "on", ">secret", "~*", "&*", "+@all", "-rename");
});

function newStore(
  options: RedisLedgerStoreOptions = {},
  user?: string,
): { store: RedisLedgerStore; prefix: string } {
  const client = redis.client(user ? { username: user, password: "secret" } : {});
  const prefix = `compact${++prefixes}`;
  return { store: new RedisLedgerStore(client, { prefix, ...options }), prefix };
}

async function streamBytes(key: string): Promise<number> {
  return Number(await redis.admin.memory("USAGE", key, "SAMPLES", 0));
}

/** The one event stream under `prefix` (each test makes one operation). */
async function streamOf(prefix: string): Promise<string> {
  const keys = await redis.admin.keys(`${prefix}:*:ev`);
  expect(keys).toHaveLength(1);
  return keys[0] as string;
}

/** What kinds of key (`:rec`, `:ev`, ...) exist under `prefix`, sorted: the scratch copy must not. */
async function keyKinds(prefix: string): Promise<string[]> {
  return (await redis.admin.keys(`${prefix}:*`)).map((k) => k.slice(k.lastIndexOf(":"))).sort();
}

describe("RedisLedgerStore: a stream a script creates is stored at its size", () => {
  it("confirms a new key with the operation's stream well under one preallocated node, its events whole", async () => {
    const { store, prefix } = newStore();
    const { call, runs } = charge(store);
    expect((await call()).result).toEqual({ chargeId: "ch_1" });
    const stream = await streamOf(prefix);
    expect(await streamBytes(stream)).toBeLessThan(NODE_BYTES / 2);
    expect(await keyKinds(prefix)).toEqual([":ev", ":rec"]);

    const key = (await store.readEvents())[0]?.key as string;
    const events = await store.readEvents({ key });
    expect(events.map((e) => [e.type, e.from, e.to])).toEqual([
      ["claimed", undefined, "PENDING"],
      ["transition", "PENDING", "VALIDATED"],
      ["transition", "VALIDATED", "SUBMITTED"],
      ["transition", "SUBMITTED", "CONFIRMED"],
    ]);
    // The rewritten stream keeps its ids, and its TTL comes after the rewrite.
    const [[lastId]] = (await redis.admin.xrevrange(stream, "+", "-", "COUNT", 1)) as [[string, string[]]];
    const info = (await redis.admin.xinfo("STREAM", stream)) as unknown[];
    expect(info[info.indexOf("last-generated-id") + 1]).toBe(lastId);
    expect(await redis.admin.pttl(stream)).toBeGreaterThan(0);

    // A replay reads the record; a later append goes after the rewritten stream's last id.
    expect((await call()).result).toEqual({ chargeId: "ch_1" });
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
    expect(await redis.admin.pttl(stream)).toBeGreaterThan(0);
    expect(await keyKinds(released.prefix)).toEqual([":ev"]);
    expect((await released.store.readEvents({ key: "r" })).map((e) => e.type)).toEqual([
      "claimed",
      "released",
    ]);
  });

  it.each([
    ["COPY", "no-copy"],
    ["RENAME", "no-rename"],
  ])(
    "works unchanged where %s is refused: the stream stays at its preallocated size, no copy is left",
    async (_, user) => {
      const { store, prefix } = newStore({}, user);
      const { call, runs } = charge(store);
      expect((await call()).result).toEqual({ chargeId: "ch_1" });
      expect((await call()).result).toEqual({ chargeId: "ch_1" });
      expect(runs()).toBe(1);
      expect(await streamBytes(await streamOf(prefix))).toBeGreaterThan(NODE_BYTES);
      expect(await keyKinds(prefix)).toEqual([":ev", ":rec"]);
      const key = (await store.readEvents())[0]?.key as string;
      expect((await store.get(key))?.state).toBe("CONFIRMED");
      expect((await store.readEvents({ key })).map((e) => e.type)).toEqual([
        "claimed",
        "transition",
        "transition",
        "transition",
      ]);
    },
  );
});
