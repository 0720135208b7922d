import {
  aesGcmCodec,
  generateKey,
  isInvalidConfigurationError,
  isLedgerUnavailableError,
  isRecordCodecError,
  Ledger,
} from "@durable-tools/core";
import { claimRequest, describeLedgerStoreConformance, T0, testEvent } from "@durable-tools/core/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

// Defaults; every claim a SET NX GET (what a process that has not seen the key sends); every claim a
// Lua script (as on Redis 6.2).
for (const [mode, options] of [
  ["", {}],
  [", remembers no keys", { rememberKeys: 0 }],
  [", claims by script as on Redis 6.2", { claimWith: "script" }],
] as const) {
  describeLedgerStoreConformance(`RedisLedgerStore (redis-server${mode})`, {
    create: () =>
      new RedisLedgerStore(new Redis(server.port, "127.0.0.1"), { prefix: `conf${++prefixes}`, ...options }),
    destroy: async (store) => {
      await (store as RedisLedgerStore).client.quit();
    },
  });
}

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
    } finally {
      await redis.quit();
    }
  });
});

describe("RedisLedgerStore record layout", () => {
  let redis: Redis;
  let store: RedisLedgerStore;
  let prefix: string;
  beforeAll(() => {
    redis = new Redis(server.port, "127.0.0.1");
  });
  afterAll(async () => {
    await redis.quit();
  });
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
    await store.release({
      key: "k4",
      owner: "owner-a",
      fencingToken: claimed.record.fencingToken,
      events: [released],
    });
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
      await store.transition({
        key: "k5",
        owner: life.owner,
        fencingToken: record.fencingToken,
        now,
        from: "PENDING",
        path: ["VALIDATED"],
        patch: {},
        events: [],
      });
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
    await store.release({
      key: "k2",
      owner: "owner-a",
      fencingToken: first.record.fencingToken,
      events: [testEvent("k2", "released")],
    });
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

  it("refuses an unknown claimWith", () => {
    expect(() => new RedisLedgerStore(redis, { claimWith: "eval" as never })).toThrow(/claimWith must be/);
  });
});
