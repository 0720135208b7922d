import { describe, expect, it } from "vitest";
import {
  type ConfirmationFailedError,
  isConfirmationFailedError,
  isInvalidConfigurationError,
  isOperationInDoubtError,
} from "./errors.js";
import type { LedgerEventInput } from "./events.js";
import { Ledger, type LedgerOptions } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import type { OperationSpec } from "./operation.js";
import { RetryPolicy } from "./retry-policy.js";
import { countingStore, FakeBilling, networkError, rejection } from "./test-support.js";

type Args = { amount: number; customer: string };
type Invoice = { id: string; amount: number; customer: string };
const KEY = "-/create_invoice/k:order-42";

function setup(options: Partial<LedgerOptions> = {}, memory = new MemoryLedgerStore()) {
  const { store, counts } = countingStore(memory);
  const ledger = new Ledger({
    retry: new RetryPolicy({ maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, jitter: "none" }),
    confirmation: "background",
    ...options,
    store,
  });
  const events: LedgerEventInput[] = [];
  ledger.on((event) => events.push(event));
  return { ledger, counts, events, memory, billing: new FakeBilling() };
}

function invoiceSpec(
  billing: FakeBilling,
  overrides: Partial<OperationSpec<Args, Invoice>> = {},
): OperationSpec<Args, Invoice> {
  return {
    tool: "create_invoice",
    args: { amount: 120, customer: "cus_1" },
    key: "order-42",
    submit: (args, ctx) => billing.create(args, ctx.idempotencyKey),
    ...overrides,
  };
}

/** A store whose transitions to CONFIRMED fail while `failing` is set (the store went away after the submit). */
function confirmFailingStore() {
  const memory = new MemoryLedgerStore();
  const state = { failing: true };
  const transition = memory.transition.bind(memory);
  memory.transition = (request) =>
    state.failing && request.path.includes("CONFIRMED")
      ? Promise.reject(networkError("ECONNRESET", "read ECONNRESET"))
      : transition(request);
  return { memory, state };
}

describe("Ledger confirmation: background", () => {
  it("returns the result before recording it, then records exactly what it returned", async () => {
    const { ledger, counts, memory, billing, events } = setup();
    const first = await ledger.execute(invoiceSpec(billing));
    expect(first).toMatchObject({
      key: KEY,
      effect: "created",
      replayed: false,
      result: { id: "inv_1", amount: 120, customer: "cus_1" },
    });
    // The record as it was when the result went back: SUBMITTED, its confirmation still owed.
    expect(first.record.state).toBe("SUBMITTED");
    expect((await memory.get(KEY))?.state).toBe("SUBMITTED");
    expect(events.map((e) => e.to)).toEqual(["PENDING", "VALIDATED", "SUBMITTED"]);

    await ledger.flush();
    expect(await memory.get(KEY)).toMatchObject({
      state: "CONFIRMED",
      effect: "created",
      result: first.result,
    });
    expect(events.at(-1)).toMatchObject({ type: "transition", from: "SUBMITTED", to: "CONFIRMED" });
    expect(counts).toEqual({ claim: 1, transition: 1 });
    expect(billing.calls).toBe(1);
  });

  it("answers the same key in this ledger from the record, once the owed confirmation is written", async () => {
    const { ledger, counts, billing } = setup();
    const first = await ledger.execute(invoiceSpec(billing));
    const again = await ledger.execute(invoiceSpec(billing));
    expect(again).toMatchObject({ replayed: true, effect: "noop", result: first.result });
    expect(again.record.state).toBe("CONFIRMED");
    expect((await ledger.get(KEY))?.state).toBe("CONFIRMED");
    expect(counts).toEqual({ claim: 2, transition: 1, get: 1 });
    expect(billing.calls).toBe(1);
  });

  it("makes another worker's duplicate wait for the confirmation, not run the effect again", async () => {
    const memory = new MemoryLedgerStore();
    const first = setup({}, memory);
    const second = setup({ confirmation: "awaited" }, memory);
    const result = await first.ledger.execute(invoiceSpec(first.billing));
    // Sent before the first worker's confirmation was written: it finds SUBMITTED under a live lease.
    const duplicate = await second.ledger.execute(invoiceSpec(first.billing));
    expect(second.events.map((e) => e.type)).toEqual(["waiting", "replayed"]);
    expect(duplicate).toMatchObject({ replayed: true, result: result.result });
    expect(first.billing.calls).toBe(1);
  });

  it("runs 300 new keys back to back, each once, all on record after flush()", async () => {
    const { ledger, counts, memory, billing } = setup();
    for (let i = 0; i < 300; i++) {
      await ledger.execute(invoiceSpec(billing, { key: `order-${i}`, args: { amount: i, customer: "c" } }));
    }
    await ledger.flush();
    expect(counts).toEqual({ claim: 300, transition: 300 });
    for (let i = 0; i < 300; i++) {
      expect(await memory.get(`-/create_invoice/k:order-${i}`)).toMatchObject({
        state: "CONFIRMED",
        result: { id: `inv_${i + 1}`, amount: i },
      });
    }
    expect(billing.calls).toBe(300);
  });

  it("reports a confirmation the store refused: an in-doubt event, then ConfirmationFailedError from flush() once", async () => {
    const { memory, state } = confirmFailingStore();
    const { ledger, billing, events } = setup({ leaseMs: 1_000 }, memory);
    const result = await ledger.execute(invoiceSpec(billing));
    expect(result.result).toEqual({ id: "inv_1", amount: 120, customer: "cus_1" });
    const error = await rejection(ledger.flush());
    expect(isConfirmationFailedError(error)).toBe(true);
    expect((error as ConfirmationFailedError).failures.map((f) => f.key)).toEqual([KEY]);
    expect((error as Error).message).toContain(`"${KEY}" (The ledger store failed during transition`);
    expect((error as Error).message).toContain("its record stays SUBMITTED");
    expect(events.at(-1)).toMatchObject({ type: "in_doubt", key: KEY });
    expect(String(events.at(-1)?.data?.detail)).toContain("was returned, but the ledger could not record it");
    await ledger.flush(); // reported once
    expect((await memory.get(KEY))?.state).toBe("SUBMITTED");

    // The store is back; the key is never run again blindly: in doubt without a reconcile hook...
    state.failing = false;
    let now = Date.now() + 1_000;
    const later = setup({ now: () => now }, memory);
    const inDoubt = await rejection(later.ledger.execute(invoiceSpec(billing)));
    expect(isOperationInDoubtError(inDoubt)).toBe(true);
    // ...and confirmed through one.
    now += 1_000;
    const reconciled = await later.ledger.execute(
      invoiceSpec(billing, {
        reconcile: (_args, ctx) => {
          const found = billing.findByKey(ctx.idempotencyKey);
          return found ? { status: "applied", result: found } : { status: "not_applied" };
        },
      }),
    );
    expect(reconciled).toMatchObject({ replayed: false, result: result.result });
    await later.ledger.flush();
    expect((await memory.get(KEY))?.state).toBe("CONFIRMED");
    expect(billing.calls).toBe(1);
  });

  it("is awaited by default, where flush() has nothing to wait for", async () => {
    const { ledger, memory, billing } = setup({ confirmation: undefined });
    expect(ledger.confirmation).toBe("awaited");
    const result = await ledger.execute(invoiceSpec(billing));
    expect(result.record.state).toBe("CONFIRMED");
    expect((await memory.get(KEY))?.state).toBe("CONFIRMED");
    await ledger.flush();
  });

  it("refuses an unknown confirmation mode", () => {
    let error: unknown;
    try {
      new Ledger({ store: new MemoryLedgerStore(), confirmation: "later" as "background" });
    } catch (caught) {
      error = caught;
    }
    expect(isInvalidConfigurationError(error)).toBe(true);
    expect((error as Error).message).toBe(
      'Ledger option confirmation must be "awaited" (the default) or "background", not "later".',
    );
  });
});
