import { isInvalidConfigurationError, isLedgerUnavailableError } from "@durable-tools/core";
import { claimRequest, T0, testEvent } from "@durable-tools/core/testing";
import { describe, expect, it } from "vitest";
import { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";
import { charge, useRedisServer } from "./test-support.js";

/*
 * A store claims a key it has seen before with a GET (a likely replay) instead of SET NX GET with a
 * whole new record. Which commands reach Redis is counted by Redis itself (INFO commandstats), on a
 * server of this file's own; every outcome must be the one the usual claim gives.
 */

const redis = useRedisServer();
let prefixes = 0;

function newStore(options: RedisLedgerStoreOptions = {}): RedisLedgerStore {
  return new RedisLedgerStore(redis.client(), { prefix: `seen${++prefixes}`, ...options });
}

type Calls = { get: number; set: number; evalsha: number };

async function commandCalls(): Promise<Calls> {
  const stats = await redis.admin.info("commandstats");
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { get: calls("get"), set: calls("set"), evalsha: calls("evalsha") };
}

/** What a claim of a key the store has seen sends, and what it sends for a key it has not. */
const ONE_GET: Calls = { get: 1, set: 0, evalsha: 0 };
const ONE_SET_NX_GET: Calls = { get: 0, set: 1, evalsha: 0 };

/**
 * What `body` returned, and the GET / SET / EVALSHA calls Redis served while it ran (commands from
 * scripts count too).
 */
async function callsDuring<T>(body: () => Promise<T>): Promise<{ calls: Calls; value: T }> {
  const before = await commandCalls();
  const value = await body();
  const after = await commandCalls();
  return {
    calls: {
      get: after.get - before.get,
      set: after.set - before.set,
      evalsha: after.evalsha - before.evalsha,
    },
    value,
  };
}

const callsOf = async (body: () => Promise<unknown>): Promise<Calls> => (await callsDuring(body)).calls;

describe("RedisLedgerStore: keys this process has seen", () => {
  it("replays a key it has seen with one GET and sends no new record", async () => {
    const { call, runs } = charge(newStore());
    const first = await call();
    const { calls, value: replay } = await callsDuring(call);
    expect(calls).toEqual(ONE_GET);
    expect(replay.replayed).toBe(true);
    expect(replay.result).toEqual(first.result);
    expect(runs()).toBe(1);
  });

  it("does not read the arguments of a seen key's replay: a caller may compute them only on demand", async () => {
    const store = newStore();
    let reads = 0;
    const request = (now: number) => {
      const r = claimRequest("lazy", { now });
      Object.defineProperty(r, "args", {
        enumerable: true,
        get: () => {
          reads++;
          return { cents: 500 };
        },
      });
      return r;
    };
    const first = await store.claim(request(T0));
    expect(first.outcome).toBe("created");
    expect(reads).toBeGreaterThan(0);
    reads = 0;
    const again = await store.claim(request(T0 + 1));
    expect(again.outcome).toBe("existing");
    expect(again.record.args).toEqual({ cents: 500 });
    expect(reads).toBe(0);
  });

  it("claims with SET NX GET a key it has not seen (as another process) or when it remembers none", async () => {
    const store = newStore();
    await charge(store).call();
    const prefix = `seen${prefixes}`;
    const elsewhere = charge(newStore({ prefix }));
    const remembersNone = charge(newStore({ prefix, rememberKeys: 0 }));
    expect(await callsOf(elsewhere.call)).toEqual(ONE_SET_NX_GET);
    expect(await callsOf(elsewhere.call)).toEqual(ONE_GET);
    expect(await callsOf(remembersNone.call)).toEqual(ONE_SET_NX_GET);
    expect(await callsOf(remembersNone.call)).toEqual(ONE_SET_NX_GET);
    expect([elsewhere.runs(), remembersNone.runs()]).toEqual([0, 0]);
  });

  it("claims a seen key anew when its record has gone (expired or evicted), and runs it once more", async () => {
    const store = newStore();
    const { call, runs } = charge(store);
    await call();
    const prefix = `seen${prefixes}`;
    expect(
      await redis.admin.del(`${prefix}:{-/charge/k:order-1}:rec`, `${prefix}:{-/charge/k:order-1}:ev`),
    ).toBe(2);
    const { calls, value: again } = await callsDuring(call);
    // GET finds nothing; SET NX GET creates the record; the confirm script GETs and SETs it.
    expect(calls).toEqual({ get: 2, set: 2, evalsha: 1 });
    expect(again.replayed).toBe(false);
    expect(runs()).toBe(2);
    const events = await store.readEvents({ key: "-/charge/k:order-1" });
    expect(events.map((e) => e.type)).toEqual(["claimed", "transition", "transition", "transition"]);
    // The arguments, which the GET path does not compute until the record turns out to be gone.
    expect(events[0]?.data).toEqual({ args: { cents: 500 } });
    expect((await store.get("-/charge/k:order-1"))?.args).toEqual({ cents: 500 });
  });

  it("replaces a seen key's expired record and takes over its expired lease through the script, as a first claim would", async () => {
    const store = newStore();
    const first = await store.claim(claimRequest("done"));
    await store.transition({
      key: "done",
      owner: "owner-a",
      fencingToken: first.record.fencingToken,
      now: T0,
      from: "PENDING",
      path: ["VALIDATED", "SUBMITTED", "CONFIRMED"],
      patch: { result: { ok: true }, expiresAt: T0 + 60_000 },
      events: [testEvent("done", "transition")],
    });
    const replaced = await store.claim(claimRequest("done", { now: T0 + 60_000, owner: "owner-b" }));
    expect([replaced.outcome, replaced.record.fencingToken, replaced.record.owner]).toEqual([
      "created",
      2,
      "owner-b",
    ]);

    await store.claim(claimRequest("stuck", { leaseMs: 1000 }));
    const { calls, value: takeover } = await callsDuring(() =>
      store.claim(claimRequest("stuck", { now: T0 + 1000, owner: "owner-b" })),
    );
    expect(calls.get).toBe(2); // the GET, then the script's own
    expect(calls.evalsha).toBe(1);
    expect(takeover).toMatchObject({ outcome: "taken_over", previousOwner: "owner-a" });
    expect(takeover.record).toMatchObject({ owner: "owner-b", fencingToken: 2 });

    // A live lease with the same fingerprint is just there: existing, nothing written.
    expect(await callsOf(() => store.claim(claimRequest("stuck", { now: T0 + 1500 })))).toEqual(ONE_GET);
  });

  it("forgets a key it released and the keys it deleted by prefix", async () => {
    const store = newStore();
    const claimed = await store.claim(claimRequest("t1/a"));
    await store.release({
      key: "t1/a",
      owner: "owner-a",
      fencingToken: claimed.record.fencingToken,
      events: [],
    });
    expect(await callsOf(() => store.claim(claimRequest("t1/a")))).toEqual(ONE_SET_NX_GET);
    await store.claim(claimRequest("t1/b"));
    await store.claim(claimRequest("t2/a"));
    expect(await store.deleteByKeyPrefix("t1/")).toBe(2);
    expect(await callsOf(() => store.claim(claimRequest("t1/b")))).toEqual(ONE_SET_NX_GET);
    expect(await callsOf(() => store.claim(claimRequest("t2/a")))).toEqual(ONE_GET);
  });

  it("remembers at most rememberKeys keys, the most recent ones", async () => {
    const store = newStore({ rememberKeys: 2 });
    for (const key of ["a", "b", "c"]) await store.claim(claimRequest(key));
    expect(await callsOf(() => store.claim(claimRequest("c")))).toEqual(ONE_GET);
    expect(await callsOf(() => store.claim(claimRequest("a")))).toEqual(ONE_SET_NX_GET);
  });

  it("fails closed on a seen key when Redis cannot be reached: no side effect runs", async () => {
    const store = newStore({ operationTimeoutMs: 500 });
    const { call, runs } = charge(store);
    await call();
    store.client.disconnect();
    const error = await call().catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect(runs()).toBe(1);
  });

  it("refuses a rememberKeys that is not a whole number of keys", () => {
    for (const rememberKeys of [-1, 1.5, Number.NaN]) {
      let error: unknown;
      try {
        newStore({ rememberKeys });
      } catch (e) {
        error = e;
      }
      expect(isInvalidConfigurationError(error)).toBe(true);
      expect((error as Error).message).toContain(`rememberKeys must be a whole number of keys`);
    }
  });
});
