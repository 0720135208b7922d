import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_WAITING_CONFIRMATIONS } from "./background-confirmations.js";
import {
  type ConfirmationFailedError,
  isConfirmationFailedError,
  isInvalidConfigurationError,
  isLedgerUnavailableError,
  isOperationInDoubtError,
} from "./errors.js";
import type { LedgerEventInput } from "./events.js";
import { Ledger, type LedgerOptions } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import type { OperationSpec } from "./operation.js";
import { RetryPolicy } from "./retry-policy.js";
import { countingStore, deferred, FakeBilling, networkError, rejection } from "./test-support.js";

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

/** A store whose transitions to CONFIRMED wait until the test opens the key's gate. */
function gatedStore() {
  const memory = new MemoryLedgerStore();
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const gate = (key: string) => {
    if (!gates.has(key)) gates.set(key, deferred());
    return gates.get(key) as ReturnType<typeof deferred<void>>;
  };
  const transition = memory.transition.bind(memory);
  memory.transition = async (request) => {
    if (request.path.includes("CONFIRMED")) await gate(request.key).promise;
    return transition(request);
  };
  return { memory, open: (key: string) => gate(key).resolve() };
}

async function states(memory: MemoryLedgerStore, keys: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const key of keys) {
    const state = (await memory.get(key))?.state ?? "none";
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}

afterEach(() => {
  vi.useRealTimers();
});

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
    expect((error as Error).message).toContain(
      `1 result(s) were returned before the ledger recorded them, and recording failed: "${KEY}" (The side effect of "${KEY}" completed, but the ledger could not record it (read ECONNRESET).`,
    );
    expect((error as Error).message).not.toContain("No side effect was started");
    expect(isLedgerUnavailableError((error as ConfirmationFailedError).failures[0]?.error)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "in_doubt", key: KEY });
    expect(String(events.at(-1)?.data?.detail)).toContain(
      "was returned, but the ledger did not record it: The side effect of",
    );
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

  it("does not let a loop on a store that never yields hold more than a few confirmations", async () => {
    // MemoryLedgerStore answers in microtasks: a loop of calls never reaches the event loop's next
    // turn, so the ledger's next call writes the owed confirmations once too many wait.
    const { ledger, memory, billing } = setup();
    const keys: string[] = [];
    for (let i = 0; i < 100; i++) {
      const { key } = await ledger.execute(
        invoiceSpec(billing, { key: `row-${i}`, args: { amount: i, customer: "c" } }),
      );
      keys.push(key);
    }
    const counts = await states(memory, keys);
    expect(counts.SUBMITTED ?? 0).toBeLessThanOrEqual(MAX_WAITING_CONFIRMATIONS);
    expect(counts.CONFIRMED).toBeGreaterThanOrEqual(100 - MAX_WAITING_CONFIRMATIONS);
    await ledger.flush();
    expect(await states(memory, keys)).toEqual({ CONFIRMED: 100 });
  });

  it("writes a confirmation that waited a quarter of the lease before the ledger's next call", async () => {
    let now = 1_700_000_000_000;
    const { ledger, memory, billing } = setup({ now: () => now, leaseMs: 1_000 });
    const first = await ledger.execute(invoiceSpec(billing, { key: "a" }));
    now += 249;
    await ledger.execute(invoiceSpec(billing, { key: "b" }));
    expect((await memory.get(first.key))?.state).toBe("SUBMITTED");
    now += 1;
    await ledger.execute(invoiceSpec(billing, { key: "c" }));
    expect((await memory.get(first.key))?.state).toBe("CONFIRMED");
    await ledger.flush();
  });

  it("flush() waits for what was owed when it was called, not for later calls", async () => {
    const { memory, open } = gatedStore();
    const { ledger, billing } = setup({}, memory);
    const a = await ledger.execute(invoiceSpec(billing, { key: "a" }));
    const flushed = ledger.flush();
    const b = await ledger.execute(invoiceSpec(billing, { key: "b" }));
    open(a.key);
    await flushed;
    expect((await memory.get(a.key))?.state).toBe("CONFIRMED");
    expect((await memory.get(b.key))?.state).toBe("SUBMITTED");
    open(b.key);
    await ledger.flush();
    expect((await memory.get(b.key))?.state).toBe("CONFIRMED");
  });

  it("reports a failure to every flush() that waited for it, and an unreported one to the next", async () => {
    const { memory, state } = confirmFailingStore();
    const { ledger, billing } = setup({}, memory);
    await ledger.execute(invoiceSpec(billing, { key: "a" }));
    const both = await Promise.allSettled([ledger.flush(), ledger.flush()]);
    expect(both.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    await ledger.flush();

    await ledger.execute(invoiceSpec(billing, { key: "b" }));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // Failed before anyone flushed: the next flush() reports it, once.
    const error = await rejection(ledger.flush());
    expect((error as ConfirmationFailedError).failures.map((f) => f.key)).toEqual(["-/create_invoice/k:b"]);
    await ledger.flush();
    state.failing = false;
  });

  it("forgets a failure once a later call confirmed the key", async () => {
    const { memory, state } = confirmFailingStore();
    let now = Date.now();
    const { ledger, billing } = setup({ now: () => now, leaseMs: 1_000 }, memory);
    await ledger.execute(invoiceSpec(billing));
    await ledger.get(KEY); // waits for the owed (failing) write
    state.failing = false;
    now += 1_000;
    const reconciled = await ledger.execute(
      invoiceSpec(billing, {
        reconcile: () => ({ status: "applied", result: { id: "inv_1", amount: 120, customer: "cus_1" } }),
      }),
    );
    expect(reconciled.replayed).toBe(false);
    await ledger.flush(); // the key is on record now: nothing left to report
    expect((await memory.get(KEY))?.state).toBe("CONFIRMED");
    expect(billing.calls).toBe(1);
  });

  it("records the result as it was returned, whatever the tool does to it afterwards", async () => {
    const { ledger, memory, events } = setup({
      redact: { paths: ["result.card"], secret: "s".repeat(32) },
    });
    const kept = { id: "inv_9", amount: 120, customer: "c", card: "4242" };
    await ledger.execute({ tool: "create_invoice", key: "order-42", args: {}, submit: () => kept });
    // The tool keeps its object and changes it before the confirmation is written.
    kept.amount = 0;
    await ledger.flush();
    expect((await memory.get(KEY))?.result).toMatchObject({ id: "inv_9", amount: 120, card: "4242" });
    const confirmed = events.find((e) => e.to === "CONFIRMED");
    expect(confirmed?.data?.result).toMatchObject({ id: "inv_9", amount: 120 });
    expect(String((confirmed?.data?.result as { card?: string } | undefined)?.card)).toMatch(/^\[REDACTED:/);
  });

  it("works under fake timers: waiting for a key or flushing writes what is owed", async () => {
    vi.useFakeTimers();
    const { ledger, memory, billing } = setup();
    const first = await ledger.execute(invoiceSpec(billing));
    const again = await ledger.execute(invoiceSpec(billing));
    expect(again.replayed).toBe(true);
    await ledger.execute(invoiceSpec(billing, { key: "other" }));
    await ledger.flush();
    expect((await memory.get("-/create_invoice/k:other"))?.state).toBe("CONFIRMED");
    expect(first.result).toEqual(again.result);
    expect(billing.calls).toBe(2);
  });
});
