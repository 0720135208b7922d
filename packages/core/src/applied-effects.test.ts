import { describe, expect, it } from "vitest";
import { classifyError } from "./error-classification.js";
import { AbortedError, DeadlineExceededError, OperationInDoubtError } from "./errors.js";
import { Ledger } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import type { OperationSpec } from "./operation.js";
import { reconcileOperation } from "./recovery.js";
import { deferred, httpError, networkError, rejection } from "./test-support.js";

/*
 * An effect the downstream applied is never submitted again and never reported as failed, and an
 * effect the caller gave up on before it was submitted is never made: each case counted against the
 * downstream's own count.
 */

const retry = { baseDelayMs: 1, maxDelayMs: 2, jitter: "none" as const };

describe("after this call's submit succeeded", () => {
  it("a reconcile answering 'not applied' (stale) does not make it submit again: in doubt", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore(), retry });
    let charges = 0;
    let confirms = 0;
    const spec: OperationSpec<{ cents: number }, { id: string }> = {
      tool: "charge",
      key: "order-1",
      args: { cents: 500 },
      submit: () => ({ id: `ch_${++charges}` }),
      // Settlement is not visible yet: confirm and the lookup-by-key reconcile both read stale data.
      confirm: (result) => {
        if (++confirms === 1) throw httpError(503);
        return result;
      },
      reconcile: () => ({ status: "not_applied" }),
    };
    const error = await rejection(ledger.execute(spec));
    expect(error).toBeInstanceOf(OperationInDoubtError);
    expect((error as Error).message).toContain(
      'reconcile answered "not applied", but a submit of attempt 1 succeeded',
    );
    expect(charges).toBe(1);
    const record = await ledger.get(ledger.keyFor(spec).key);
    expect(record).toMatchObject({ state: "SUBMITTED", attempt: 1 });
  });

  it("a permanent confirm error leaves it in doubt, not FAILED; a reconcile that finds it confirms it", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let charges = 0;
    const spec: OperationSpec<{ cents: number }, { id: string }> = {
      tool: "charge",
      key: "order-2",
      args: { cents: 500 },
      submit: () => ({ id: `ch_${++charges}` }),
      confirm: () => {
        throw new Error("not settled yet");
      },
    };
    const error = await rejection(ledger.execute(spec));
    expect(error).toBeInstanceOf(OperationInDoubtError);
    expect((error as Error).message).toContain("confirm failed with unclassified error (permanent)");
    const key = ledger.keyFor(spec).key;
    expect((await ledger.get(key))?.state).toBe("SUBMITTED");

    const found = await ledger.execute({
      ...spec,
      confirm: (result) => result,
      reconcile: () => ({ status: "applied", result: { id: "ch_1" } }),
    });
    expect(found).toMatchObject({ result: { id: "ch_1" }, replayed: false });
    expect(charges).toBe(1);
    expect((await ledger.get(key))?.state).toBe("CONFIRMED");
  });

  it("an effect function that throws leaves it in doubt with a clear error, the lease let go", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let charges = 0;
    const spec: OperationSpec<{ cents: number }, { id: string }> = {
      tool: "charge",
      key: "order-3",
      args: { cents: 500 },
      submit: () => ({ id: `ch_${++charges}` }),
      effect: () => {
        throw new Error("boom");
      },
    };
    const error = await rejection(ledger.execute(spec));
    expect(error).toBeInstanceOf(OperationInDoubtError);
    expect((error as Error).message).toContain("was applied, but the tool's effect function threw: boom");
    // The next call does not wait for a lease: it takes the record over and finds it in doubt.
    const next = await rejection(ledger.execute(spec));
    expect(next).toBeInstanceOf(OperationInDoubtError);
    expect(charges).toBe(1);
  });
});

describe("a submit that succeeded before its confirm failed, in the calls after it", () => {
  for (const [label, confirmError] of [
    ["a transient confirm error", () => httpError(503)],
    ["a permanent confirm error", () => new Error("not settled yet")],
  ] as const) {
    it(`${label}: the next call's stale 'not applied' does not submit again, nor does recovery's`, async () => {
      const store = new MemoryLedgerStore();
      let charges = 0;
      let confirms = 0;
      const spec: OperationSpec<{ cents: number }, { id: string }> = {
        tool: "charge",
        key: `order-${label}`,
        args: { cents: 500 },
        submit: () => ({ id: `ch_${++charges}` }),
        confirm: (result) => {
          if (++confirms === 1) throw confirmError();
          return result;
        },
        reconcile: () => ({ status: "not_applied" }),
      };
      const first = new Ledger({ store, retry });
      expect(await rejection(first.execute(spec))).toBeInstanceOf(OperationInDoubtError);
      const key = first.keyFor(spec).key;
      // The record keeps what the submit returned: a submit of it succeeded.
      expect(await first.get(key)).toMatchObject({ state: "SUBMITTED", result: { id: "ch_1" } });

      // Another worker, after the lease was let go: takes it over, asks reconcile, is told "not applied".
      const second = new Ledger({ store, retry });
      const error = await rejection(second.execute(spec));
      expect(error).toBeInstanceOf(OperationInDoubtError);
      expect((error as Error).message).toContain("the record keeps its result");
      const recovered = await reconcileOperation(second, key, () => ({ status: "not_applied" }));
      expect(recovered).toMatchObject({ outcome: "in_doubt" });
      expect((await second.get(key))?.state).toBe("SUBMITTED");
      expect(charges).toBe(1);
    });
  }
});

describe("an abort before the submission", () => {
  for (const hook of ["validate", "authorize"] as const) {
    it(`during ${hook}: submit is not called, the key is freed, AbortedError`, async () => {
      const ledger = new Ledger({ store: new MemoryLedgerStore() });
      const controller = new AbortController();
      const inHook = deferred();
      let charges = 0;
      const spec: OperationSpec<{ cents: number }, string> = {
        tool: "charge",
        key: `abort-${hook}`,
        args: { cents: 500 },
        signal: controller.signal,
        [hook]: async () => {
          inHook.resolve();
          await new Promise((resolve) => setTimeout(resolve, 20));
        },
        submit: () => `ch_${++charges}`,
      };
      const call = ledger.execute(spec);
      await inHook.promise;
      controller.abort("user cancelled");
      const error = await rejection(call);
      expect(error).toBeInstanceOf(AbortedError);
      expect(charges).toBe(0);
      expect(await ledger.get(ledger.keyFor(spec).key)).toBeUndefined();
      // The key is free: a call that is not aborted submits.
      expect(await ledger.execute({ ...spec, signal: undefined })).toMatchObject({ result: "ch_1" });
    });
  }

  it("during the claim of a spec without hooks: submit is not called", async () => {
    const controller = new AbortController();
    class AbortingStore extends MemoryLedgerStore {
      override async claim(request: Parameters<MemoryLedgerStore["claim"]>[0]) {
        const claimed = await super.claim(request);
        controller.abort("user cancelled");
        return claimed;
      }
    }
    const ledger = new Ledger({ store: new AbortingStore() });
    let charges = 0;
    const spec: OperationSpec<{ cents: number }, string> = {
      tool: "charge",
      key: "abort-claim",
      args: { cents: 500 },
      signal: controller.signal,
      submit: () => `ch_${++charges}`,
    };
    expect(await rejection(ledger.execute(spec))).toBeInstanceOf(AbortedError);
    expect(charges).toBe(0);
    expect(await ledger.get(ledger.keyFor(spec).key)).toBeUndefined();
  });
});

describe("an error that says only `retryable`", () => {
  it("takes what it may have done from its code, status or name: a reset stays in doubt, never resubmitted", async () => {
    expect(classifyError(Object.assign(networkError("ECONNRESET"), { retryable: true }))).toEqual({
      retryable: true,
      outcome: "unknown",
      reason: "explicit",
    });
    expect(classifyError(Object.assign(httpError(504), { retryable: true })).outcome).toBe("unknown");
    expect(
      classifyError(Object.assign(new Error("t"), { name: "TimeoutError", retryable: true })).outcome,
    ).toBe("unknown");
    expect(classifyError(Object.assign(httpError(503), { retryable: true })).outcome).toBe("not_applied");
    expect(classifyError(Object.assign(new Error("busy"), { retryable: true })).outcome).toBe("not_applied");

    const ledger = new Ledger({ store: new MemoryLedgerStore(), retry });
    let applied = 0;
    const spec: OperationSpec<{ cents: number }, string> = {
      tool: "charge",
      key: "reset",
      args: { cents: 500 },
      // What an AWS SDK v2 call looks like when the connection drops after the request went out.
      submit: () => {
        applied++;
        if (applied === 1)
          throw Object.assign(networkError("ECONNRESET", "socket hang up"), { retryable: true });
        return `ch_${applied}`;
      },
    };
    expect(await rejection(ledger.execute(spec))).toBeInstanceOf(OperationInDoubtError);
    expect(applied).toBe(1);
  });
});

describe("the retry deadline", () => {
  for (const [label, offsetMs] of [
    ["an hour behind", -3_600_000],
    ["an hour ahead", 3_600_000],
  ] as const) {
    it(`is measured on the ledger's clock (${label} of Date.now)`, async () => {
      const ledger = new Ledger({
        store: new MemoryLedgerStore(),
        now: () => Date.now() + offsetMs,
        retry: { ...retry, maxAttempts: 1000, deadlineMs: 200 },
      });
      let attempts = 0;
      const spec: OperationSpec<{ cents: number }, string> = {
        tool: "charge",
        key: `deadline-${offsetMs}`,
        args: { cents: 500 },
        submit: () => {
          attempts++;
          throw httpError(503);
        },
      };
      expect(await rejection(ledger.execute(spec))).toBeInstanceOf(DeadlineExceededError);
      // Retried until 200 ms had passed on the ledger's clock: more than once, far fewer than 1000.
      expect(attempts).toBeGreaterThan(1);
      expect(attempts).toBeLessThan(1000);
    });
  }
});
