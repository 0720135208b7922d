import { describe, expect, it } from "vitest";
import { inDoubt } from "./error-classification.js";
import { isOperationInDoubtError, isOperationInProgressError, isStaleOwnerError } from "./errors.js";
import type { LedgerEventInput } from "./events.js";
import { Ledger } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import type { OperationContext, OperationSpec, Reconciliation } from "./operation.js";
import type { OperationState } from "./record.js";
import { reconcileOperation } from "./recovery.js";
import type { LedgerStore } from "./store.js";
import { deferred, networkError, rejection } from "./test-support.js";
import { encodeValue, type JsonValue } from "./value-codec.js";

const T0 = 1_800_000_000_000;
const LEASE = 30_000;
const ARGS = { amount: 100, card: "tok_visa" };
type Charge = { chargeId: string };

/**
 * A store, a clock the test moves, a downstream whose `applied` count is the ground truth, and a way
 * to leave an operation behind as a dead worker would.
 */
function world() {
  let clock = T0;
  const store = new MemoryLedgerStore();
  const now = () => clock;
  const ledgerOn = (onStore: LedgerStore = store, waitTimeoutMs = 10_000) =>
    new Ledger({
      store: onStore,
      now,
      leaseMs: LEASE,
      waitTimeoutMs,
      retry: { maxAttempts: 3, baseDelayMs: 1 },
    });
  const ledger = ledgerOn();
  const key = ledger.keyFor({ tool: "charge", key: "order-1", args: ARGS }).key;
  const downstream = { applied: 0, submits: 0 };
  const abandon = async (state: OperationState) => {
    const submitted = state === "SUBMITTED";
    await store.claim({
      key,
      tool: "charge",
      fingerprint: ledger.fingerprintOf(ARGS),
      owner: "dead-worker/1",
      now: clock,
      leaseMs: LEASE,
      initialPath: submitted ? ["VALIDATED", "SUBMITTED"] : [],
      initialAttempt: submitted ? 1 : 0,
      args: encodeValue(ARGS) as JsonValue,
      events: [],
      takeoverEvents: [],
    });
  };
  /** What the downstream says when asked by key. */
  const lookUp = (): Reconciliation<Charge> =>
    downstream.applied > 0 ? { status: "applied", result: { chargeId: "ch_1" } } : { status: "not_applied" };
  /** A call of the tool; by default its submit applies and answers. */
  const spec = (overrides: Partial<OperationSpec<typeof ARGS, Charge>> = {}) => ({
    tool: "charge",
    key: "order-1",
    args: ARGS,
    submit: () => {
      downstream.submits++;
      downstream.applied++;
      return { chargeId: `ch_${downstream.applied}` };
    },
    ...overrides,
  });
  return {
    store,
    ledger,
    ledgerOn,
    key,
    downstream,
    abandon,
    lookUp,
    spec,
    advance: (ms: number) => (clock += ms),
  };
}

/** `inner` with some methods replaced (to interleave another worker at an exact point). */
function overriding(inner: LedgerStore, overrides: Partial<LedgerStore>): LedgerStore {
  return new Proxy(inner, {
    get(target, property) {
      const own = (overrides as Record<PropertyKey, unknown>)[property];
      if (own !== undefined) return own;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("reconcileOperation: takes the operation over before asking reconcile", () => {
  it("holds the lease while reconcile runs: a live worker waits instead of submitting", async () => {
    const { ledger, ledgerOn, key, downstream, abandon, spec, advance } = world();
    await abandon("SUBMITTED");
    advance(LEASE + 1);
    const events: LedgerEventInput[] = [];
    ledger.on((event) => events.push(event));
    const asked = deferred<OperationContext>();
    const answer = deferred<Reconciliation<unknown>>();
    const recovering = reconcileOperation(ledger, key, (_args, ctx) => {
      asked.resolve(ctx);
      return answer.promise;
    });
    const ctx = await asked.promise;
    // Reconcile is asked about the record recovery now holds, not the dead owner's.
    expect(ctx.record).toMatchObject({ state: "SUBMITTED", attempt: 1, fencingToken: 2 });
    expect(ctx.record.owner).not.toBe("dead-worker/1");
    expect((await ledger.get(key))?.owner).toBe(ctx.record.owner);

    const worker = ledgerOn(undefined, 0);
    const busy = await rejection(worker.execute(spec()));
    expect(isOperationInProgressError(busy)).toBe(true);
    expect(downstream.submits).toBe(0);

    answer.resolve({ status: "applied", result: { chargeId: "ch_0" } });
    const recovered = await recovering;
    expect(recovered).toMatchObject({
      outcome: "confirmed",
      record: { state: "CONFIRMED", fencingToken: 2 },
    });
    const replay = await worker.execute(spec());
    expect(replay).toMatchObject({ replayed: true, result: { chargeId: "ch_0" } });
    expect(downstream.submits).toBe(0);
    expect((await ledger.readEvents({ key })).map((e) => e.type)).toEqual([
      "taken_over",
      "resolved",
      "transition",
    ]);
    expect(events.map((e) => e.type)).toEqual(["taken_over", "reconciled", "resolved", "transition"]);
  });

  it("does not apply a stale not_applied once a worker took over, resubmitted and left it in doubt", async () => {
    const { ledger, ledgerOn, key, downstream, abandon, lookUp, spec, advance } = world();
    // The dead worker never reached the downstream: "not applied" is true when recovery asks.
    await abandon("SUBMITTED");
    advance(LEASE + 1);
    const asked = deferred();
    const answer = deferred();
    const recovering = reconcileOperation(ledger, key, async () => {
      const seen = lookUp();
      asked.resolve();
      await answer.promise; // recovery stalls past its lease
      return seen;
    });
    await asked.promise;
    advance(LEASE + 1);

    // A live worker takes over, reconciles (not applied), resubmits: the downstream applies it but
    // the acknowledgement is lost, and its second lookup cannot tell.
    let workerLookups = 0;
    const worker = ledgerOn();
    const error = await rejection(
      worker.execute(
        spec({
          submit: () => {
            downstream.submits++;
            downstream.applied++;
            throw inDoubt(networkError("ETIMEDOUT", "read ETIMEDOUT"));
          },
          reconcile: () =>
            ++workerLookups === 1 ? lookUp() : { status: "unknown", detail: "lookup timed out" },
        }),
      ),
    );
    expect(isOperationInDoubtError(error)).toBe(true);
    expect(downstream.applied).toBe(1);

    answer.resolve();
    const recovered = await recovering;
    expect(recovered.outcome).toBe("in_doubt");
    expect(recovered.detail).toMatch(
      /^another worker took the operation over after reconcile answered "not_applied", so that answer was not applied: Write to ".*" refused: held by .* with fencing token 3, write came from .* with token 2\. Another worker took the operation over\.$/,
    );
    expect(recovered.record).toMatchObject({ state: "SUBMITTED", attempt: 2, fencingToken: 3 });
    expect(await ledger.get(key)).toMatchObject({ state: "SUBMITTED", attempt: 2 });

    // The next call reconciles against the downstream instead of submitting a second time.
    const next = await ledgerOn().execute(spec({ reconcile: lookUp }));
    expect(next).toMatchObject({ replayed: false, result: { chargeId: "ch_1" } });
    expect(downstream.applied).toBe(1);
  });

  it("decides on the record it took over: one that was submitted meanwhile is never released as unfinished", async () => {
    const { store, ledgerOn, key, downstream, abandon, lookUp, spec, advance } = world();
    await abandon("PENDING");
    advance(LEASE + 1);
    // Right after recovery's first look (PENDING, abandoned), a worker takes the operation over,
    // validates and submits it; the acknowledgement is lost and it is left in doubt.
    let looks = 0;
    const racing = overriding(store, {
      get: async (k: string) => {
        const record = await store.get(k);
        if (++looks === 1) {
          const worker = ledgerOn();
          const error = await rejection(
            worker.execute(
              spec({
                validate: () => undefined,
                submit: () => {
                  downstream.submits++;
                  downstream.applied++;
                  throw inDoubt(networkError("ETIMEDOUT"));
                },
              }),
            ),
          );
          expect(isOperationInDoubtError(error)).toBe(true);
        }
        return record;
      },
    });
    const recovery = ledgerOn(racing);
    const withoutHook = await reconcileOperation(recovery, key, undefined);
    expect(withoutHook).toMatchObject({
      outcome: "in_doubt",
      detail: "no reconcile hook for tool charge",
      record: { state: "SUBMITTED", attempt: 1 },
    });
    expect(await store.get(key)).toMatchObject({ state: "SUBMITTED", attempt: 1 });

    const withHook = await reconcileOperation(recovery, key, lookUp);
    expect(withHook).toMatchObject({ outcome: "confirmed", record: { state: "CONFIRMED" } });
    expect(downstream.applied).toBe(1);
    expect(downstream.submits).toBe(1);
  });

  it("leaves no record behind when the operation is deleted between its look and its takeover", async () => {
    const { store, ledgerOn, key, abandon, advance } = world();
    await abandon("PENDING");
    advance(LEASE + 1);
    let claims = 0;
    const racing = overriding(store, {
      claim: async (request) => {
        if (++claims === 1) {
          await store.release({ key, owner: "dead-worker/1", fencingToken: 1, events: [] });
        }
        return store.claim(request);
      },
    });
    const recovered = await reconcileOperation(ledgerOn(racing), key, undefined);
    expect(recovered).toEqual({ key, tool: "charge", outcome: "settled" });
    expect(await store.get(key)).toBeUndefined();
    expect(await store.readEvents({ key })).toEqual([]);
  });

  it("lets go at once when reconcile cannot tell, so the next call takes over without waiting", async () => {
    const { ledger, ledgerOn, key, abandon, advance, spec, downstream } = world();
    await abandon("SUBMITTED");
    advance(LEASE + 1);
    const recovered = await reconcileOperation(ledger, key, () => ({
      status: "unknown",
      detail: "API down",
    }));
    expect(recovered).toMatchObject({ outcome: "in_doubt", detail: "API down", record: { fencingToken: 2 } });
    expect(recovered.record?.leaseExpiresAt).toBe(T0 + LEASE + 1);
    const next = await rejection(ledgerOn(undefined, 0).execute(spec()));
    expect(isOperationInDoubtError(next)).toBe(true);
    expect(downstream.submits).toBe(0);
  });
});

describe("ledger.resolve with expect", () => {
  it("refuses a resolution about a record that was taken over and resubmitted since it was looked at", async () => {
    const { ledger, key, downstream, abandon, spec, advance } = world();
    await abandon("SUBMITTED");
    advance(LEASE + 1);
    const [looked] = await ledger.listInDoubt();
    if (looked === undefined) throw new Error("not listed");
    // The operator checks the downstream (nothing) while a worker resubmits to it and loses the ack.
    const lostAck = spec({
      dedupesDownstream: true,
      retry: undefined,
      submit: () => {
        downstream.submits++;
        downstream.applied = 1;
        throw inDoubt(networkError("ETIMEDOUT"));
      },
    });
    await rejection(ledger.execute(lostAck));
    const current = await ledger.get(key);
    expect(current).toMatchObject({ state: "SUBMITTED", attempt: 3 });

    const refused = await rejection(
      ledger.resolve(key, { status: "not_applied" }, "alice", { expect: looked }),
    );
    expect(isStaleOwnerError(refused)).toBe(true);
    expect((refused as Error).message).toBe(
      `Write to "${key}" refused: the operation changed since it was looked at (then attempt 1, fencing token 1; now attempt 3, fencing token 2): look again before resolving it. Another worker took the operation over.`,
    );
    expect(await ledger.get(key)).toEqual(current);

    const resolved = await ledger.resolve(key, { status: "applied", result: { chargeId: "ch_1" } }, "alice", {
      expect: current as NonNullable<typeof current>,
    });
    expect(resolved).toMatchObject({ state: "CONFIRMED", result: { chargeId: "ch_1" } });
    expect(downstream.applied).toBe(1);
  });
});
