import { describe, expect, it, vi } from "vitest";
import { isIdempotencyConflictError, isOperationFailedError } from "./errors.js";
import type { LedgerEventInput } from "./events.js";
import { Ledger, type LedgerOptions } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import type { OperationSpec } from "./operation.js";
import type { OperationState } from "./record.js";
import { RetryPolicy } from "./retry-policy.js";
import { countingStore, deferred, httpError, rejection } from "./test-support.js";
import { claimRequest } from "./testing/conformance.js";

type Args = { cents: number };
const ARGS: Args = { cents: 500 };
const KEY = "-/refund/k:r-1";
const LEASE_MS = 5_000;

/**
 * A ledger with a refund spec whose hooks count their calls: `submits` is the ground truth of what
 * reached the downstream, `authorized` lists the record state each authorize call saw.
 */
function setup(options: Partial<LedgerOptions> = {}) {
  const memory = new MemoryLedgerStore();
  const { store, counts } = countingStore(memory);
  const retry = new RetryPolicy({ maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, jitter: "none" });
  const ledger = new Ledger({ retry, leaseMs: LEASE_MS, ...options, store });
  const events: LedgerEventInput[] = [];
  ledger.on((event) => events.push(event));
  const authorized: OperationState[] = [];
  let submits = 0;
  const spec = ({ authorize, ...overrides }: Partial<OperationSpec<Args, string>> = {}) =>
    ({
      tool: "refund",
      key: "r-1",
      args: ARGS,
      submit: () => `refund-${++submits}`,
      ...overrides,
      authorize: async (args, ctx) => {
        authorized.push(ctx.record.state);
        await authorize?.(args, ctx);
      },
    }) satisfies OperationSpec<Args, string>;
  /** The spec with an authorize hook that throws `refusal`. */
  const refusing = (refusal: unknown) =>
    spec({
      authorize: () => {
        throw refusal;
      },
    });
  return { ledger, memory, counts, events, authorized, spec, refusing, submits: () => submits };
}

/** A setup whose KEY holds a record an owner left at the end of `path` and whose lease ran out. */
async function afterOwnerDied(path: OperationState[]) {
  let now = 1_000_000;
  const context = setup({ now: () => now });
  const fingerprint = context.ledger.fingerprintOf(ARGS);
  const initialAttempt = path.includes("SUBMITTED") ? 1 : 0;
  const left = { tool: "refund", fingerprint, owner: "dead/1", now, leaseMs: LEASE_MS, initialAttempt };
  await context.memory.claim(claimRequest(KEY, { ...left, initialPath: path }));
  now += LEASE_MS;
  return context;
}

/** A hook that says when it is entered, then waits until `release()`. */
function holding() {
  const entered = deferred();
  const gate = deferred();
  const hook = async () => {
    entered.resolve();
    await gate.promise;
  };
  return { entered: entered.promise, release: gate.resolve, hook };
}

const summary = (events: LedgerEventInput[]) => events.map((e) => `${e.type}:${e.from ?? ""}>${e.to ?? ""}`);

describe("OperationSpec.authorize: when it runs", () => {
  it("runs once on a new record, before validate, while the record is PENDING (claimed PENDING, one write more)", async () => {
    const { ledger, counts, events, authorized, spec, submits } = setup();
    const order: string[] = [];
    const contexts: { key: string; attempt: number }[] = [];
    const result = await ledger.execute(
      spec({
        authorize: (_args, ctx) => {
          order.push("authorize");
          contexts.push({ key: ctx.key, attempt: ctx.attempt });
        },
      }),
    );
    expect(result).toMatchObject({ key: KEY, result: "refund-1", replayed: false, record: { attempt: 1 } });
    expect(authorized).toEqual(["PENDING"]);
    expect(contexts).toEqual([{ key: KEY, attempt: 0 }]);
    expect(submits()).toBe(1);
    expect(counts).toEqual({ claim: 1, transition: 2 });
    expect(summary(events)).toEqual([
      "claimed:>PENDING",
      "transition:PENDING>VALIDATED",
      "transition:VALIDATED>SUBMITTED",
      "transition:SUBMITTED>CONFIRMED",
    ]);

    expect(order).toEqual(["authorize"]);

    order.length = 0;
    const withValidate = setup();
    await withValidate.ledger.execute(
      withValidate.spec({
        authorize: () => {
          order.push("authorize");
        },
        validate: () => {
          order.push("validate");
        },
      }),
    );
    expect(order).toEqual(["authorize", "validate"]);
  });

  it("is not run again by validate retries or resubmissions", async () => {
    const { ledger, authorized, spec } = setup();
    let validations = 0;
    let submits = 0;
    const result = await ledger.execute(
      spec({
        validate: () => {
          if (++validations < 3) throw httpError(503);
        },
        submit: () => {
          if (++submits === 1) throw httpError(503);
          return "refunded";
        },
      }),
    );
    expect(result).toMatchObject({ result: "refunded", record: { attempt: 2 } });
    expect({ validations, submits, authorized: authorized.length }).toEqual({
      validations: 3,
      submits: 2,
      authorized: 1,
    });
  });

  it("is not run for a replay, a conflict or a stored failure", async () => {
    const { ledger, authorized, spec, submits } = setup();
    await ledger.execute(spec());
    expect(await ledger.execute(spec())).toMatchObject({ replayed: true, result: "refund-1" });
    const conflict = await rejection(ledger.execute(spec({ args: { cents: 600 } })));
    expect(isIdempotencyConflictError(conflict)).toBe(true);
    expect(authorized).toEqual(["PENDING"]);

    const declined = spec({
      key: "r-2",
      validate: () => {
        throw httpError(422);
      },
    });
    expect(isOperationFailedError(await rejection(ledger.execute(declined)))).toBe(true);
    const replayedFailure = await rejection(ledger.execute(declined));
    expect(replayedFailure).toMatchObject({ code: "OPERATION_FAILED", replayed: true });
    expect(authorized).toEqual(["PENDING", "PENDING"]);
    expect(submits()).toBe(1);
  });

  it("is not run for a duplicate that waits for the owner's outcome", async () => {
    const { ledger, events, authorized, spec } = setup();
    const submitting = holding();
    const owner = ledger.execute(spec({ submit: () => submitting.hook().then(() => "refunded") }));
    await submitting.entered;
    const duplicate = ledger.execute(spec());
    await vi.waitFor(() => expect(events.map((e) => e.type)).toContain("waiting"));
    submitting.release();
    expect(await owner).toMatchObject({ replayed: false, result: "refunded" });
    expect(await duplicate).toMatchObject({ replayed: true, result: "refunded" });
    expect(authorized).toEqual(["PENDING"]);
  });

  it("runs for the takeover of a PENDING record whose owner died in authorize", async () => {
    let now = 1_000_000;
    const { ledger, memory, events, authorized, spec, submits } = setup({ now: () => now });
    const authorizing = holding();
    const dead = ledger.execute(spec({ authorize: authorizing.hook }));
    await authorizing.entered;
    expect(await memory.get(KEY)).toMatchObject({ state: "PENDING", attempt: 0 });
    now += LEASE_MS;
    const result = await ledger.execute(spec());
    expect(result).toMatchObject({ result: "refund-1", replayed: false, record: { fencingToken: 2 } });
    expect(authorized).toEqual(["PENDING", "PENDING"]);
    expect(submits()).toBe(1);
    expect(events.filter((e) => e.type === "taken_over")).toHaveLength(1);
    authorizing.release();
    expect(await rejection(dead)).toMatchObject({ code: "STALE_OWNER" });
    expect(submits()).toBe(1);
  });

  it("runs for the takeover of a VALIDATED record, before its first submission", async () => {
    const { ledger, authorized, spec, submits } = await afterOwnerDied(["VALIDATED"]);
    const result = await ledger.execute(spec());
    expect(result).toMatchObject({ result: "refund-1", record: { attempt: 1, fencingToken: 2 } });
    expect(authorized).toEqual(["VALIDATED"]);
    expect(submits()).toBe(1);
  });

  it("is not run for the takeover of a SUBMITTED record: its owner authorised that submission", async () => {
    const { ledger, authorized, spec, submits } = await afterOwnerDied(["VALIDATED", "SUBMITTED"]);
    const result = await ledger.execute(spec({ reconcile: () => ({ status: "not_applied" }) }));
    expect(result).toMatchObject({ result: "refund-1", record: { attempt: 2, fencingToken: 2 } });
    expect(authorized).toEqual([]);
    expect(submits()).toBe(1);
  });
});

describe("OperationSpec.authorize: a refusal", () => {
  for (const [what, refusal] of [
    ["a permanent error", new Error("not approved")],
    ["a transient error (never retried)", httpError(503)],
  ] as const) {
    it(`with ${what}: rethrown as is, nothing submitted or stored, the key released; the next call submits once`, async () => {
      const { ledger, events, authorized, spec, refusing, submits } = setup();
      expect(await rejection(ledger.execute(refusing(refusal)))).toBe(refusal);
      expect(authorized).toEqual(["PENDING"]);
      expect(submits()).toBe(0);
      expect(await ledger.get(KEY)).toBeUndefined();
      expect(events.map((e) => [e.type, e.from ?? null, e.to ?? null, e.data ?? null])).toEqual([
        ["claimed", null, "PENDING", { args: ARGS }],
        ["failed", null, null, { message: refusal.message, stored: false, why: "unauthorized" }],
        ["released", "PENDING", null, null],
      ]);
      expect((await ledger.readEvents({ key: KEY })).map((e) => e.type)).toEqual([
        "claimed",
        "failed",
        "released",
      ]);

      const next = await ledger.execute(spec());
      expect(next).toMatchObject({ replayed: false, result: "refund-1", record: { state: "CONFIRMED" } });
      expect(authorized).toEqual(["PENDING", "PENDING"]);
      expect(submits()).toBe(1);
    });
  }

  it("on the takeover of a VALIDATED record releases it too", async () => {
    const { ledger, events, refusing, submits } = await afterOwnerDied(["VALIDATED"]);
    const refusal = new Error("approval expired");
    expect(await rejection(ledger.execute(refusing(refusal)))).toBe(refusal);
    expect(await ledger.get(KEY)).toBeUndefined();
    expect(summary(events)).toEqual(["taken_over:>", "failed:>", "released:VALIDATED>"]);
    expect(submits()).toBe(0);
  });
});
