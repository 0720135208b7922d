import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  aesGcmCodec,
  type ClaimRequest,
  InvalidConfigurationError,
  isIllegalTransitionError,
  isLedgerUnavailableError,
  isStaleOwnerError,
  type JsonValue,
  Ledger,
  type LedgerStore,
  type RecordCodec,
} from "@durable-tools/core";
import {
  describeLedgerStoreConformance,
  claimRequest as sharedClaimRequest,
  T0,
  testEvent,
} from "@durable-tools/core/testing";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { SQLITE_SCHEMA_VERSION, SqliteLedgerStore } from "./index.js";

const dirs = new Map<LedgerStore, string>();

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "dt-sqlite-"));
}

describeLedgerStoreConformance("SqliteLedgerStore", {
  create: () => {
    const dir = tempDir();
    const store = SqliteLedgerStore.fromPath(join(dir, "ledger.sqlite"));
    dirs.set(store, dir);
    return store;
  },
  destroy: async (store) => {
    await store.close?.();
    rmSync(dirs.get(store) as string, { recursive: true, force: true });
    dirs.delete(store);
  },
});

/** Temp files and open handles of one test, released after it. */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function tempPath(): string {
  const dir = tempDir();
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "ledger.sqlite");
}

function open(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  cleanup.push(() => db.open && db.close());
  return db;
}

function openStore(path: string, options?: Parameters<typeof SqliteLedgerStore.fromPath>[1]) {
  const store = SqliteLedgerStore.fromPath(path, options);
  cleanup.push(() => store.close());
  return store;
}

/** The conformance kit's claim, straight to SUBMITTED (the executor's claim without a validate hook). */
function claimRequest(key: string, overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return sharedClaimRequest(key, {
    initialPath: ["VALIDATED", "SUBMITTED"],
    initialAttempt: 1,
    ...overrides,
  });
}
const event = testEvent;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to be refused");
}

describe("SqliteLedgerStore schema", () => {
  it("creates versioned tables and the in-doubt index on first use, and reopens the file", async () => {
    const path = tempPath();
    await openStore(path).close();
    const db = open(path);
    const names = db
      .prepare<[], string>("SELECT name FROM sqlite_master WHERE name LIKE 'dt_%' ORDER BY name")
      .pluck()
      .all();
    expect(names).toEqual([
      "dt_events",
      "dt_events_key_seq",
      "dt_meta",
      "dt_records",
      "dt_records_expiry",
      "dt_records_in_doubt",
    ]);
    expect(db.prepare("SELECT schema_version FROM dt_meta").pluck().get()).toBe(SQLITE_SCHEMA_VERSION);
    // Opening again neither fails nor re-runs the migration.
    const again = openStore(path);
    await again.claim(claimRequest("k"));
    expect((await again.get("k"))?.state).toBe("SUBMITTED");
  });

  it("refuses a file written by a newer schema with a clear message", async () => {
    const path = tempPath();
    await openStore(path).close();
    const db = open(path);
    db.prepare("UPDATE dt_meta SET schema_version = ?").run(SQLITE_SCHEMA_VERSION + 1);
    const message =
      "The SQLite ledger schema is version 3 (table dt_meta), but this @durable-tools/sqlite supports up to version 2. Upgrade @durable-tools/sqlite; a newer ledger is never written by older code.";
    let error: unknown;
    try {
      SqliteLedgerStore.fromPath(path);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect((error as Error).message).toBe(message);
    expect(() => new SqliteLedgerStore(db)).toThrow(message);
    // Nothing was changed by the refused opens.
    expect(db.prepare("SELECT schema_version FROM dt_meta").pluck().get()).toBe(SQLITE_SCHEMA_VERSION + 1);
  });

  it("upgrades a version 1 file in place, its records kept", async () => {
    const path = tempPath();
    const first = openStore(path);
    await first.claim(claimRequest("k"));
    await first.close();
    const db = open(path);
    db.exec("DROP INDEX dt_records_expiry; UPDATE dt_meta SET schema_version = 1");
    const upgraded = openStore(path);
    expect((await upgraded.get("k"))?.state).toBe("SUBMITTED");
    expect(db.prepare("SELECT schema_version FROM dt_meta").pluck().get()).toBe(2);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'dt_records_expiry'").pluck().get()).toBe(
      "dt_records_expiry",
    );
  });

  it("opens a current file without the write lock: another writer holding it does not stop the open", async () => {
    const path = tempPath();
    await openStore(path).close();
    const writer = open(path);
    writer.exec("BEGIN IMMEDIATE");
    try {
      const store = openStore(path, { busyTimeoutMs: 5 });
      expect(await store.get("k")).toBeUndefined();
    } finally {
      writer.exec("ROLLBACK");
    }
  });

  it("puts the database in WAL mode with the busy timeout set", () => {
    const path = tempPath();
    openStore(path, { busyTimeoutMs: 1234 });
    const db = open(path);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const own = open(tempPath());
    new SqliteLedgerStore(own, { busyTimeoutMs: 4321 });
    expect(own.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(own.pragma("busy_timeout", { simple: true })).toBe(4321);
    expect(own.pragma("synchronous", { simple: true })).toBe(2); // FULL
  });

  it("answers listInDoubt from the (state, lease_expires_at) index", () => {
    const db = open(tempPath());
    new SqliteLedgerStore(db);
    const plan = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT record FROM dt_records WHERE state IN ('SUBMITTED') AND lease_expires_at <= ? ORDER BY updated_at, key LIMIT ?",
      )
      .all(T0, -1) as { detail: string }[];
    expect(plan.map((row) => row.detail).join("\n")).toContain("USING INDEX dt_records_in_doubt");
  });

  it("keeps stores with different table prefixes apart in one file", async () => {
    const path = tempPath();
    const a = openStore(path, { tablePrefix: "a_" });
    const b = openStore(path, { tablePrefix: "b_" });
    await a.claim(claimRequest("k"));
    expect(await b.get("k")).toBeUndefined();
    expect(await b.readEvents()).toEqual([]);
  });

  it("refuses an unsafe table prefix or busy timeout", () => {
    const path = tempPath();
    for (const options of [
      { tablePrefix: "dt; DROP TABLE x; --" },
      { tablePrefix: "" },
      { busyTimeoutMs: -1 },
    ]) {
      let error: unknown;
      try {
        SqliteLedgerStore.fromPath(path, options);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidConfigurationError);
    }
  });
});

describe("SqliteLedgerStore atomicity", () => {
  it("leaves row and events unchanged when a transition is refused or fails half way", async () => {
    const path = tempPath();
    const store = openStore(path);
    const { record } = await store.claim(claimRequest("k"));
    const raw = open(path);
    const snapshot = () => ({
      row: raw.prepare("SELECT * FROM dt_records WHERE key = 'k'").get(),
      events: raw.prepare("SELECT * FROM dt_events ORDER BY seq").all(),
    });
    const before = snapshot();
    const fence = { key: "k", owner: "owner-a", fencingToken: record.fencingToken };
    const confirm = {
      ...fence,
      now: T0 + 1,
      from: "SUBMITTED",
      path: ["CONFIRMED"],
      patch: { result: 1 },
    } as const;

    const stale = await rejection(
      store.transition({ ...confirm, fencingToken: 7, events: [event("k", "transition")] }),
    );
    expect(isStaleOwnerError(stale)).toBe(true);
    const illegal = await rejection(
      store.transition({ ...confirm, path: ["PENDING"], events: [event("k", "transition")] }),
    );
    expect(isIllegalTransitionError(illegal)).toBe(true);
    // The row is written, then the second event cannot be stored: the whole transaction rolls back.
    const unstorable = event("k", "transition", { n: 1n as unknown as JsonValue });
    const failed = await rejection(
      store.transition({ ...confirm, events: [event("k", "transition"), unstorable] }),
    );
    expect(isLedgerUnavailableError(failed)).toBe(true);
    expect((failed as Error).cause).toBeInstanceOf(TypeError);

    expect(snapshot()).toEqual(before);
    expect((await store.get("k"))?.state).toBe("SUBMITTED");
    // The store is still usable after the rollback.
    const next = await store.transition({ ...confirm, events: [event("k", "transition")] });
    expect(next.state).toBe("CONFIRMED");
    expect(await store.readEvents({ key: "k" })).toHaveLength(2);
  });

  it("turns a write lock held past the busy timeout into LedgerUnavailableError", async () => {
    const path = tempPath();
    const store = openStore(path, { busyTimeoutMs: 50 });
    const other = open(path);
    other.exec("BEGIN IMMEDIATE");
    const error = await rejection(store.claim(claimRequest("k")));
    other.exec("ROLLBACK");
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect(((error as Error).cause as { code: string }).code).toBe("SQLITE_BUSY");
    expect((await store.claim(claimRequest("k"))).outcome).toBe("created");
  });
});

describe("SqliteLedgerStore codec", () => {
  const wrapping: RecordCodec = {
    encode: (value) => ({ wrapped: Buffer.from(JSON.stringify(value)).toString("base64") }),
    decode: (stored) => JSON.parse(Buffer.from((stored as { wrapped: string }).wrapped, "base64").toString()),
  };

  it("stores args, result and event data only encoded, and returns them clear", async () => {
    const path = tempPath();
    const store = openStore(path, { codec: wrapping });
    const secret = "4111-1111-1111-1111";
    const { record } = await store.claim(
      claimRequest("k", {
        args: { card: secret },
        events: [event("k", "claimed", { args: { card: secret } })],
      }),
    );
    expect(record.args).toEqual({ card: secret });
    await store.transition({
      key: "k",
      owner: "owner-a",
      fencingToken: record.fencingToken,
      now: T0 + 1,
      from: "SUBMITTED",
      path: ["CONFIRMED"],
      patch: { result: { last4: secret }, effect: "created" },
      events: [event("k", "transition", { result: { last4: secret } })],
    });

    const raw = open(path);
    const stored = raw.prepare<[], string>("SELECT record FROM dt_records").pluck().get() as string;
    const storedEvents = raw.prepare<[], string>("SELECT event FROM dt_events").pluck().all();
    expect(stored).not.toContain(secret);
    expect(JSON.parse(stored).args).toHaveProperty("wrapped");
    for (const json of storedEvents) expect(json).not.toContain(secret);

    expect(await store.get("k")).toMatchObject({ args: { card: secret }, result: { last4: secret } });
    expect((await store.readEvents({ key: "k" })).map((e) => e.data)).toEqual([
      { args: { card: secret } },
      { result: { last4: secret } },
    ]);
    // Without the codec the stored values stay wrapped.
    await store.close();
    expect((await openStore(path).get("k"))?.args).toHaveProperty("wrapped");
  });
});

describe("SqliteLedgerStore under the Ledger executor", () => {
  it("runs 100 concurrent identical calls once and replays the result after reopening the file", async () => {
    const path = tempPath();
    const ledger = new Ledger({ store: openStore(path) });
    let runs = 0;
    const spec = {
      tool: "create_invoice",
      key: "inv-7",
      args: { customer: "acme", amountCents: 1200 },
      submit: async () => {
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { id: "in_1001", at: new Date(T0), lines: [{ sku: "a", qty: 2n }] };
      },
    };
    const results = await Promise.all(Array.from({ length: 100 }, () => ledger.execute(spec)));
    expect(runs).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(results.filter((r) => r.replayed)).toHaveLength(99);
    const first = results.find((r) => !r.replayed);
    for (const result of results) expect(result.result).toEqual(first?.result);
    await ledger.store.close?.();

    const reopened = new Ledger({ store: openStore(path) });
    const replay = await reopened.execute(spec);
    expect(runs).toBe(1);
    expect(replay.replayed).toBe(true);
    expect(replay.result).toEqual({ id: "in_1001", at: new Date(T0), lines: [{ sku: "a", qty: 2n }] });
    expect(replay.record.state).toBe("CONFIRMED");
  });

  it("fails closed on a closed database: LedgerUnavailableError and no side effect", async () => {
    const db = open(tempPath());
    const store = new SqliteLedgerStore(db);
    const ledger = new Ledger({ store });
    db.close();
    let runs = 0;
    const error = await rejection(ledger.execute({ tool: "t", key: "k", args: {}, submit: () => ++runs }));
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect(runs).toBe(0);
    const direct = await rejection(store.get("k"));
    expect(isLedgerUnavailableError(direct)).toBe(true);
    expect((direct as Error).cause).toBeInstanceOf(TypeError);
  });

  it("closes only a database it opened; a closed store refuses calls", async () => {
    const db = open(tempPath());
    const borrowed = new SqliteLedgerStore(db);
    await borrowed.close();
    expect(db.open).toBe(true);
    expect(isLedgerUnavailableError(await rejection(borrowed.get("k")))).toBe(true);
    await expect(new SqliteLedgerStore(db).get("k")).resolves.toBeUndefined();

    const owned = SqliteLedgerStore.fromPath(tempPath());
    await owned.close();
    await owned.close();
    expect(isLedgerUnavailableError(await rejection(owned.claim(claimRequest("k"))))).toBe(true);
  });
});

describe("SqliteLedgerStore rows", () => {
  const codec = aesGcmCodec({ keys: { k1: new Uint8Array(32).fill(7) }, activeKeyId: "k1" });

  for (const [label, options] of [
    ["with an encrypting codec", { codec }],
    ["without a codec", {}],
  ] as const) {
    it(`refuses a record or an event copied whole into another key's row (${label})`, async () => {
      const path = tempPath();
      const ledger = new Ledger({ store: openStore(path, options) });
      const pay = (order: string, to: string) =>
        ledger.execute({ tool: "pay", key: order, args: { order }, submit: () => ({ paidTo: to }) });
      await pay("order-A", "alice");
      await pay("order-B", "mallory");
      const [a, b] = ["order-A", "order-B"].map(
        (order) => ledger.keyFor({ tool: "pay", key: order, args: {} }).key,
      );
      const db = open(path);
      db.prepare(
        "UPDATE dt_records SET record = (SELECT record FROM dt_records WHERE key = ?) WHERE key = ?",
      ).run(b, a);
      const refused = await rejection(ledger.get(a as string));
      expect(refused).toMatchObject({ code: "RECORD_CODEC" });
      expect((refused as Error).message).toContain(`belongs to "${b}"`);
      // The replay is refused too: never B's result under A.
      expect(await rejection(pay("order-A", "alice"))).toMatchObject({ code: "RECORD_CODEC" });

      db.prepare(
        "INSERT INTO dt_events (key, event) SELECT ?, event FROM dt_events WHERE key = ? LIMIT 1",
      ).run(a, b);
      expect(await rejection(ledger.readEvents({ key: a as string }))).toMatchObject({
        code: "RECORD_CODEC",
      });
    });
  }

  it("deletes finished records past their expiry, with their events, as new records are created", async () => {
    const path = tempPath();
    let now = T0;
    const ledger = new Ledger({ store: openStore(path), now: () => now, recordTtlMs: 1000 });
    const charge = (order: string) =>
      ledger.execute({ tool: "charge", key: order, args: { order }, submit: () => `ch-${order}` });
    for (const order of ["o1", "o2", "o3"]) await charge(order);
    const db = open(path);
    const count = (sql: string) => db.prepare(sql).pluck().get();
    expect(count("SELECT count(*) FROM dt_records")).toBe(3);
    const eventsBefore = count("SELECT count(*) FROM dt_events") as number;

    now += 999; // not expired yet
    await charge("o4");
    expect(count("SELECT count(*) FROM dt_records")).toBe(4);

    now += 2; // o1-o3 expired, o4 not
    await charge("o5");
    expect(db.prepare("SELECT key FROM dt_records ORDER BY key").pluck().all()).toEqual(
      ["o4", "o5"].map((order) => ledger.keyFor({ tool: "charge", key: order, args: {} }).key),
    );
    const [o4, o5] = ["o4", "o5"].map((order) => ledger.keyFor({ tool: "charge", key: order, args: {} }).key);
    expect(count(`SELECT count(*) FROM dt_events WHERE key NOT IN ('${o4}', '${o5}')`)).toBe(0);
    expect(count(`SELECT count(*) FROM dt_events WHERE key = '${o4}'`)).toBe(eventsBefore / 3);
    // An expired key is a new operation again.
    expect(await charge("o1")).toMatchObject({ replayed: false });
  });
});
