import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withEffect } from "./effect-result.js";
import { classifyError, inDoubt } from "./error-classification.js";
import {
  type IdempotencyConflictError,
  InvalidConfigurationError,
  isAbortedError,
  isDeadlineExceededError,
  isIdempotencyConflictError,
  isInvalidPayloadError,
  isLedgerUnavailableError,
  isOperationFailedError,
  isOperationInDoubtError,
  isOperationInProgressError,
  isRetryExhaustedError,
  isStaleOwnerError,
  type OperationFailedError,
  type OperationInDoubtError,
} from "./errors.js";
import type { LedgerEventInput } from "./events.js";
import { Ledger, type LedgerOptions } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import type { OperationSpec } from "./operation.js";
import { Redactor } from "./redaction.js";
import { RetryPolicy } from "./retry-policy.js";
import type { LedgerStore } from "./store.js";
import { countingStore, deferred, FakeBilling, httpError, networkError, rejection } from "./test-support.js";

type Args = { amount: number; customer: string };
const ARGS: Args = { amount: 120, customer: "cus_1" };
const fastRetry = new RetryPolicy({ maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, jitter: "none" });

function setup(options: Partial<LedgerOptions> = {}) {
  const memory = new MemoryLedgerStore();
  const { store, counts } = countingStore((options.store as LedgerStore | undefined) ?? memory);
  const ledger = new Ledger({ retry: fastRetry, ...options, store });
  const events: LedgerEventInput[] = [];
  ledger.on((event) => events.push(event));
  const billing = new FakeBilling();
  return { ledger, store, counts, events, billing, memory };
}

function invoiceSpec(
  billing: FakeBilling,
  overrides: Partial<OperationSpec<Args, { id: string; amount: number; customer: string }>> = {},
): OperationSpec<Args, { id: string; amount: number; customer: string }> {
  return {
    tool: "create_invoice",
    args: ARGS,
    key: "order-42",
    submit: (args, ctx) => billing.create(args, ctx.idempotencyKey),
    ...overrides,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Ledger: new keys and replays", () => {
  it("runs a new key once in two store writes and replays it in one read", async () => {
    const { ledger, counts, billing, events } = setup();
    const first = await ledger.execute(invoiceSpec(billing));
    expect(first).toMatchObject({
      key: "-/create_invoice/k:order-42",
      effect: "created",
      replayed: false,
      result: { id: "inv_1", amount: 120, customer: "cus_1" },
    });
    expect(first.record).toMatchObject({ state: "CONFIRMED", attempt: 1, effect: "created", owner: null });
    expect(counts).toEqual({ claim: 1, transition: 1 });
    expect(events.map((e) => `${e.type}:${e.from ?? ""}>${e.to ?? ""}`)).toEqual([
      "claimed:>PENDING",
      "transition:PENDING>VALIDATED",
      "transition:VALIDATED>SUBMITTED",
      "transition:SUBMITTED>CONFIRMED",
    ]);

    const second = await ledger.execute(invoiceSpec(billing));
    expect(second).toMatchObject({ effect: "noop", replayed: true, key: first.key });
    expect(second.result).toStrictEqual(first.result);
    expect(second.reason).toMatch(/^replayed: already created by an earlier call at \d{4}-/);
    expect(counts).toEqual({ claim: 2, transition: 1 });
    expect(billing.created).toBe(1);
    expect(events.at(-1)?.type).toBe("replayed");
  });

  it("writes state-change events to the store atomically, and replays to listeners only by default", async () => {
    const { ledger, billing } = setup();
    await ledger.execute(invoiceSpec(billing));
    await ledger.execute(invoiceSpec(billing));
    const stored = await ledger.readEvents({ key: "-/create_invoice/k:order-42" });
    expect(stored.map((e) => e.type)).toEqual(["claimed", "transition", "transition", "transition"]);
    const all = setup({ persistEvents: "all" });
    await all.ledger.execute(invoiceSpec(all.billing));
    await all.ledger.execute(invoiceSpec(all.billing));
    expect((await all.ledger.readEvents()).map((e) => e.type).at(-1)).toBe("replayed");
  });

  it("publishes the very creation and takeover events the store wrote (same ids, same times)", async () => {
    let now = 1_000_000;
    const { ledger, billing, events } = setup({ now: () => now++, leaseMs: 5_000 });
    const gate = deferred();
    const submitting = deferred();
    const stalled = ledger.execute(
      invoiceSpec(billing, {
        submit: () => {
          submitting.resolve();
          return gate.promise.then(() => ({ id: "in_1", amount: 1, customer: "c" }));
        },
      }),
    );
    await submitting.promise;
    now += 10_000;
    await ledger.execute(
      invoiceSpec(billing, {
        reconcile: () => ({ status: "applied", result: { id: "in_1", amount: 1, customer: "c" } }),
      }),
    );
    gate.resolve();
    await rejection(stalled);
    const stored = (await ledger.readEvents({ key: "-/create_invoice/k:order-42" })).map(
      ({ seq: _seq, ...event }) => event,
    );
    const published = (type: string) => events.filter((event) => event.type === type);
    expect(stored.slice(0, 4)).toEqual([
      ...published("claimed"),
      ...published("transition").slice(0, 2),
      ...published("taken_over"),
    ]);
    expect(stored.map((event) => event.type).slice(0, 4)).toEqual([
      "claimed",
      "transition",
      "transition",
      "taken_over",
    ]);
  });

  it("costs three writes with a validate hook, which runs before anything is submitted", async () => {
    const { ledger, counts, billing } = setup();
    const order: string[] = [];
    await ledger.execute(
      invoiceSpec(billing, {
        validate: () => {
          order.push("validate");
        },
        submit: (args, ctx) => {
          order.push(`submit:${ctx.record.state}`);
          return billing.create(args, ctx.idempotencyKey);
        },
      }),
    );
    expect(order).toEqual(["validate", "submit:SUBMITTED"]);
    expect(counts).toEqual({ claim: 1, transition: 2 });
  });

  it("replays non-JSON results deep-equal to the first result", async () => {
    const { ledger } = setup();
    const value = {
      at: new Date("2026-01-02T03:04:05.678Z"),
      big: 12345678901234567890n,
      tags: new Set(["a", "b"]),
      lines: new Map([["l1", { qty: 2 }]]),
      missing: undefined,
      ratio: Number.NaN,
    };
    const spec = { tool: "t", args: { x: 1 }, key: "k", submit: () => value };
    const first = await ledger.execute(spec);
    const replay = await ledger.execute(spec);
    expect(replay.replayed).toBe(true);
    expect(first.result).toStrictEqual(value);
    expect(replay.result).toStrictEqual(first.result);
  });

  it("takes the effect from withEffect() and from the declared effect", async () => {
    const { ledger } = setup();
    const noop = await ledger.execute({
      tool: "deploy",
      args: { version: "1.2.3" },
      submit: () => withEffect("noop", { version: "1.2.3" }, "already at version 1.2.3"),
    });
    expect(noop).toMatchObject({ effect: "noop", reason: "already at version 1.2.3", replayed: false });
    const updated = await ledger.execute({
      tool: "rename",
      args: { id: 1 },
      effect: "updated",
      submit: () => 1,
    });
    expect(updated.effect).toBe("updated");
    const replay = await ledger.execute({ tool: "deploy", args: { version: "1.2.3" }, submit: () => 0 });
    expect(replay.reason).toBe(
      `replayed: already noop by an earlier call at ${new Date(noop.record.updatedAt).toISOString()} (already at version 1.2.3)`,
    );
  });

  it("derives keys from the arguments and scope, ignoring key order", async () => {
    const { ledger, billing } = setup();
    const spec = (args: Args, scope?: string) =>
      invoiceSpec(billing, { key: undefined, args, ...(scope ? { scope } : {}) });
    const a = await ledger.execute(spec({ amount: 1, customer: "c" }, "thread-1"));
    const b = await ledger.execute(spec({ customer: "c", amount: 1 } as Args, "thread-1"));
    const c = await ledger.execute(spec({ amount: 1, customer: "c" }, "thread-2"));
    expect(b.replayed).toBe(true);
    expect(b.key).toBe(a.key);
    expect(c.replayed).toBe(false);
    expect(billing.created).toBe(2);
    const business = await ledger.execute(invoiceSpec(billing, { key: undefined, businessKey: "INV-9" }));
    expect(business.key).toBe("-/create_invoice/b:INV-9");
  });

  it("namespaces keys by tool and tenant", async () => {
    const { ledger } = setup();
    let runs = 0;
    const spec = (tool: string, tenant?: string) => ({
      tool,
      ...(tenant ? { tenant } : {}),
      args: { same: true },
      key: "same-key",
      submit: () => ++runs,
    });
    await ledger.execute(spec("a"));
    await ledger.execute(spec("b"));
    await ledger.execute(spec("a", "acme"));
    await ledger.execute(spec("a", "globex"));
    await ledger.execute(spec("a", "acme"));
    expect(runs).toBe(4);
  });
});

describe("Ledger: concurrency", () => {
  it("runs 100 concurrent identical calls exactly once and gives all the same result", async () => {
    const { ledger, billing } = setup();
    const spec = invoiceSpec(billing, {
      submit: async (args, ctx) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return billing.create(args, ctx.idempotencyKey);
      },
    });
    const results = await Promise.all(Array.from({ length: 100 }, () => ledger.execute(spec)));
    expect(billing.calls).toBe(1);
    expect(billing.created).toBe(1);
    for (const result of results) expect(result.result).toStrictEqual(results[0]?.result);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(results.filter((r) => r.replayed && r.effect === "noop")).toHaveLength(99);
  });

  it("gives up waiting for a slow first call with OperationInProgressError", async () => {
    const { ledger, billing, events } = setup({ waitTimeoutMs: 30 });
    const gate = deferred();
    const spec = invoiceSpec(billing, {
      submit: async (args, ctx) => {
        await gate.promise;
        return billing.create(args, ctx.idempotencyKey);
      },
    });
    const first = ledger.execute(spec);
    const error = await rejection(ledger.execute(spec));
    expect(isOperationInProgressError(error)).toBe(true);
    expect((error as Error).message).toContain("is in progress in another worker (state SUBMITTED)");
    expect(events.some((e) => e.type === "waiting")).toBe(true);
    gate.resolve();
    expect((await first).effect).toBe("created");
    expect(billing.calls).toBe(1);
  });

  it("refuses the same key with other arguments and executes nothing", async () => {
    const { ledger, billing, events } = setup();
    await ledger.execute(invoiceSpec(billing));
    const error = await rejection(
      ledger.execute(invoiceSpec(billing, { args: { amount: 999, customer: "cus_1" } })),
    );
    expect(isIdempotencyConflictError(error)).toBe(true);
    expect((error as IdempotencyConflictError).key).toBe("-/create_invoice/k:order-42");
    expect(billing.calls).toBe(1);
    expect(events.at(-1)?.type).toBe("conflict");
  });
});

describe("Ledger: failures", () => {
  it("stores a permanent failure as FAILED and replays the same error", async () => {
    const { ledger, billing } = setup();
    let calls = 0;
    const spec = invoiceSpec(billing, {
      submit: () => {
        calls++;
        throw Object.assign(httpError(422), { message: "card declined", code: "card_declined" });
      },
    });
    const first = (await rejection(ledger.execute(spec))) as OperationFailedError;
    const second = (await rejection(ledger.execute(spec))) as OperationFailedError;
    expect(isOperationFailedError(first)).toBe(true);
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect([second.message, second.originalCode, second.retryable]).toEqual([
      first.message,
      "card_declined",
      false,
    ]);
    expect(first.message).toBe("card declined");
    expect(calls).toBe(1);
    expect((await ledger.get("-/create_invoice/k:order-42"))?.state).toBe("FAILED");
  });

  it("fails a validation error permanently without submitting", async () => {
    const { ledger, billing } = setup();
    const error = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          validate: (args) => {
            if (args.amount > 100)
              throw Object.assign(new Error("amount over the limit"), { name: "ValidationError" });
          },
        }),
      ),
    );
    expect(isOperationFailedError(error)).toBe(true);
    expect(billing.calls).toBe(0);
    expect((await ledger.get("-/create_invoice/k:order-42"))?.state).toBe("FAILED");
  });

  it("retries a failure that did not reach the downstream, and records the attempt", async () => {
    const { ledger, billing, events } = setup();
    let calls = 0;
    const result = await ledger.execute(
      invoiceSpec(billing, {
        submit: (args, ctx) => {
          calls++;
          if (calls === 1) throw networkError("ECONNREFUSED");
          return billing.create(args, ctx.idempotencyKey);
        },
      }),
    );
    expect(result.record.attempt).toBe(2);
    expect(billing.created).toBe(1);
    const retry = events.find((e) => e.type === "retry_scheduled");
    expect(retry?.data).toEqual({
      delayMs: 1,
      reason: expect.stringContaining("ECONNREFUSED"),
      error: "ECONNREFUSED",
    });
  });

  it("releases the key when retries are exhausted before anything happened", async () => {
    const { ledger, billing, events } = setup();
    let calls = 0;
    const error = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          submit: () => {
            calls++;
            throw httpError(503);
          },
        }),
      ),
    );
    expect(isRetryExhaustedError(error)).toBe(true);
    expect(calls).toBe(3);
    expect(await ledger.get("-/create_invoice/k:order-42")).toBeUndefined();
    expect(events.slice(-2).map((e) => e.type)).toEqual(["failed", "released"]);
    // The key is free again: a later call executes.
    const later = await ledger.execute(invoiceSpec(billing));
    expect(later.effect).toBe("created");
  });

  it("honours Retry-After before resubmitting (fake timers)", async () => {
    vi.useFakeTimers();
    const { ledger, billing } = setup({ retry: new RetryPolicy({ maxAttempts: 3 }) });
    let calls = 0;
    const pending = ledger.execute(
      invoiceSpec(billing, {
        submit: (args, ctx) => {
          calls++;
          if (calls === 1) throw httpError(429, { "Retry-After": "2" });
          return billing.create(args, ctx.idempotencyKey);
        },
      }),
    );
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    expect((await pending).effect).toBe("created");
  });

  it("fails closed: no side effect when the ledger cannot be reached", async () => {
    const broken = new MemoryLedgerStore();
    broken.claim = () => Promise.reject(networkError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:6379"));
    const { ledger, billing } = setup({ store: broken });
    const error = await rejection(ledger.execute(invoiceSpec(billing)));
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain("during claim: connect ECONNREFUSED");
    expect(billing.calls).toBe(0);
  });

  it("rejects bad input before touching the store", async () => {
    const { ledger, billing, counts } = setup();
    const error = await rejection(
      ledger.execute(invoiceSpec(billing, { args: { amount: 10n, customer: "c" } as unknown as Args })),
    );
    expect(isInvalidPayloadError(error)).toBe(true);
    expect((error as Error).message).toContain("$.amount");
    const keyError = await rejection(ledger.execute(invoiceSpec(billing, { key: "caf\u00e9" })));
    expect((keyError as { code: string }).code).toBe("INVALID_KEY");
    expect(counts).toEqual({});
    expect(billing.calls).toBe(0);
  });
});

describe("Ledger: operations in doubt", () => {
  const lostAck = (billing: FakeBilling) => (args: Args, ctx: { idempotencyKey: string }) => {
    billing.create(args, ctx.idempotencyKey);
    throw networkError("ETIMEDOUT", "read ETIMEDOUT");
  };

  it("never resubmits a lost acknowledgement blindly: OperationInDoubtError carries the record", async () => {
    const { ledger, billing } = setup();
    const error = (await rejection(ledger.execute(invoiceSpec(billing, { submit: lostAck(billing) })))) as
      | OperationInDoubtError
      | undefined;
    expect(isOperationInDoubtError(error)).toBe(true);
    expect(error?.record).toMatchObject({
      state: "SUBMITTED",
      attempt: 1,
      key: "-/create_invoice/k:order-42",
    });
    expect(error?.message).toContain("submit failed with ETIMEDOUT");
    // A second call takes the record over at once and is still in doubt: nothing runs again.
    const again = await rejection(ledger.execute(invoiceSpec(billing, { submit: lostAck(billing) })));
    expect(isOperationInDoubtError(again)).toBe(true);
    expect((again as Error).message).toContain("previous owner stopped while it was SUBMITTED");
    expect(billing.calls).toBe(1);
    expect((await ledger.listInDoubt()).map((r) => r.key)).toEqual(["-/create_invoice/k:order-42"]);
  });

  it("confirms through reconcile when the downstream did act", async () => {
    const { ledger, billing, events } = setup();
    const spec = invoiceSpec(billing, {
      submit: lostAck(billing),
      reconcile: (_args, ctx) => {
        const found = billing.findByKey(ctx.idempotencyKey);
        return found ? { status: "applied", result: found } : { status: "not_applied" };
      },
    });
    const result = await ledger.execute(spec);
    expect(result).toMatchObject({ effect: "created", replayed: false, result: { id: "inv_1" } });
    expect((await ledger.execute(spec)).effect).toBe("noop");
    expect(billing.created).toBe(1);
    expect(events.filter((e) => e.type === "reconciled").map((e) => e.data)).toEqual([{ status: "applied" }]);
  });

  it("resubmits when reconcile finds nothing, once", async () => {
    const { ledger, billing } = setup();
    let calls = 0;
    const result = await ledger.execute(
      invoiceSpec(billing, {
        submit: (args, ctx) => {
          calls++;
          if (calls === 1) throw networkError("ECONNRESET"); // lost before the downstream acted
          return billing.create(args, ctx.idempotencyKey);
        },
        reconcile: (_args, ctx) =>
          billing.findByKey(ctx.idempotencyKey) ? { status: "unknown" } : { status: "not_applied" },
      }),
    );
    expect(result.record.attempt).toBe(2);
    expect(billing.created).toBe(1);
  });

  it("stays in doubt when reconcile cannot tell or throws", async () => {
    const { ledger, billing } = setup();
    const unknown = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          submit: lostAck(billing),
          reconcile: () => ({ status: "unknown", detail: "API down" }),
        }),
      ),
    );
    expect((unknown as Error).message).toContain("reconcile could not tell (API down)");
    const threw = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          key: "other",
          submit: lostAck(billing),
          reconcile: () => {
            throw new Error("lookup failed");
          },
        }),
      ),
    );
    expect((threw as Error).message).toContain("reconcile threw: lookup failed");
    expect(billing.calls).toBe(2);
  });

  it("resubmits with the same key to a downstream that deduplicates on it", async () => {
    const { ledger, billing } = setup();
    let calls = 0;
    const keys: string[] = [];
    const result = await ledger.execute(
      invoiceSpec(billing, {
        dedupesDownstream: true,
        submit: (args, ctx) => {
          calls++;
          keys.push(ctx.idempotencyKey);
          const invoice = billing.create(args, ctx.idempotencyKey, true);
          if (calls === 1) throw networkError("ETIMEDOUT");
          return invoice;
        },
      }),
    );
    expect(calls).toBe(2);
    expect(new Set(keys).size).toBe(1);
    expect(billing.created).toBe(1);
    expect(result.result.id).toBe("inv_1");
  });

  it("treats an error marked inDoubt() by the tool as in doubt", async () => {
    const { ledger, billing } = setup();
    const error = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          submit: () => {
            throw inDoubt(new Error("gateway crashed mid-request"));
          },
        }),
      ),
    );
    expect(isOperationInDoubtError(error)).toBe(true);
  });

  it("reconciles a record whose owner died in SUBMITTED once its lease expires", async () => {
    let now = 1_000_000;
    const { ledger, billing, memory } = setup({ now: () => now, leaseMs: 5_000 });
    const gate = deferred();
    // The first worker submits and then hangs forever (a dead process).
    void ledger
      .execute(
        invoiceSpec(billing, {
          submit: async (args, ctx) => {
            billing.create(args, ctx.idempotencyKey);
            await gate.promise;
            return { id: "never", amount: 0, customer: "" };
          },
        }),
      )
      .catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await memory.get("-/create_invoice/k:order-42"))?.state).toBe("SUBMITTED");
    now += 5_000;
    let reconciled = 0;
    const result = await ledger.execute(
      invoiceSpec(billing, {
        reconcile: (_args, ctx) => {
          reconciled++;
          const found = billing.findByKey(ctx.idempotencyKey);
          return found ? { status: "applied", result: found } : { status: "not_applied" };
        },
      }),
    );
    expect(result.effect).toBe("created");
    expect(result.record.fencingToken).toBe(2);
    expect(reconciled).toBe(1);
    expect(billing.created).toBe(1);
    gate.resolve();
  });

  it("renews the lease of a slow owner, so a duplicate waits instead of taking over", async () => {
    const { ledger, billing, events } = setup({ leaseMs: 30, waitTimeoutMs: 2_000 });
    const spec = invoiceSpec(billing, {
      submit: async (args, ctx) => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(ctx.signal.aborted).toBe(false);
        return billing.create(args, ctx.idempotencyKey);
      },
    });
    const first = ledger.execute(spec);
    await new Promise((resolve) => setTimeout(resolve, 60)); // two lease lengths in
    const second = await ledger.execute(spec);
    expect((await first).replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(billing.calls).toBe(1);
    expect(events.some((e) => e.type === "taken_over")).toBe(false);
  });

  it("aborts the hook's signal when the lease is lost to another worker", async () => {
    let now = 1_000_000;
    const { ledger, billing, events } = setup({ now: () => now, leaseMs: 30 });
    const aborted = deferred<unknown>();
    const first = ledger.execute(
      invoiceSpec(billing, {
        submit: (_args, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener("abort", () => {
              aborted.resolve(ctx.signal.reason);
              reject(ctx.signal.reason);
            });
          }),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    now += 30; // the lease runs out; another worker takes over
    await rejection(ledger.execute(invoiceSpec(billing)));
    expect(isStaleOwnerError(await aborted.promise)).toBe(true);
    await rejection(first);
    expect(events.some((e) => e.type === "lease_lost")).toBe(true);
  });

  it("refuses the stale owner's late write after a takeover", async () => {
    let now = 1_000_000;
    const { ledger, billing } = setup({ now: () => now, leaseMs: 5_000 });
    const gate = deferred();
    const slow = ledger.execute(
      invoiceSpec(billing, {
        submit: async (args, ctx) => {
          const invoice = billing.create(args, ctx.idempotencyKey);
          await gate.promise;
          return invoice;
        },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    now += 5_000;
    await ledger.execute(
      invoiceSpec(billing, {
        reconcile: (_args, ctx) => ({
          status: "applied",
          result: billing.findByKey(ctx.idempotencyKey) ?? { id: "?", amount: 0, customer: "" },
        }),
      }),
    );
    gate.resolve();
    const error = await rejection(slow);
    expect(isStaleOwnerError(error)).toBe(true);
    expect(billing.created).toBe(1);
  });

  it("keeps the record SUBMITTED when the ledger fails after the side effect, then reconciles", async () => {
    const memory = new MemoryLedgerStore();
    const { ledger, billing } = setup({ store: memory });
    const realTransition = memory.transition.bind(memory);
    memory.transition = async (request) => {
      if (request.path.includes("CONFIRMED")) throw networkError("ECONNRESET", "socket closed");
      return realTransition(request);
    };
    const error = await rejection(ledger.execute(invoiceSpec(billing)));
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain("completed, but the ledger could not record it");
    expect((await memory.get("-/create_invoice/k:order-42"))?.state).toBe("SUBMITTED");
    memory.transition = realTransition;
    const record = await memory.get("-/create_invoice/k:order-42");
    if (!record) throw new Error("record missing");
    await memory.renewLease({
      key: record.key,
      owner: record.owner ?? "",
      fencingToken: record.fencingToken,
      now: 0,
      leaseExpiresAt: 0,
    });
    const recovered = await ledger.execute(
      invoiceSpec(billing, {
        reconcile: (_args, ctx) => {
          const found = billing.findByKey(ctx.idempotencyKey);
          return found ? { status: "applied", result: found } : { status: "not_applied" };
        },
      }),
    );
    expect(recovered.effect).toBe("created");
    expect(billing.created).toBe(1);
  });

  it("lets an operator resolve an in-doubt operation", async () => {
    const { ledger, billing } = setup();
    await rejection(ledger.execute(invoiceSpec(billing, { submit: lostAck(billing) })));
    const key = "-/create_invoice/k:order-42";
    const resolved = await ledger.resolve(
      key,
      { status: "applied", result: { id: "inv_1", amount: 120, customer: "cus_1" } },
      "alice",
    );
    expect(resolved?.state).toBe("CONFIRMED");
    const replay = await ledger.execute(invoiceSpec(billing));
    expect(replay).toMatchObject({ replayed: true, result: { id: "inv_1" } });
    expect(billing.calls).toBe(1);
    const events = await ledger.readEvents({ key });
    expect(events.find((e) => e.type === "resolved")?.data).toEqual({
      status: "applied",
      resolvedBy: "alice",
    });
  });
});

describe("Ledger: records and redaction", () => {
  it("forgets finished records after their TTL", async () => {
    let now = 1_000;
    const { ledger, billing } = setup({ now: () => now, recordTtlMs: 60_000 });
    await ledger.execute(invoiceSpec(billing));
    now += 59_999;
    expect((await ledger.execute(invoiceSpec(billing))).replayed).toBe(true);
    now += 1;
    expect((await ledger.execute(invoiceSpec(billing))).replayed).toBe(false);
    expect(billing.created).toBe(2);
  });

  it("never stores or reports sensitive paths in clear", async () => {
    const { ledger, events } = setup({
      redact: { paths: ["args.card.number", "result.token"], secret: "k1" },
    });
    const result = await ledger.execute({
      tool: "charge",
      args: { card: { number: "4242424242424242", cvc: "1" }, amount: 5 },
      submit: () => ({ token: "tok_secret_123", ok: true }),
    });
    expect(result.result).toEqual({ token: "tok_secret_123", ok: true });
    const stored = JSON.stringify([result.record.args, events, await ledger.readEvents()]);
    expect(stored).not.toContain("4242424242424242");
    expect(stored).not.toContain("tok_secret_123");
    expect(stored).toContain("[REDACTED:");
  });

  it("redacts and encodes the arguments to store them only when a record is created, not on a replay", async () => {
    const { ledger, events } = setup({ redact: { paths: ["args.card.number"], secret: "k1" } });
    const redact = vi.spyOn(Redactor.prototype, "redact");
    const argsRedactions = () => redact.mock.calls.filter(([root]) => root === "args").length;
    const charge = () =>
      ledger.execute({
        tool: "charge",
        args: { card: { number: "4242424242424242" }, amount: 5 },
        submit: () => ({ ok: true }),
      });
    try {
      const first = await charge();
      expect(argsRedactions()).toBe(1);
      expect(first.record.args).toEqual({
        card: { number: expect.stringMatching(/^\[REDACTED:/) },
        amount: 5,
      });
      const claimed = events.find((event) => event.type === "claimed");
      expect(claimed?.data).toEqual({ args: first.record.args });

      const replay = await charge();
      expect(replay.replayed).toBe(true);
      expect(argsRedactions()).toBe(1);
    } finally {
      redact.mockRestore();
    }
  });

  it("rejects invalid options with a clear error", () => {
    expect(() => new Ledger({ store: new MemoryLedgerStore(), leaseMs: -1 })).toThrow(
      "leaseMs must be a positive integer number of milliseconds, got -1.",
    );
    expect(() => new Ledger({} as LedgerOptions)).toThrow("needs a store");
  });
});

describe("Ledger: deleting a scope", () => {
  it("deletes the operations under a key prefix, so their keys run again", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let runs = 0;
    const run = (key: string) => ledger.execute({ tool: "step", key, args: {}, submit: () => ++runs });
    await run("thread-1:a");
    await run("thread-1:b");
    await run("thread-2:a");
    const prefix = ledger.keyFor({ tool: "step", key: "thread-1:", args: {} }).key;
    expect(await ledger.deleteByKeyPrefix(prefix)).toBe(2);
    await run("thread-1:a");
    await run("thread-2:a");
    expect(runs).toBe(4); // thread-1:a ran again; thread-2:a replayed
  });

  it("refuses a store that cannot delete by prefix, and an empty prefix", async () => {
    const memory = new MemoryLedgerStore();
    const withoutDelete: LedgerStore = {
      claim: (r) => memory.claim(r),
      transition: (r) => memory.transition(r),
      renewLease: (r) => memory.renewLease(r),
      release: (r) => memory.release(r),
      get: (k) => memory.get(k),
      listInDoubt: (o) => memory.listInDoubt(o),
      appendEvents: (e) => memory.appendEvents(e),
      readEvents: (o) => memory.readEvents(o),
    };
    expect(() => new Ledger({ store: withoutDelete }).deleteByKeyPrefix("-/step/k:x")).toThrow(
      /cannot delete operations by key prefix/,
    );
    expect(() => new Ledger({ store: memory }).deleteByKeyPrefix("")).toThrow(/non-empty key prefix/);
  });
});

describe("Ledger: an attempt that may have been applied is never forgotten", () => {
  const KEY = "-/create_invoice/k:order-42";
  const SUFFIX =
    ". It is not submitted again blindly: the downstream may already have applied it. Add a reconcile hook, declare that the downstream deduplicates on the key, or resolve it with ledger.resolve().";
  const ETIMEDOUT_FIRST =
    "attempt 1 may have been applied (submit failed with ETIMEDOUT after the request may have reached the downstream) and nothing has shown it was not";

  /** Submit to a deduplicating downstream: the first request is applied but its reply is lost; later ones fail with `later()`. */
  function lostAckThen(billing: FakeBilling, later: () => Error) {
    let submits = 0;
    const submit = (args: Args, ctx: { idempotencyKey: string }) => {
      submits++;
      if (submits === 1) {
        billing.create(args, ctx.idempotencyKey, true);
        throw networkError("ETIMEDOUT", "read ETIMEDOUT");
      }
      throw later();
    };
    return { submit, submits: () => submits };
  }

  it("stays in doubt when later submissions fail with 503 until retries run out (no release)", async () => {
    const { ledger, billing, events } = setup();
    const downstream = lostAckThen(billing, () => httpError(503));
    const error = (await rejection(
      ledger.execute(invoiceSpec(billing, { dedupesDownstream: true, submit: downstream.submit })),
    )) as OperationInDoubtError;
    expect(isOperationInDoubtError(error)).toBe(true);
    expect(error.message).toBe(
      `Operation "${KEY}" is in doubt: submit attempt 3 failed with HTTP 503, and retrying stopped (max_attempts), but ${ETIMEDOUT_FIRST}${SUFFIX}`,
    );
    expect(classifyError(error).outcome).toBe("unknown");
    expect(downstream.submits()).toBe(3);
    expect(billing.created).toBe(1);
    expect(await ledger.get(KEY)).toMatchObject({ state: "SUBMITTED", attempt: 3 });
    expect((await ledger.listInDoubt()).map((r) => r.key)).toEqual([KEY]);
    expect(events.some((e) => e.type === "released")).toBe(false);
    // The next call does not take the key for free: it meets the operation in doubt.
    const next = await rejection(ledger.execute(invoiceSpec(billing, { submit: downstream.submit })));
    expect(isOperationInDoubtError(next)).toBe(true);
    expect(downstream.submits()).toBe(3);
  });

  it("stays in doubt when a later submission fails permanently (409 key in use), instead of storing FAILED", async () => {
    const { ledger, billing } = setup();
    const conflict = () => Object.assign(httpError(409), { message: "idempotency key in use" });
    const downstream = lostAckThen(billing, conflict);
    const error = (await rejection(
      ledger.execute(invoiceSpec(billing, { dedupesDownstream: true, submit: downstream.submit })),
    )) as OperationInDoubtError;
    expect(isOperationInDoubtError(error)).toBe(true);
    expect(error.message).toBe(
      `Operation "${KEY}" is in doubt: submit attempt 2 failed with HTTP 409 (permanent), but ${ETIMEDOUT_FIRST}${SUFFIX}`,
    );
    expect((error.cause as Error).message).toBe("idempotency key in use");
    expect(await ledger.get(KEY)).toMatchObject({ state: "SUBMITTED", attempt: 2 });
    // A call that can look the key up confirms what the first attempt did.
    const reconciled = await ledger.execute(
      invoiceSpec(billing, {
        submit: downstream.submit,
        reconcile: (_args, ctx) => {
          const found = billing.findByKey(ctx.idempotencyKey);
          return found ? { status: "applied", result: found } : { status: "not_applied" };
        },
      }),
    );
    expect(reconciled).toMatchObject({ replayed: false, effect: "created", result: { id: "inv_1" } });
    expect(downstream.submits()).toBe(2);
    expect(billing.created).toBe(1);
  });

  it("stays in doubt when resubmitting a dead owner's SUBMITTED operation fails permanently", async () => {
    let now = 1_000_000;
    const { ledger, billing, memory } = setup({ now: () => now, leaseMs: 5_000 });
    await memory.claim({
      key: KEY,
      tool: "create_invoice",
      fingerprint: ledger.fingerprintOf(ARGS),
      owner: "dead/1",
      now,
      leaseMs: 5_000,
      initialPath: ["VALIDATED", "SUBMITTED"],
      initialAttempt: 1,
      events: [],
      takeoverEvents: [],
    });
    billing.create(ARGS, "dt_whatever", true); // what the dead owner's request did downstream
    now += 5_000;
    let submits = 0;
    const error = (await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          dedupesDownstream: true,
          submit: () => {
            submits++;
            throw Object.assign(httpError(409), { message: "idempotency key in use" });
          },
        }),
      ),
    )) as OperationInDoubtError;
    expect(isOperationInDoubtError(error)).toBe(true);
    expect(error.message).toBe(
      `Operation "${KEY}" is in doubt: submit attempt 2 failed with HTTP 409 (permanent), but attempt 1 (of an owner that stopped while it was SUBMITTED) may have been applied and nothing has shown it was not${SUFFIX}`,
    );
    expect(submits).toBe(1);
    expect(await ledger.get(KEY)).toMatchObject({ state: "SUBMITTED", attempt: 2, fencingToken: 2 });
  });

  it("still stores a permanent failure once reconcile has said the earlier attempt was not applied", async () => {
    const { ledger, billing } = setup();
    let submits = 0;
    const error = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          submit: () => {
            submits++;
            if (submits === 1) throw networkError("ETIMEDOUT");
            throw Object.assign(httpError(422), { message: "card declined" });
          },
          reconcile: () => ({ status: "not_applied" }),
        }),
      ),
    );
    expect(isOperationFailedError(error)).toBe(true);
    expect((error as Error).message).toBe("card declined");
    expect(await ledger.get(KEY)).toMatchObject({ state: "FAILED", attempt: 2 });
    expect(submits).toBe(2);
  });
});

describe("Ledger: the caller aborts during a backoff", () => {
  const KEY = "-/create_invoice/k:order-42";
  /** A ledger whose listener aborts `controller` as soon as a retry is scheduled (before its sleep). */
  function abortingSetup() {
    const controller = new AbortController();
    const context = setup({
      retry: new RetryPolicy({ maxAttempts: 5, baseDelayMs: 5_000, jitter: "none" }),
    });
    context.ledger.on((event) => {
      if (event.type === "retry_scheduled") controller.abort(new Error("user cancelled"));
    });
    return { ...context, controller };
  }

  it("releases the record after a failure that did not reach the downstream, so the next call submits", async () => {
    const { ledger, billing, events, controller } = abortingSetup();
    let submits = 0;
    const error = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          signal: controller.signal,
          submit: () => {
            submits++;
            throw httpError(503);
          },
        }),
      ),
    );
    expect(isAbortedError(error)).toBe(true);
    expect((error as Error).message).toBe("Aborted: user cancelled");
    expect(await ledger.get(KEY)).toBeUndefined();
    expect(await ledger.listInDoubt({ includeUnfinished: true })).toEqual([]);
    expect(events.slice(-2).map((e) => [e.type, e.data ?? null])).toEqual([
      ["failed", { message: "Aborted: user cancelled", stored: false, why: "aborted" }],
      ["released", null],
    ]);
    const next = await ledger.execute(invoiceSpec(billing));
    expect(next).toMatchObject({ replayed: false, effect: "created", record: { attempt: 1 } });
    expect([submits, billing.created]).toEqual([1, 1]);
  });

  it("releases a record still being validated", async () => {
    const { ledger, billing, controller } = abortingSetup();
    const error = await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          signal: controller.signal,
          validate: () => {
            throw httpError(503);
          },
        }),
      ),
    );
    expect(isAbortedError(error)).toBe(true);
    expect(await ledger.get(KEY)).toBeUndefined();
    expect(billing.calls).toBe(0);
  });

  it("leaves the operation in doubt when an earlier attempt may have been applied", async () => {
    const { ledger, billing, controller } = abortingSetup();
    let submits = 0;
    const error = (await rejection(
      ledger.execute(
        invoiceSpec(billing, {
          signal: controller.signal,
          dedupesDownstream: true,
          submit: (args, ctx) => {
            submits++;
            billing.create(args, ctx.idempotencyKey, true);
            throw networkError("ETIMEDOUT");
          },
        }),
      ),
    )) as OperationInDoubtError;
    expect(isOperationInDoubtError(error)).toBe(true);
    expect(error.message).toContain(
      "is in doubt: the caller aborted before submit attempt 2, but attempt 1 may have been applied (submit failed with ETIMEDOUT after the request may have reached the downstream) and nothing has shown it was not.",
    );
    expect(isAbortedError(error.cause)).toBe(true);
    expect(await ledger.get(KEY)).toMatchObject({ state: "SUBMITTED", attempt: 1 });
    expect((await ledger.listInDoubt()).map((r) => r.key)).toEqual([KEY]);
    expect([submits, billing.created]).toEqual([1, 1]);
  });
});

describe("Ledger: why resubmission stopped", () => {
  it("reports the retry deadline, not max_attempts, when reconcile finds nothing after the deadline", async () => {
    let now = 1_000_000;
    const { ledger } = setup({ now: () => now, retry: new RetryPolicy({ maxAttempts: 5, deadlineMs: 50 }) });
    let submits = 0;
    const spec = {
      tool: "t",
      args: {},
      submit: () => {
        submits++;
        now += 80;
        throw inDoubt(new Error("timeout"));
      },
      reconcile: () => ({ status: "not_applied" as const }),
    };
    const error = await rejection(ledger.execute(spec));
    expect(isDeadlineExceededError(error)).toBe(true);
    expect((error as Error).message).toBe("Retry deadline of 50 ms exceeded: timeout");
    expect(submits).toBe(1);
    expect(await ledger.get(ledger.keyFor({ tool: "t", args: {} }).key)).toBeUndefined();
  });

  it("says the deadline passed when a deduplicating downstream cannot be asked again", async () => {
    let now = 1_000_000;
    const { ledger } = setup({ now: () => now, retry: new RetryPolicy({ maxAttempts: 5, deadlineMs: 50 }) });
    const error = await rejection(
      ledger.execute({
        tool: "t",
        args: {},
        dedupesDownstream: true,
        submit: () => {
          now += 80;
          throw inDoubt(new Error("timeout"));
        },
      }),
    );
    expect(isOperationInDoubtError(error)).toBe(true);
    expect((error as Error).message).toContain(
      "is in doubt: submit failed with explicit after the request may have reached the downstream; the retry deadline of 50 ms passed after 1 submissions to the deduplicating downstream.",
    );
  });
});

describe("Ledger: the caller's signal", () => {
  it("keeps no listener on a long-lived signal once calls finish", async () => {
    const { ledger } = setup();
    const signal = new AbortController().signal;
    const during: number[] = [];
    for (let i = 0; i < 25; i++) {
      await ledger.execute({
        tool: "t",
        args: { i },
        signal,
        submit: (_args, ctx) => {
          void ctx.signal; // a hook that reads the signal links it to the caller's
          during.push(getEventListeners(signal, "abort").length);
          return i;
        },
      });
    }
    expect(during).toEqual(Array.from({ length: 25 }, () => 1));
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });
});

describe("Ledger listing limits", () => {
  it("refuses a limit that is not a whole number of at least 0, before the store is asked", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    for (const limit of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(ledger.listInDoubt({ limit })).rejects.toThrow(
        `ledger.listInDoubt: limit must be a whole number of at least 0 (or left out for no limit), got ${limit}.`,
      );
      await expect(ledger.readEvents({ limit })).rejects.toBeInstanceOf(InvalidConfigurationError);
    }
    expect(await ledger.listInDoubt({ limit: 0 })).toEqual([]);
  });
});
