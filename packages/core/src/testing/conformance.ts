import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isIllegalTransitionError, isRecordNotFoundError, isStaleOwnerError } from "../errors.js";
import type { LedgerEventInput } from "../events.js";
import { Ledger } from "../ledger.js";
import type { OperationRecord, OperationState } from "../record.js";
import type { ClaimRequest, LedgerStore } from "../store.js";
import { rejection } from "../test-support.js";

export interface ConformanceOptions {
  /** A fresh, empty store for each test. */
  create: () => LedgerStore | Promise<LedgerStore>;
  /** Releases what `create` made (connections, files). Default: `store.close()`. */
  destroy?: (store: LedgerStore) => void | Promise<void>;
  /** How many concurrent callers race in the concurrency tests. Default 100. */
  concurrency?: number;
}

/** The clock of the store tests. */
export const T0 = 1_700_000_000_000;
const LEASE = 30_000;

/** A minimal event for store tests (data optional). */
export function testEvent(
  key: string,
  type: LedgerEventInput["type"],
  data?: LedgerEventInput["data"],
): LedgerEventInput {
  return { id: randomUUID(), type, key, tool: "conformance", attempt: 0, at: T0, ...(data ? { data } : {}) };
}
const event = testEvent;

/** A claim of `key` at T0 by owner-a, for store tests. */
export function claimRequest(key: string, overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    key,
    tool: "conformance",
    fingerprint: "sha256:aaaa",
    owner: "owner-a",
    now: T0,
    leaseMs: LEASE,
    initialPath: [],
    initialAttempt: 0,
    events: [event(key, "claimed")],
    takeoverEvents: [event(key, "taken_over")],
    ...overrides,
  };
}

/**
 * The contract every `LedgerStore` must meet. Call it inside a vitest test file:
 * `describeLedgerStoreConformance("MyStore", { create: () => new MyStore(...) })`.
 */
export function describeLedgerStoreConformance(name: string, options: ConformanceOptions): void {
  const concurrency = options.concurrency ?? 100;

  describe(`LedgerStore conformance: ${name}`, () => {
    let store: LedgerStore;
    let key: string;

    beforeEach(async () => {
      store = await options.create();
      key = `-/conformance/k:${randomUUID()}`;
    });

    afterEach(async () => {
      if (options.destroy) await options.destroy(store);
      else await store.close?.();
    });

    const submitted = async (owner = "owner-a") => {
      const claim = await store.claim(
        claimRequest(key, { owner, initialPath: ["VALIDATED", "SUBMITTED"], initialAttempt: 1 }),
      );
      return claim.record;
    };

    describe("claim", () => {
      it("creates a PENDING record with fencing token 1 and a lease", async () => {
        const claim = await store.claim(
          claimRequest(key, { args: { a: 1 }, correlationId: "c-1", tenant: "acme", scope: "thread-7" }),
        );
        expect(claim.outcome).toBe("created");
        expect(claim.record).toEqual({
          key,
          tool: "conformance",
          tenant: "acme",
          fingerprint: "sha256:aaaa",
          state: "PENDING",
          attempt: 0,
          owner: "owner-a",
          fencingToken: 1,
          leaseExpiresAt: T0 + LEASE,
          args: { a: 1 },
          correlationId: "c-1",
          scope: "thread-7",
          createdAt: T0,
          updatedAt: T0,
          expiresAt: null,
        });
        expect(await store.get(key)).toEqual(claim.record);
      });

      it("applies an initial path in the same write", async () => {
        const record = await submitted();
        expect(record.state).toBe("SUBMITTED");
        expect(record.attempt).toBe(1);
        expect((await store.get(key))?.state).toBe("SUBMITTED");
      });

      it("refuses an illegal initial path and creates nothing", async () => {
        const error = await rejection(store.claim(claimRequest(key, { initialPath: ["SUBMITTED"] })));
        expect(isIllegalTransitionError(error)).toBe(true);
        expect(await store.get(key)).toBeUndefined();
        expect(await store.readEvents({ key })).toEqual([]);
      });

      it("returns an existing live record untouched and appends no event", async () => {
        await store.claim(claimRequest(key));
        const again = await store.claim(claimRequest(key, { owner: "owner-b", now: T0 + 1 }));
        expect(again.outcome).toBe("existing");
        expect(again.record.owner).toBe("owner-a");
        expect(again.record.fencingToken).toBe(1);
        expect((await store.readEvents({ key })).map((e) => e.type)).toEqual(["claimed"]);
      });

      it(`lets exactly one of ${concurrency} concurrent claims create the record`, async () => {
        const claims = await Promise.all(
          Array.from({ length: concurrency }, (_, i) =>
            store.claim(claimRequest(key, { owner: `owner-${i}` })),
          ),
        );
        const created = claims.filter((c) => c.outcome === "created");
        expect(created).toHaveLength(1);
        expect(claims.filter((c) => c.outcome === "existing")).toHaveLength(concurrency - 1);
        for (const claim of claims) expect(claim.record.owner).toBe(created[0]?.record.owner);
        expect(await store.readEvents({ key })).toHaveLength(1);
      });

      it(`creates ${concurrency} distinct keys concurrently`, async () => {
        const keys = Array.from({ length: concurrency }, (_, i) => `${key}-${i}`);
        const claims = await Promise.all(keys.map((k) => store.claim(claimRequest(k))));
        expect(claims.every((c) => c.outcome === "created")).toBe(true);
        for (const k of keys) expect((await store.get(k))?.key).toBe(k);
      });
    });

    describe("leases and fencing", () => {
      it("takes over only after the lease expires, with a higher fencing token", async () => {
        await submitted();
        const early = await store.claim(claimRequest(key, { owner: "owner-b", now: T0 + LEASE - 1 }));
        expect(early.outcome).toBe("existing");
        const late = await store.claim(claimRequest(key, { owner: "owner-b", now: T0 + LEASE }));
        expect(late.outcome).toBe("taken_over");
        if (late.outcome !== "taken_over") return;
        expect(late.previousOwner).toBe("owner-a");
        expect(late.record).toMatchObject({
          owner: "owner-b",
          fencingToken: 2,
          state: "SUBMITTED",
          attempt: 1,
          leaseExpiresAt: T0 + 2 * LEASE,
        });
        expect((await store.readEvents({ key })).map((e) => e.type)).toEqual(["claimed", "taken_over"]);
      });

      it("never takes over a record claimed with another fingerprint", async () => {
        await submitted();
        const other = await store.claim(
          claimRequest(key, { owner: "owner-b", fingerprint: "sha256:bbbb", now: T0 + 10 * LEASE }),
        );
        expect(other.outcome).toBe("existing");
        expect(other.record.owner).toBe("owner-a");
      });

      it(`lets exactly one of ${concurrency} concurrent takeovers win`, async () => {
        await submitted();
        const claims = await Promise.all(
          Array.from({ length: concurrency }, (_, i) =>
            store.claim(claimRequest(key, { owner: `taker-${i}`, now: T0 + LEASE + 5 })),
          ),
        );
        expect(claims.filter((c) => c.outcome === "taken_over")).toHaveLength(1);
        expect((await store.get(key))?.fencingToken).toBe(2);
      });

      it("refuses every write of a stale owner after a takeover and changes nothing", async () => {
        const first = await submitted();
        await store.claim(claimRequest(key, { owner: "owner-b", now: T0 + LEASE }));
        const before = await store.get(key);
        const stale = { key, owner: "owner-a", fencingToken: first.fencingToken };
        const errors = await Promise.all([
          rejection(
            store.transition({
              ...stale,
              now: T0 + LEASE + 1,
              from: "SUBMITTED",
              path: ["CONFIRMED"],
              patch: { result: 1 },
              events: [event(key, "transition")],
            }),
          ),
          rejection(store.renewLease({ ...stale, now: T0 + LEASE + 1, leaseExpiresAt: T0 + 9 * LEASE })),
          rejection(store.release({ ...stale, events: [event(key, "released")] })),
        ]);
        for (const error of errors) expect(isStaleOwnerError(error)).toBe(true);
        expect(await store.get(key)).toEqual(before);
        expect((await store.readEvents({ key })).map((e) => e.type)).toEqual(["claimed", "taken_over"]);
      });

      it("refuses a write with the right owner but an old token", async () => {
        const first = await submitted();
        await store.claim(claimRequest(key, { owner: "owner-a", now: T0 + LEASE }));
        const error = await rejection(
          store.renewLease({
            key,
            owner: "owner-a",
            fencingToken: first.fencingToken,
            now: T0,
            leaseExpiresAt: T0,
          }),
        );
        expect(isStaleOwnerError(error)).toBe(true);
      });

      it("renews the lease of the current owner", async () => {
        const record = await submitted();
        const renewed = await store.renewLease({
          key,
          owner: "owner-a",
          fencingToken: record.fencingToken,
          now: T0 + 10,
          leaseExpiresAt: T0 + 10 + LEASE,
        });
        expect(renewed.leaseExpiresAt).toBe(T0 + 10 + LEASE);
        const other = await store.claim(claimRequest(key, { owner: "owner-b", now: T0 + LEASE + 5 }));
        expect(other.outcome).toBe("existing");
      });
    });

    describe("transitions", () => {
      it("confirms: stores result and effect, clears owner and lease, sets expiry", async () => {
        const record = await submitted();
        const events = [event(key, "transition")];
        const next = await store.transition({
          key,
          owner: "owner-a",
          fencingToken: record.fencingToken,
          now: T0 + 5,
          from: "SUBMITTED",
          path: ["CONFIRMED"],
          patch: {
            result: { id: "inv_1", n: [1, 2] },
            effect: "created",
            reason: "ok",
            expiresAt: T0 + 1000,
          },
          events,
        });
        expect(next).toMatchObject({
          state: "CONFIRMED",
          owner: null,
          leaseExpiresAt: null,
          result: { id: "inv_1", n: [1, 2] },
          effect: "created",
          reason: "ok",
          expiresAt: T0 + 1000,
          updatedAt: T0 + 5,
          createdAt: T0,
        });
        expect(await store.get(key)).toEqual(next);
      });

      it("stores a FAILED record's error", async () => {
        const { fencingToken } = (await store.claim(claimRequest(key))).record;
        const next = await store.transition({
          key,
          owner: "owner-a",
          fencingToken,
          now: T0,
          from: "PENDING",
          path: ["FAILED"],
          patch: { error: { name: "Error", message: "declined", code: "card_declined", retryable: false } },
          events: [],
        });
        expect(next.state).toBe("FAILED");
        expect((await store.get(key))?.error).toEqual({
          name: "Error",
          message: "declined",
          code: "card_declined",
          retryable: false,
        });
      });

      it("applies a multi-step path and bumps attempt on a re-submission", async () => {
        const { fencingToken } = (await store.claim(claimRequest(key))).record;
        const fence = { key, owner: "owner-a", fencingToken };
        const submittedRecord = await store.transition({
          ...fence,
          now: T0,
          from: "PENDING",
          path: ["VALIDATED", "SUBMITTED"],
          patch: { attempt: 1 },
          events: [event(key, "transition"), event(key, "transition")],
        });
        expect(submittedRecord).toMatchObject({ state: "SUBMITTED", attempt: 1 });
        const again = await store.transition({
          ...fence,
          now: T0,
          from: "SUBMITTED",
          path: ["SUBMITTED"],
          patch: { attempt: 2 },
          events: [],
        });
        expect(again.attempt).toBe(2);
        expect(await store.readEvents({ key })).toHaveLength(3);
      });

      it("keeps a result on a SUBMITTED record (a submit that succeeded before its confirm failed)", async () => {
        const { fencingToken } = (await store.claim(claimRequest(key))).record;
        const fence = { key, owner: "owner-a", fencingToken };
        const move = { ...fence, now: T0, events: [] };
        await store.transition({
          ...move,
          from: "PENDING",
          path: ["VALIDATED", "SUBMITTED"],
          patch: { attempt: 1 },
        });
        const kept = await store.transition({
          ...move,
          from: "SUBMITTED",
          path: ["SUBMITTED"],
          patch: { result: { id: "ch_1" } },
        });
        expect(kept).toMatchObject({
          state: "SUBMITTED",
          attempt: 1,
          result: { id: "ch_1" },
          owner: "owner-a",
        });
        expect(await store.get(key)).toMatchObject({ state: "SUBMITTED", result: { id: "ch_1" } });
      });

      it.each([
        ["PENDING", ["SUBMITTED"]],
        ["PENDING", ["CONFIRMED"]],
        ["PENDING", ["VALIDATED", "CONFIRMED"]],
      ] as [OperationState, OperationState[]][])("refuses the illegal path %s -> %j", async (from, path) => {
        const { fencingToken } = (await store.claim(claimRequest(key))).record;
        const before = await store.get(key);
        const error = await rejection(
          store.transition({
            key,
            owner: "owner-a",
            fencingToken,
            now: T0,
            from,
            path,
            patch: {},
            events: [],
          }),
        );
        expect(isIllegalTransitionError(error)).toBe(true);
        expect(await store.get(key)).toEqual(before);
      });

      it("refuses a transition from a state the record is not in", async () => {
        const record = await submitted();
        const error = await rejection(
          store.transition({
            key,
            owner: "owner-a",
            fencingToken: record.fencingToken,
            now: T0,
            from: "PENDING",
            path: ["VALIDATED"],
            patch: {},
            events: [event(key, "transition")],
          }),
        );
        expect(isStaleOwnerError(error)).toBe(true);
        expect((await store.get(key))?.state).toBe("SUBMITTED");
        expect(await store.readEvents({ key })).toHaveLength(1);
      });

      it("refuses terminal records any further transition", async () => {
        const record = await submitted();
        const fence = { key, owner: "owner-a", fencingToken: record.fencingToken };
        await store.transition({
          ...fence,
          now: T0,
          from: "SUBMITTED",
          path: ["CONFIRMED"],
          patch: {},
          events: [],
        });
        const error = await rejection(
          store.transition({ ...fence, now: T0, from: "CONFIRMED", path: ["FAILED"], patch: {}, events: [] }),
        );
        // The owner was cleared on confirmation, so the write is stale before it is illegal.
        expect(isStaleOwnerError(error) || isIllegalTransitionError(error)).toBe(true);
        expect((await store.get(key))?.state).toBe("CONFIRMED");
      });

      it("reports a missing record", async () => {
        const error = await rejection(
          store.transition({
            key,
            owner: "owner-a",
            fencingToken: 1,
            now: T0,
            from: "PENDING",
            path: ["VALIDATED"],
            patch: {},
            events: [],
          }),
        );
        expect(isRecordNotFoundError(error)).toBe(true);
      });

      it("lets only one of two racing owners confirm after a takeover", async () => {
        await submitted("owner-a");
        const taken = await store.claim(claimRequest(key, { owner: "owner-b", now: T0 + LEASE }));
        const write = (owner: string, fencingToken: number) =>
          store.transition({
            key,
            owner,
            fencingToken,
            now: T0 + LEASE + 1,
            from: "SUBMITTED",
            path: ["CONFIRMED"],
            patch: { result: owner },
            events: [],
          });
        const results = await Promise.allSettled([
          write("owner-a", 1),
          write("owner-b", taken.record.fencingToken),
        ]);
        expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled"]);
        expect((await store.get(key))?.result).toBe("owner-b");
      });
    });

    describe("release and expiry", () => {
      it("release deletes an in-flight record so the key can be claimed again", async () => {
        const { fencingToken } = (await store.claim(claimRequest(key))).record;
        await store.release({ key, owner: "owner-a", fencingToken, events: [event(key, "released")] });
        expect(await store.get(key)).toBeUndefined();
        const again = await store.claim(claimRequest(key, { owner: "owner-b" }));
        expect(again.outcome).toBe("created");
        expect((await store.readEvents({ key })).map((e) => e.type)).toEqual([
          "claimed",
          "released",
          "claimed",
        ]);
      });

      /** A SUBMITTED record confirmed at T0 with this expiry. */
      const confirmedAtT0 = async (expiresAt: number | null) => {
        const record = await submitted();
        await store.transition({
          key,
          owner: "owner-a",
          fencingToken: record.fencingToken,
          now: T0,
          from: "SUBMITTED",
          path: ["CONFIRMED"],
          patch: { expiresAt },
          events: [],
        });
      };

      it("forgets a terminal record after its expiry, with a higher fencing token", async () => {
        await confirmedAtT0(T0 + 1000);
        expect((await store.claim(claimRequest(key, { now: T0 + 999 }))).outcome).toBe("existing");
        const reused = await store.claim(claimRequest(key, { now: T0 + 1000, owner: "owner-c" }));
        expect(reused.outcome).toBe("created");
        expect(reused.record).toMatchObject({ state: "PENDING", owner: "owner-c", fencingToken: 2 });
      });

      it("keeps a terminal record without expiry forever", async () => {
        await confirmedAtT0(null);
        expect((await store.claim(claimRequest(key, { now: T0 + 1e12 }))).outcome).toBe("existing");
      });
    });

    describe("listInDoubt", () => {
      it("lists SUBMITTED records with an expired lease, and unfinished ones on request", async () => {
        const k = (suffix: string) => `${key}-${suffix}`;
        await store.claim(
          claimRequest(k("doubt"), { initialPath: ["VALIDATED", "SUBMITTED"], initialAttempt: 1 }),
        );
        await store.claim(
          claimRequest(k("live"), {
            initialPath: ["VALIDATED", "SUBMITTED"],
            initialAttempt: 1,
            now: T0 + LEASE,
          }),
        );
        await store.claim(claimRequest(k("pending")));
        const done = await store.claim(
          claimRequest(k("done"), { initialPath: ["VALIDATED", "SUBMITTED"], initialAttempt: 1 }),
        );
        await store.transition({
          key: k("done"),
          owner: "owner-a",
          fencingToken: done.record.fencingToken,
          now: T0,
          from: "SUBMITTED",
          path: ["CONFIRMED"],
          patch: {},
          events: [],
        });
        const now = T0 + LEASE + 1;
        const mine = (records: OperationRecord[]) =>
          records
            .map((r) => r.key)
            .filter((x) => x.startsWith(key))
            .sort();
        expect(mine(await store.listInDoubt({ now }))).toEqual([k("doubt")]);
        expect(mine(await store.listInDoubt({ now, includeUnfinished: true }))).toEqual([
          k("doubt"),
          k("pending"),
        ]);
        expect((await store.listInDoubt({ now, includeUnfinished: true, limit: 1 })).length).toBe(1);
      });
    });

    describe("events", () => {
      it("keeps each key's events in append order with strictly increasing seq", async () => {
        const other = `${key}-other`;
        await store.appendEvents([event(key, "replayed"), event(other, "conflict"), event(key, "waiting")]);
        await store.claim(claimRequest(key, { now: T0 + 1 }));
        const mine = await store.readEvents({ key });
        expect(mine.map((e) => e.type)).toEqual(["replayed", "waiting", "claimed"]);
        const seqs = mine.map((e) => e.seq);
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
        const first = mine[0]?.seq ?? 0;
        expect((await store.readEvents({ key, afterSeq: first })).map((e) => e.type)).toEqual([
          "waiting",
          "claimed",
        ]);
        expect(await store.readEvents({ key, limit: 1 })).toHaveLength(1);
        // Without a key: every event, ordered by seq (unique per key; across keys a store may tie).
        const all = (await store.readEvents()).filter((e) => e.key === key || e.key === other);
        expect(all.map((e) => e.type).sort()).toEqual(["claimed", "conflict", "replayed", "waiting"]);
        const allSeqs = all.map((e) => e.seq);
        expect([...allSeqs].sort((a, b) => a - b)).toEqual(allSeqs);
      });

      it("stores events exactly as given", async () => {
        const input: LedgerEventInput = {
          ...event(key, "transition"),
          tenant: "acme",
          correlationId: "corr",
          from: "PENDING",
          to: "VALIDATED",
          owner: "owner-a",
          attempt: 3,
          data: { nested: { list: [1, "two", null, true] } },
        };
        await store.appendEvents([input]);
        const [stored] = await store.readEvents({ key });
        const { seq, ...rest } = stored as NonNullable<typeof stored>;
        expect(seq).toBeGreaterThan(0);
        expect(rest).toEqual(input);
      });
    });

    describe("deleteByKeyPrefix", () => {
      it("deletes every operation under a prefix, records and events, and nothing else", async () => {
        if (store.deleteByKeyPrefix === undefined) return; // optional: this store cannot delete scopes
        // Characters SQL LIKE and Redis glob patterns treat specially must match literally.
        const scope = `${key}/s%_*?[x]/`;
        const inFlight = `${scope}1`;
        const confirmed = `${scope}2`;
        const eventsOnly = `${scope}3`;
        const lookalike = `${key}/s%_*?[y]/1`; // differs inside the special characters
        const outside = `${key}/t/1`;
        for (const k of [inFlight, confirmed, lookalike, outside]) await store.claim(claimRequest(k));
        const { fencingToken } = (await store.get(confirmed)) as OperationRecord;
        await store.transition({
          key: confirmed,
          owner: "owner-a",
          fencingToken,
          now: T0,
          from: "PENDING",
          path: ["VALIDATED", "SUBMITTED", "CONFIRMED"],
          patch: { result: 1 },
          events: [event(confirmed, "transition")],
        });
        await store.appendEvents([event(eventsOnly, "waiting"), event(outside, "waiting")]);

        expect(await store.deleteByKeyPrefix(scope)).toBe(3);
        for (const k of [inFlight, confirmed, eventsOnly]) {
          expect(await store.get(k)).toBeUndefined();
          expect(await store.readEvents({ key: k })).toEqual([]);
        }
        expect((await store.get(lookalike))?.state).toBe("PENDING");
        expect((await store.get(outside))?.state).toBe("PENDING");
        expect((await store.readEvents({ key: outside })).map((e) => e.type)).toEqual(["claimed", "waiting"]);
        // The key can be used again, and a second delete finds nothing.
        expect((await store.claim(claimRequest(inFlight))).outcome).toBe("created");
        expect(await store.deleteByKeyPrefix(`${scope}2`)).toBe(0);
      });

      it("refuses an empty prefix and deletes nothing", async () => {
        if (store.deleteByKeyPrefix === undefined) return; // optional: this store cannot delete scopes
        await store.claim(claimRequest(key));
        await expect(store.deleteByKeyPrefix("")).rejects.toThrow(/non-empty key prefix/);
        expect((await store.get(key))?.state).toBe("PENDING");
      });
    });

    it("serves a Ledger with background confirmation: each key once, all on record after flush()", async () => {
      const ledger = new Ledger({ store, confirmation: "background" });
      const run = randomUUID();
      let runs = 0;
      const call = (i: number) =>
        ledger.execute({
          tool: "conformance",
          key: `${run}-${i}`,
          args: { i },
          submit: () => ({ i, run: ++runs }),
        });
      const first = [];
      for (let i = 0; i < 50; i++) first.push(await call(i));
      // Same keys at once, before the flush: each waits for its owed confirmation and replays it.
      const again = await Promise.all(first.map((_, i) => call(i)));
      await ledger.flush();
      expect(runs).toBe(50);
      expect(first.every((r) => !r.replayed)).toBe(true);
      expect(again.map((r) => [r.replayed, r.result])).toEqual(first.map((r) => [true, r.result]));
      for (const r of first) {
        expect(await store.get(r.key)).toMatchObject({
          state: "CONFIRMED",
          result: r.result,
          effect: "created",
        });
      }
    });

    it("hands out records that cannot change stored state (copies or frozen)", async () => {
      const claim = await store.claim(claimRequest(key, { args: { nested: { a: 1 } } }));
      const tamper = (record: OperationRecord) => {
        try {
          record.state = "CONFIRMED";
          (record as { owner: string | null }).owner = "intruder";
          (record.args as { nested: { a: number } }).nested.a = 2;
        } catch {
          // A frozen record refuses the write, which is just as good.
        }
      };
      tamper(claim.record);
      tamper((await store.get(key)) as OperationRecord);
      const stored = await store.get(key);
      expect(stored?.args).toEqual({ nested: { a: 1 } });
      expect(stored?.state).toBe("PENDING");
      expect(stored?.owner).toBe("owner-a");
    });
  });
}
