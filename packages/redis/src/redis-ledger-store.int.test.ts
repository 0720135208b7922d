import { setTimeout as sleep } from "node:timers/promises";
import {
  aesGcmCodec,
  generateKey,
  InvalidConfigurationError,
  isInvalidConfigurationError,
  isLedgerUnavailableError,
  isRecordCodecError,
  Ledger,
  type LedgerEvent,
  type LedgerEventInput,
  MemoryLedgerStore,
  type RecordCodec,
  type RecordPatch,
  StaleOwnerError,
} from "@durable-tools/core";
import { claimRequest, T0, testEvent } from "@durable-tools/core/testing";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";
import { entryValue } from "./stream-ids.js";
import { charge, describeConformanceOn } from "./test-support.js";

let server: RedisServer;
let prefixes = 0;

/** A client for the describe blocks below (each block's stores take prefixes of their own). */
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.port, "127.0.0.1");
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

interface Holder {
  key?: string;
  owner?: string;
  now?: number;
}

/** The holder (`owner-a` of key `k` by default) moves its PENDING record to VALIDATED. */
function validate(
  store: RedisLedgerStore,
  fencingToken: number,
  events: LedgerEventInput[],
  holder: Holder = {},
) {
  const { key = "k", owner = "owner-a", now = T0 } = holder;
  return store.transition({
    key,
    owner,
    fencingToken,
    now,
    from: "PENDING",
    path: ["VALIDATED"],
    patch: {},
    events,
  });
}

/** The holder (`owner-a` of key `k` by default) releases its record. */
function release(
  store: RedisLedgerStore,
  fencingToken: number,
  events: LedgerEventInput[],
  holder: Holder = {},
) {
  const { key = "k", owner = "owner-a" } = holder;
  return store.release({ key, owner, fencingToken, events });
}

// Defaults; every claim a SET NX GET (what a process that has not seen the key sends); every claim a
// Lua script (as on Redis 6.2); a client whose keyPrefix (with glob characters) ioredis puts in front
// of every key, but not in SCAN's pattern nor its replies (listInDoubt, deleteByKeyPrefix, readEvents).
describeConformanceOn("redis-server", () => server, [
  ["", {}],
  [", remembers no keys", { rememberKeys: 0 }],
  [", claims by script as on Redis 6.2", { claimWith: "script" }],
  [", on a client with a keyPrefix", {}, { keyPrefix: "app[1]*:" }],
]);

describe("RedisLedgerStore.appendEvents with events the codec refuses", () => {
  it("writes none of the batch when the codec refuses a later event (every entry is encoded before any is sent)", async () => {
    const codec: RecordCodec = {
      encode: (value, key) => {
        if (key === "b") throw new Error(`no data key for ${key}`);
        return value;
      },
      decode: (value) => value,
    };
    const store = new RedisLedgerStore(redis, { prefix: "append-refused", codec });
    await expect(
      store.appendEvents([testEvent("a", "waiting", { n: 1 }), testEvent("b", "waiting", { n: 2 })]),
    ).rejects.toThrow("no data key for b");
    expect(await store.readEvents({ key: "a" })).toEqual([]);
    expect(await store.readEvents({ key: "b" })).toEqual([]);
  });
});

describe("RedisLedgerStore with an AES-256-GCM codec", () => {
  it("keeps arguments, results and event data encrypted at rest; tampering is an error, never a result", async () => {
    const redis = new Redis(server.port, "127.0.0.1");
    try {
      const codec = aesGcmCodec({ keys: { k1: generateKey() }, activeKeyId: "k1" });
      const store = new RedisLedgerStore(redis, { prefix: "enc", codec });
      const ledger = new Ledger({ store });
      let runs = 0;
      const spec = {
        tool: "charge",
        key: "c-1",
        args: { card: "4242424242424242" },
        submit: () => ({ receipt: "secret-receipt-77", n: ++runs }),
      };
      const first = await ledger.execute(spec);
      expect(first.result).toEqual({ receipt: "secret-receipt-77", n: 1 });
      expect((await ledger.execute(spec)).result).toEqual(first.result);

      const raw = JSON.stringify([
        await redis.get("enc:{-/charge/k:c-1}:rec"),
        await redis.xrange("enc:{-/charge/k:c-1}:ev", "-", "+"),
      ]);
      expect(raw).not.toContain("4242424242424242");
      expect(raw).not.toContain("secret-receipt-77");
      expect(raw).toContain("A256GCM");
      expect((await ledger.readEvents({ key: "-/charge/k:c-1" }))[0]?.data).toEqual({
        args: { card: "4242424242424242" },
      });

      // Line 11 of the record text is `out` (record-text.ts): flip one bit of the result's ciphertext.
      const lines = ((await redis.get("enc:{-/charge/k:c-1}:rec")) as string).split("\n");
      const out = JSON.parse(lines[10] as string);
      const ct = Buffer.from(out.result.ct, "base64");
      ct[0] = (ct[0] as number) ^ 1;
      out.result.ct = ct.toString("base64");
      lines[10] = JSON.stringify(out);
      await redis.set("enc:{-/charge/k:c-1}:rec", lines.join("\n"), "KEEPTTL");
      const error = await ledger.execute(spec).catch((e: unknown) => e);
      expect(isRecordCodecError(error)).toBe(true);
      expect(runs).toBe(1);

      // Each envelope is bound to its field: the arguments' ciphertext put where the result goes is
      // an error too, not the arguments returned as the result.
      const other = { ...spec, key: "c-2" };
      await ledger.execute(other);
      const rec = "enc:{-/charge/k:c-2}:rec";
      const swapped = ((await redis.get(rec)) as string).split("\n");
      const meta = JSON.parse(swapped[9] as string);
      const settled = JSON.parse(swapped[10] as string);
      settled.result = meta["@args"];
      swapped[10] = JSON.stringify(settled);
      await redis.set(rec, swapped.join("\n"), "KEEPTTL");
      const swapError = await ledger.execute(other).catch((e: unknown) => e);
      expect(isRecordCodecError(swapError)).toBe(true);
      expect(runs).toBe(2);
    } finally {
      await redis.quit();
    }
  });
});

describe("RedisLedgerStore record layout", () => {
  let store: RedisLedgerStore;
  let prefix: string;
  const fresh = () => {
    prefix = `layout${++prefixes}`;
    store = new RedisLedgerStore(redis, { prefix });
    return store;
  };
  const confirm = (key: string, fencingToken: number, now = T0) =>
    store.transition({
      key,
      owner: "owner-a",
      fencingToken,
      now,
      from: "PENDING",
      path: ["VALIDATED", "SUBMITTED", "CONFIRMED"],
      patch: { result: { ok: true } },
      events: [testEvent(key, "transition")],
    });

  it("shows a new record's creation events before its first change, with the seq they keep after it", async () => {
    fresh();
    const claimed = await store.claim(
      claimRequest("k1", { events: [testEvent("k1", "claimed"), testEvent("k1", "transition")] }),
    );
    const before = await store.readEvents({ key: "k1" });
    expect(before.map((e) => e.type)).toEqual(["claimed", "transition"]);
    expect(await redis.exists(`${prefix}:{k1}:ev`)).toBe(0); // still in the record, not yet in the stream

    await confirm("k1", claimed.record.fencingToken);
    const after = await store.readEvents({ key: "k1" });
    expect(after.slice(0, 2)).toEqual(before);
    expect(after.map((e) => e.type)).toEqual(["claimed", "transition", "transition"]);
    expect((after[2]?.seq ?? 0) > (after[1]?.seq ?? 0)).toBe(true);
    // One stream entry: the creation events and the change that wrote them.
    expect(await redis.xlen(`${prefix}:{k1}:ev`)).toBe(1);
    expect(await store.readEvents({ key: "k1", afterSeq: after[1]?.seq ?? 0 })).toEqual([after[2]]);
  });

  it("stores creation events without what the record holds, and reads them back whole after the record is gone", async () => {
    fresh();
    const args = { customer: "cus_9", lines: [{ sku: "a", quantity: 2 }] };
    const shared = { key: "k4", tool: "charge", correlationId: "corr-1", owner: "owner-a", at: T0 };
    const created = [
      {
        ...shared,
        id: "owner-a#1",
        type: "claimed" as const,
        attempt: 1,
        to: "PENDING" as const,
        data: { args },
      },
      {
        ...shared,
        id: "owner-a#2",
        type: "transition" as const,
        attempt: 1,
        from: "PENDING" as const,
        to: "VALIDATED" as const,
      },
    ];
    const claimed = await store.claim(
      claimRequest("k4", { tool: "charge", correlationId: "corr-1", args, events: created }),
    );
    const released = { ...shared, id: "owner-a#3", type: "released" as const, attempt: 1 };
    await release(store, claimed.record.fencingToken, [released], { key: "k4" });
    expect(await redis.exists(`${prefix}:{k4}:rec`)).toBe(0);

    // The stored creation entry names neither the arguments nor the shared fields; field r holds them.
    const entries = await redis.xrange(`${prefix}:{k4}:ev`, "-", "+");
    expect(entries).toHaveLength(1);
    const fields = entries[0]?.[1] ?? [];
    expect(fields.filter((_, i) => i % 2 === 0)).toEqual(["e", "r", "f"]);
    expect(fields[1]).not.toContain("cus_9");
    expect(fields[1]).not.toContain("corr-1");
    const read = await store.readEvents({ key: "k4" });
    expect(read.map(({ seq: _seq, ...event }) => event)).toEqual([...created, released]);
  });

  it("stores a run's arguments once, in its record, and gives each run its own after a release or a replacement", async () => {
    fresh();
    const lives: { owner: string; args: { run: number; note: string } }[] = [1, 2, 3].map((run) => ({
      owner: `owner-${run}`,
      args: { run, note: `${run}`.repeat(3000) },
    }));
    const creationOf = (life: (typeof lives)[number], now: number) => {
      const shared = { key: "k5", tool: "charge", owner: life.owner, at: now };
      return [
        { ...shared, id: `${life.owner}#1`, type: "claimed" as const, attempt: 1, data: { args: life.args } },
        { ...shared, id: `${life.owner}#2`, type: "transition" as const, attempt: 1, to: "PENDING" as const },
      ];
    };
    const claim = async (life: (typeof lives)[number], now: number) => {
      const request = {
        tool: "charge",
        owner: life.owner,
        now,
        args: life.args,
        events: creationOf(life, now),
      };
      const { outcome, record } = await store.claim(claimRequest("k5", request));
      expect(outcome).toBe("created");
      // The first change writes the creation events to the stream.
      await validate(store, record.fencingToken, [], { key: "k5", owner: life.owner, now });
      return record.fencingToken;
    };
    const claimedArgs = async () =>
      (await store.readEvents({ key: "k5" })).filter((e) => e.type === "claimed").map((e) => e.data?.args);
    const [first, second, third] = lives as [(typeof lives)[0], (typeof lives)[0], (typeof lives)[0]];

    // Run 1: its creation entry leaves the 3 KB of arguments to the record.
    const token1 = await claim(first, T0);
    const entries = await redis.xrange(`${prefix}:{k5}:ev`, "-", "+");
    const fields = entries[0]?.[1] ?? [];
    expect(fields[fields.indexOf("r") + 1]?.length).toBeLessThan(200);
    expect(Number(await redis.memory("USAGE", `${prefix}:{k5}:ev`, "SAMPLES", 0))).toBeLessThan(3000);
    expect(await claimedArgs()).toEqual([first.args]);

    // Released: the record is gone; the release entry keeps run 1's arguments, for run 1's events only.
    await store.release({ key: "k5", owner: first.owner, fencingToken: token1, events: [] });
    expect(await redis.exists(`${prefix}:{k5}:rec`)).toBe(0);
    expect(await claimedArgs()).toEqual([first.args]);
    const token2 = await claim(second, T0 + 1);
    expect(await claimedArgs()).toEqual([first.args, second.args]);

    // Run 2 confirmed with an expiry; run 3 claims after it (by the caller's clock, before Redis
    // expires it): the record is replaced, and the stream keeps run 2's arguments for run 2's events.
    await store.transition({
      key: "k5",
      owner: second.owner,
      fencingToken: token2,
      now: T0 + 1,
      from: "VALIDATED",
      path: ["SUBMITTED", "CONFIRMED"],
      patch: { result: { ok: true }, expiresAt: T0 + 60_000 },
      events: [],
    });
    await claim(third, T0 + 60_001);
    expect(await claimedArgs()).toEqual([first.args, second.args, third.args]);
  });

  it("keeps append order when a key is claimed again with a clock behind its stream", async () => {
    fresh();
    const first = await store.claim(claimRequest("k2", { now: T0 + 10_000 }));
    await release(store, first.record.fencingToken, [testEvent("k2", "released")], { key: "k2" });
    // The released run's stream ends at Redis' clock (now); the new claim says T0 (2023).
    const again = await store.claim(claimRequest("k2", { owner: "owner-b" }));
    expect(again.outcome).toBe("created");
    const before = await store.readEvents({ key: "k2" });
    expect(before.map((e) => e.type)).toEqual(["claimed", "released", "claimed"]);
    await store.appendEvents([testEvent("k2", "waiting")]);
    const after = await store.readEvents({ key: "k2" });
    expect(after.slice(0, 3)).toEqual(before);
    expect(after.map((e) => e.type)).toEqual(["claimed", "released", "claimed", "waiting"]);
    const seqs = after.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("lists every operation's events, including creation events still held by a record", async () => {
    fresh();
    await store.claim(claimRequest("a"));
    const b = await store.claim(claimRequest("b"));
    await confirm("b", b.record.fencingToken);
    const all = await store.readEvents();
    expect(all.map((e) => `${e.key}:${e.type}`).sort()).toEqual(["a:claimed", "b:claimed", "b:transition"]);
  });

  it("refuses a key that holds something else, and runs no side effect", async () => {
    fresh();
    const ledger = new Ledger({ store });
    await redis.set(`${prefix}:{-/charge/k:x}:rec`, "not a record");
    let runs = 0;
    const error = await ledger
      .execute({ tool: "charge", key: "x", args: {}, submit: () => ++runs })
      .catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain("does not hold a durable-tools record");
    expect(runs).toBe(0);
    expect(await redis.get(`${prefix}:{-/charge/k:x}:rec`)).toBe("not a record");
  });

  it("refuses an owner id with a line break and writes nothing", async () => {
    fresh();
    const error = await store.claim(claimRequest("k3", { owner: "a\nb" })).catch((e: unknown) => e);
    expect(isInvalidConfigurationError(error)).toBe(true);
    expect(await redis.exists(`${prefix}:{k3}:rec`)).toBe(0);
  });

  it("refuses a releasedEventsTtlMs Redis cannot take", () => {
    expect(() => new RedisLedgerStore(redis, { releasedEventsTtlMs: 2 ** 60 })).toThrow(
      new InvalidConfigurationError(
        "releasedEventsTtlMs must be at most 9007199254740991 milliseconds, got 1152921504606847000.",
      ),
    );
  });

  it("refuses an unknown claimWith", () => {
    expect(() => new RedisLedgerStore(redis, { claimWith: "eval" as never })).toThrow(/claimWith must be/);
  });
});

/** The events as given: what `readEvents` adds (seq) left out. */
const withoutSeq = (events: readonly LedgerEvent[]) => events.map(({ seq: _seq, ...event }) => event);

/** What a call rejected with (fails the test if it did not). */
async function rejection(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to be refused");
}

describe("RedisLedgerStore: events of an operation whose record has expired", () => {
  it("go to a stream that expires too (releasedEventsTtlMs), never one kept for ever", async () => {
    const prefix = `gone${++prefixes}`;
    const store = new RedisLedgerStore(redis, { prefix, releasedEventsTtlMs: 60_000 });
    await store.claim(claimRequest("k"));
    await validate(store, 1, [testEvent("k", "transition")]);
    // The record and its stream expire together (as a CONFIRMED record's TTL runs out).
    await redis.del(`${prefix}:{k}:rec`, `${prefix}:{k}:ev`);
    // A call that read the record just before it expired reports its replay.
    const replayed = testEvent("k", "replayed");
    await store.appendEvents([replayed]);
    const ttl = await redis.pttl(`${prefix}:{k}:ev`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(withoutSeq(await store.readEvents({ key: "k" }))).toEqual([replayed]);
  });
});

describe("RedisLedgerStore: a released run's stream and the next run of its key", () => {
  const TTL = 500;
  const newStore = (options: RedisLedgerStoreOptions = {}) => {
    const prefix = `ttl${++prefixes}`;
    const store = new RedisLedgerStore(redis, { prefix, releasedEventsTtlMs: TTL, ...options });
    return { store, stream: `${prefix}:{k}:ev` };
  };

  const scriptClaims = { claimWith: "script" } as const;
  it.each([
    ["a native claim", {}],
    ["the claim script", scriptClaims],
  ] as const)(
    "keeps a later run's events past releasedEventsTtlMs when %s creates it",
    async (_, options) => {
      const { store, stream } = newStore(options);
      const first = [testEvent("k", "claimed")];
      const a = await store.claim(claimRequest("k", { events: first }));
      const released = testEvent("k", "released");
      await release(store, a.record.fencingToken, [released]);
      expect(await redis.pttl(stream)).toBeGreaterThan(0);

      const second = [testEvent("k", "claimed")];
      const b = await store.claim(claimRequest("k", { owner: "owner-b", events: second }));
      expect(b.outcome).toBe("created");
      // The claim script writes the run's creation events at once, and makes the stream permanent; a
      // native claim leaves them in the record (the stream still has the released run's TTL).
      if (options === scriptClaims) expect(await redis.pttl(stream)).toBe(-1);
      else expect(await redis.pttl(stream)).toBeGreaterThan(0);
      const moved = testEvent("k", "transition");
      await validate(store, b.record.fencingToken, [moved], { owner: "owner-b" });
      expect(await redis.pttl(stream)).toBe(-1);
      await sleep(TTL + 100);
      expect((await store.get("k"))?.owner).toBe("owner-b");
      expect(withoutSeq(await store.readEvents({ key: "k" }))).toEqual([
        ...first,
        released,
        ...second,
        moved,
      ]);
    },
  );

  it("keeps it for a run claimed without creation events once that run appends; a record-less or expiring stream keeps its TTL", async () => {
    const { store, stream } = newStore();
    const claimed = testEvent("k", "claimed");
    const a = await store.claim(claimRequest("k", { events: [claimed] }));
    const released = testEvent("k", "released");
    await release(store, a.record.fencingToken, [released]);
    // Events of no record: the released stream keeps its TTL.
    const orphan = testEvent("k", "waiting");
    await store.appendEvents([orphan]);
    expect(await redis.pttl(stream)).toBeGreaterThan(0);

    // A run claimed without creation events (as a resolve's takeover claim sends none).
    const b = await store.claim(
      claimRequest("k", { owner: "owner-b", events: [], initialPath: ["VALIDATED", "SUBMITTED"] }),
    );
    const reconciled = testEvent("k", "reconciled");
    await store.appendEvents([reconciled]);
    expect(await redis.pttl(stream)).toBe(-1);

    // Settled with an expiry: the stream takes the record's TTL, and later events keep it.
    await store.transition({
      key: "k",
      owner: "owner-b",
      fencingToken: b.record.fencingToken,
      now: T0,
      from: "SUBMITTED",
      path: ["CONFIRMED"],
      patch: { result: { ok: true }, expiresAt: T0 + 60_000 },
      events: [],
    });
    expect(await redis.pttl(stream)).toBeGreaterThan(TTL);
    const replayed = testEvent("k", "replayed");
    await store.appendEvents([replayed]);
    const ttl = await redis.pttl(stream);
    expect(ttl).toBeGreaterThan(TTL);
    expect(ttl).toBeLessThanOrEqual(60_000);

    await sleep(TTL + 100);
    expect(withoutSeq(await store.readEvents({ key: "k" }))).toEqual([
      claimed,
      released,
      orphan,
      reconciled,
      replayed,
    ]);
  });
});

describe("RedisLedgerStore: the clock", () => {
  const newStore = (options: RedisLedgerStoreOptions = {}) => {
    const prefix = `clock${++prefixes}`;
    return { store: new RedisLedgerStore(redis, { prefix, ...options }), prefix };
  };
  const refusal = (what: string, value: number) =>
    `The Redis ledger got ${what} = ${String(value)}: it must be a time in milliseconds since 1970 from 1700000000000 (2023-11-14T22:13:20.000Z) to 2825899906841 (2059-07-20T04:11:46.841Z), because the events' stream ids and seq are made from it. Use a wall clock (Date.now, or performance.timeOrigin + performance.now()); a test clock must start at or after 1700000000000.`;
  const BAD_CLOCKS = [0, 1.5, T0 - 1, T0 - 0.5, 2_825_899_906_842, Number.NaN, Infinity, -Infinity];

  it.each([
    ["native", {}],
    ["script", { claimWith: "script" }],
  ] as const)(
    "refuses a claim at a time it cannot make event ids from, writing nothing (%s claims)",
    async (_, options) => {
      const { store, prefix } = newStore(options);
      for (const now of BAD_CLOCKS) {
        const error = await rejection(store.claim(claimRequest("k", { now })));
        expect(error).toBeInstanceOf(InvalidConfigurationError);
        expect(error.message).toBe(refusal("claim's now", now));
      }
      expect(await redis.keys(`${prefix}:*`)).toEqual([]);
    },
  );

  it("refuses a transition or renewal at such a time, leaving the record as it was", async () => {
    const { store, prefix } = newStore();
    const { record } = await store.claim(claimRequest("k"));
    const before = await redis.get(`${prefix}:{k}:rec`);
    const fence = { key: "k", owner: "owner-a", fencingToken: record.fencingToken };
    for (const now of BAD_CLOCKS) {
      const moved = await rejection(
        store.transition({ ...fence, now, from: "PENDING", path: ["VALIDATED"], patch: {}, events: [] }),
      );
      expect(moved).toBeInstanceOf(InvalidConfigurationError);
      expect(moved.message).toBe(refusal("transition's now", now));
      const renewed = await rejection(store.renewLease({ ...fence, now, leaseExpiresAt: T0 + 60_000 }));
      expect(renewed).toBeInstanceOf(InvalidConfigurationError);
      expect(renewed.message).toBe(refusal("renewLease's now", now));
    }
    expect(await redis.get(`${prefix}:{k}:rec`)).toBe(before);
    expect(await redis.exists(`${prefix}:{k}:ev`)).toBe(0);
  });

  it("refuses a Ledger whose clock starts at 0 before running anything", async () => {
    const { store, prefix } = newStore();
    const ledger = new Ledger({ store, now: () => 0 });
    let runs = 0;
    const error = await rejection(
      ledger.execute({ tool: "charge", key: "order-1", args: { cents: 500 }, submit: () => ++runs }),
    );
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect(error.message).toBe(refusal("claim's now", 0));
    expect(runs).toBe(0);
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });

  it("takes a fractional clock: the record keeps it, event ids use its whole milliseconds", async () => {
    const { store, prefix } = newStore();
    const created = [testEvent("k", "claimed")];
    const { record } = await store.claim(claimRequest("k", { now: T0 + 0.25, events: created }));
    expect(record.createdAt).toBe(T0 + 0.25);
    const before = await store.readEvents({ key: "k" });
    const moved = testEvent("k", "transition");
    const next = await store.transition({
      key: "k",
      owner: "owner-a",
      fencingToken: record.fencingToken,
      now: T0 + 0.75,
      from: "PENDING",
      path: ["VALIDATED", "SUBMITTED"],
      patch: { leaseExpiresAt: T0 + 30_000.75 },
      events: [moved],
    });
    expect(next).toMatchObject({
      createdAt: T0 + 0.25,
      updatedAt: T0 + 0.75,
      leaseExpiresAt: T0 + 30_000.75,
    });
    expect((await redis.xrange(`${prefix}:{k}:ev`, "-", "+")).map(([id]) => id)).toEqual([`${T0}-0`]);
    const after = await store.readEvents({ key: "k" });
    expect(after.slice(0, 1)).toEqual(before);
    expect(withoutSeq(after)).toEqual([...created, moved]);

    // A takeover at a fractional time: the new lease is its time plus leaseMs, to the fraction.
    const taken = await store.claim(claimRequest("k", { owner: "owner-b", now: T0 + 30_001.5 }));
    expect(taken.outcome).toBe("taken_over");
    expect(taken.record).toMatchObject({
      owner: "owner-b",
      updatedAt: T0 + 30_001.5,
      leaseExpiresAt: T0 + 60_001.5,
    });
    expect(await store.get("k")).toEqual(taken.record);
  });

  it.each([
    ["native", {}],
    ["script", { claimWith: "script" }],
  ] as const)(
    "runs a Ledger on performance.timeOrigin + performance.now() (%s claims)",
    async (_, options) => {
      const { store } = newStore(options);
      const { call, runs } = charge(store, { now: () => performance.timeOrigin + performance.now() });
      expect((await call()).result).toEqual({ chargeId: "ch_1" });
      expect((await call()).result).toEqual({ chargeId: "ch_1" });
      expect(runs()).toBe(1);
      const events = await store.readEvents({ key: "-/charge/k:order-1" });
      expect(events.map((e) => [e.type, e.from, e.to])).toEqual([
        ["claimed", undefined, "PENDING"],
        ["transition", "PENDING", "VALIDATED"],
        ["transition", "VALIDATED", "SUBMITTED"],
        ["transition", "SUBMITTED", "CONFIRMED"],
      ]);
    },
  );

  it.each([
    ["0", "a created time that is no stream id"],
    [`${T0}.5`, "a fractional created time"],
  ])("moves on a record an earlier version stored with created time %s (%s)", async (created, _) => {
    const { store, prefix } = newStore();
    const claimed = testEvent("k", "claimed");
    const { record } = await store.claim(claimRequest("k", { events: [claimed] }));
    const lines = ((await redis.get(`${prefix}:{k}:rec`)) as string).split("\n");
    lines[8] = created;
    await redis.set(`${prefix}:{k}:rec`, lines.join("\n"));
    const moved = testEvent("k", "transition");
    const next = await validate(store, record.fencingToken, [moved]);
    expect(next.state).toBe("VALIDATED");
    // The claimed event's time comes from the record's created line (the events leave it out).
    expect(withoutSeq(await store.readEvents({ key: "k" }))).toEqual([
      { ...claimed, at: Number(created) },
      moved,
    ]);
    const [[id]] = (await redis.xrange(`${prefix}:{k}:ev`, "-", "+")) as [[string, string[]]];
    if (created !== "0") expect(id).toBe(`${T0}-0`);
    else expect(Number(id.split("-")[0])).toBeGreaterThan(T0); // Redis' own clock
  });
});

describe("RedisLedgerStore: a script checks what can fail before its first write", () => {
  type Command = (...args: unknown[]) => Promise<unknown>;
  const claimed = async () => {
    const prefix = `atomic${++prefixes}`;
    const store = new RedisLedgerStore(redis, { prefix });
    const { record } = await store.claim(claimRequest("k", { initialPath: ["VALIDATED", "SUBMITTED"] }));
    const keys = [`${prefix}:{k}:rec`, `${prefix}:{k}:ev`, `${prefix}:{k}:cp`];
    return { store, record, keys, text: await redis.get(keys[0] as string) };
  };
  const confirm = (fencingToken: number, expiresAt: number, events = [testEvent("k", "transition")]) => ({
    key: "k",
    owner: "owner-a",
    fencingToken,
    now: T0,
    from: "SUBMITTED" as const,
    path: ["CONFIRMED" as const],
    patch: { result: { ok: true }, effect: "created" as const, expiresAt },
    events,
  });

  it("settles a record whose expiry has a fraction of a millisecond, its TTL rounded up", async () => {
    const { store, record, keys } = await claimed();
    const now = Date.now();
    const events = [testEvent("k", "transition")];
    const settled = await store.transition({ ...confirm(record.fencingToken, now + 60_000.5, events), now });
    expect(settled).toMatchObject({ state: "CONFIRMED", expiresAt: now + 60_000.5 });
    const ttl = await redis.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_001);
    expect(await redis.pttl(keys[1] as string)).toBeLessThanOrEqual(60_001);
    expect(withoutSeq(await store.readEvents({ key: "k" })).map((e) => e.type)).toEqual([
      "claimed",
      "transition",
    ]);
  });

  it("refuses an expiry it cannot give Redis, before sending anything", async () => {
    const { store, record, keys, text } = await claimed();
    for (const [expiresAt, message] of [
      [Number.NaN, "The Redis ledger got transition's expiresAt = NaN: it must be a finite number."],
      [Infinity, "The Redis ledger got transition's expiresAt = Infinity: it must be a finite number."],
      [
        Number.MAX_VALUE,
        `The Redis ledger got transition's expiresAt = ${Number.MAX_VALUE}, ${Number.MAX_VALUE - T0} ms after its now: a Redis TTL can be at most 9007199254740991 ms.`,
      ],
    ] as const) {
      const error = await rejection(store.transition(confirm(record.fencingToken, expiresAt)));
      expect(error).toBeInstanceOf(InvalidConfigurationError);
      expect(error.message).toBe(message);
    }
    expect(await redis.get(keys[0] as string)).toBe(text);
    expect(await redis.exists(keys[1] as string)).toBe(0);
  });

  it("refuses numbers JavaScript would write as words (NaN, Infinity) in a lease, attempt or claim, before sending anything", async () => {
    const { store, record, keys, text } = await claimed();
    const fence = { key: "k", owner: "owner-a", fencingToken: record.fencingToken, now: T0 };
    const moved = (patch: RecordPatch) =>
      store.transition({ ...fence, from: "SUBMITTED", path: ["SUBMITTED"], patch, events: [] });
    for (const [call, message] of [
      [
        () => store.renewLease({ ...fence, leaseExpiresAt: Number.NaN }),
        "The Redis ledger got renewLease's leaseExpiresAt = NaN: it must be a finite number.",
      ],
      [
        () => moved({ leaseExpiresAt: Infinity }),
        "The Redis ledger got transition's leaseExpiresAt = Infinity: it must be a finite number.",
      ],
      [
        () => moved({ attempt: Number.NaN }),
        "The Redis ledger got transition's attempt = NaN: it must be a finite number.",
      ],
      [
        () => store.claim(claimRequest("other", { leaseMs: Infinity })),
        "The Redis ledger got claim's leaseMs = Infinity: it must be a finite number.",
      ],
    ] as const) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(InvalidConfigurationError);
      expect(error.message).toBe(message);
    }
    expect(await redis.get(keys[0] as string)).toBe(text);
    expect(await redis.exists(keys[1] as string)).toBe(0);
    expect(await store.get("other")).toBeUndefined();
  });

  it("has the transition and release scripts refuse a TTL that is no whole number of ms, with nothing written", async () => {
    const { record, keys, text } = await claimed();
    const scripts = redis as unknown as Record<"dtTransitionV7" | "dtReleaseV7", Command>;
    const entry = JSON.stringify({
      c: {},
      e: [{ id: "x", type: "transition", tool: "t", attempt: 1, at: T0 }],
    });
    for (const ttl of ["60000.5", "0", "-5", "1e3"]) {
      const moved = await rejection(
        scripts.dtTransitionV7(
          ...keys,
          T0,
          "owner-a",
          String(record.fencingToken),
          "SUBMITTED",
          "CONFIRMED",
          "",
          "",
          "1",
          String(T0 + 60_000.5),
          '{"result":1}',
          entry,
          ttl,
          ",result,",
        ),
      );
      expect(moved.message).toContain(`TTL must be a whole number of ms, got ${ttl}`);
      const released = await rejection(
        scripts.dtReleaseV7(...keys, "owner-a", String(record.fencingToken), entry, ttl),
      );
      expect(released.message).toContain(`TTL must be a whole number of ms, got ${ttl}`);
    }
    expect(await redis.get(keys[0] as string)).toBe(text);
    expect(await redis.exists(keys[1] as string)).toBe(0);
  });
});

describe("RedisLedgerStore: at most 1000 stream entries per millisecond of id", () => {
  const newStore = () => {
    const prefix = `perms${++prefixes}`;
    return { store: new RedisLedgerStore(redis, { prefix }), stream: `${prefix}:{k}:ev` };
  };
  /** A millisecond Redis' clock will not reach during the test: ids Redis picks count up within it. */
  const ahead = () => Date.now() + 3_600_000;
  const ids = async (stream: string) => (await redis.xrange(stream, "-", "+")).map(([id]) => id);

  it("adds the entry that would be <ms>-1000 as <ms + 1>-0, and reads every event in order", async () => {
    const { store, stream } = newStore();
    const ms = ahead();
    const seeded = testEvent("k", "waiting");
    await redis.xadd(stream, `${ms}-998`, "e", entryValue([seeded]));
    const appended = [testEvent("k", "waiting"), testEvent("k", "replayed"), testEvent("k", "replayed")];
    for (const event of appended) await store.appendEvents([event]);
    expect(await ids(stream)).toEqual([`${ms}-998`, `${ms}-999`, `${ms + 1}-0`, `${ms + 1}-1`]);
    const events = await store.readEvents({ key: "k" });
    expect(withoutSeq(events)).toEqual([seeded, ...appended]);
    const seqs = events.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(withoutSeq(await store.readEvents({ key: "k", afterSeq: seqs[1] }))).toEqual(appended.slice(1));
  });

  it("writes a record's creation events after a stream entry <ms>-999 as <ms + 1>-0, the id a reader showed before", async () => {
    const { store, stream } = newStore();
    const ms = ahead();
    const earlier = testEvent("k", "released");
    await redis.xadd(stream, `${ms}-999`, "e", entryValue([earlier]));
    const created = [testEvent("k", "claimed")];
    await store.claim(claimRequest("k", { now: ms, events: created }));
    const before = await store.readEvents({ key: "k" });
    expect(withoutSeq(before)).toEqual([earlier, ...created]);
    const waiting = testEvent("k", "waiting");
    await store.appendEvents([waiting]);
    expect(await ids(stream)).toEqual([`${ms}-999`, `${ms + 1}-0`]);
    const after = await store.readEvents({ key: "k" });
    expect(after.slice(0, 2)).toEqual(before);
    expect(withoutSeq(after)).toEqual([earlier, ...created, waiting]);
    expect((after[2]?.seq as number) > (after[1]?.seq as number)).toBe(true);
  });

  it("keeps seq strictly increasing and pages by afterSeq through 1,100 entries of a clock ahead of Redis", async () => {
    const { store, stream } = newStore();
    const now = ahead();
    const { record } = await store.claim(claimRequest("k", { now }));
    expect(record.createdAt).toBe(now);
    const appended = Array.from({ length: 1100 }, (_, i) => ({
      ...testEvent("k", "replayed"),
      id: `r#${i}`,
    }));
    // One appendEvents call per entry, pipelined on one connection: Redis runs them in order.
    await Promise.all(appended.map((event) => store.appendEvents([event])));
    const all = await store.readEvents({ key: "k" });
    expect(all).toHaveLength(1101);
    expect(all.slice(1).map((e) => e.id)).toEqual(appended.map((e) => e.id));
    for (let i = 1; i < all.length; i++)
      expect((all[i]?.seq as number) > (all[i - 1]?.seq as number)).toBe(true);
    const streamIds = await ids(stream);
    expect(streamIds.every((id) => Number(id.split("-")[1]) < 1000)).toBe(true);
    expect(streamIds[1000]).toBe(`${now + 1}-0`);
    let after: number | undefined;
    const paged: LedgerEvent[] = [];
    for (;;) {
      const page = await store.readEvents({
        key: "k",
        ...(after === undefined ? {} : { afterSeq: after }),
        limit: 100,
      });
      if (page.length === 0) break;
      paged.push(...page);
      after = page.at(-1)?.seq;
    }
    expect(paged).toEqual(all);
  });
});

describe("RedisLedgerStore: owner ids and fingerprints", () => {
  const newStore = () => {
    const prefix = `input${++prefixes}`;
    return { store: new RedisLedgerStore(redis, { prefix }), prefix };
  };

  it("refuses a fingerprint with a line break, writing nothing", async () => {
    const { store, prefix } = newStore();
    const error = await rejection(store.claim(claimRequest("k", { fingerprint: "a\nb" })));
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect(error.message).toBe('The Redis ledger cannot store a fingerprint with a line break: "a\\nb".');
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
    expect((await store.claim(claimRequest("k"))).outcome).toBe("created");
  });

  it("refuses a claim from an empty owner id, writing nothing", async () => {
    const { store, prefix } = newStore();
    const error = await rejection(store.claim(claimRequest("k", { owner: "" })));
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect(error.message).toBe(
      'The Redis ledger cannot take a claim from an empty owner id: a settled record has no owner (an empty line), so writes from "" could pass its fence. Give each worker a non-empty owner id.',
    );
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });

  it("refuses writes from an empty owner id to a settled record (which has no owner), as MemoryLedgerStore does", async () => {
    for (const store of [newStore().store, new MemoryLedgerStore()]) {
      const { record } = await store.claim(claimRequest("k", { initialPath: ["VALIDATED", "SUBMITTED"] }));
      const fence = { key: "k", owner: "", fencingToken: record.fencingToken };
      const settled = await store.transition({
        ...fence,
        owner: "owner-a",
        now: T0,
        from: "SUBMITTED",
        path: ["CONFIRMED"],
        patch: { result: 1, effect: "created" },
        events: [],
      });
      const refused = `Write to "k" refused: held by nobody with fencing token ${record.fencingToken}, write came from  with token ${record.fencingToken}. Another worker took the operation over.`;
      for (const write of [
        () => store.renewLease({ ...fence, now: T0, leaseExpiresAt: T0 + 9e9 }),
        () => store.release({ ...fence, events: [] }),
        () =>
          store.transition({
            ...fence,
            now: T0,
            from: "CONFIRMED",
            path: [],
            patch: { result: 2 },
            events: [],
          }),
      ]) {
        const error = await rejection(write());
        expect(error).toBeInstanceOf(StaleOwnerError);
        expect(error.message).toBe(refused);
      }
      expect(await store.get("k")).toEqual(settled);
    }
  });
});

describe("RedisLedgerStore: a transition's patch merges into the record as in MemoryLedgerStore", () => {
  /** Runs the same transitions on both stores; returns what each record says after each. */
  const bothAfter = async (patches: readonly RecordPatch[]) => {
    const stores = [new RedisLedgerStore(redis, { prefix: `merge${++prefixes}` }), new MemoryLedgerStore()];
    const seen: unknown[][] = [];
    for (const store of stores) {
      const { record } = await store.claim(claimRequest("k", { initialPath: ["VALIDATED", "SUBMITTED"] }));
      const fence = { key: "k", owner: "owner-a", fencingToken: record.fencingToken, now: T0, events: [] };
      const records: unknown[] = [];
      for (const patch of patches) {
        records.push(await store.transition({ ...fence, from: "SUBMITTED", path: ["SUBMITTED"], patch }));
      }
      records.push(await store.get("k"));
      // As JSON, the storage format (-0 becomes 0, no undefined members).
      seen.push(JSON.parse(JSON.stringify(records)));
    }
    return seen as [unknown[], unknown[]];
  };

  it("keeps what a patch leaves out", async () => {
    const [redisRecords, memoryRecords] = await bothAfter([
      { reason: "sent with idempotency key" },
      { result: 1, effect: "created" },
      { error: { name: "E", message: "m", retryable: true } },
      { result: [], reason: "again" },
    ]);
    expect(redisRecords).toEqual(memoryRecords);
    expect(redisRecords.at(-1)).toMatchObject({
      result: [],
      effect: "created",
      error: { name: "E", message: "m", retryable: true },
      reason: "again",
    });
  });

  it("merges any sequence of patches, values of any JSON text included (property)", async () => {
    const tricky = fc.constantFrom('","reason":"x', '"}', "\\", '\\"', "{[,]}", ',"effect":"noop"}', "");
    const text = fc.oneof(fc.string(), tricky);
    const json = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom([], {}, [[]], { reason: "r", effect: "x", result: [] }, 2 ** 64 + 1, -1e-7),
      fc.dictionary(fc.constantFrom("reason", "error", "result", "effect"), fc.oneof(text, fc.jsonValue())),
    );
    const patch = fc.record(
      {
        result: json,
        error: fc.record(
          { name: text, message: text, retryable: fc.boolean() },
          { requiredKeys: ["name", "message", "retryable"] },
        ),
        effect: fc.constantFrom("created", "updated", "noop"),
        reason: text,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(patch, { maxLength: 5 }), async (patches) => {
        const [redisRecords, memoryRecords] = await bothAfter(patches as RecordPatch[]);
        expect(redisRecords).toEqual(memoryRecords);
      }),
      { numRuns: 150 },
    );
  });
});
