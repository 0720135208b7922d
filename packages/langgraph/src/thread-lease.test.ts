import { isInvalidConfigurationError, Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { describe, expect, it } from "vitest";
import { isThreadBusyError, type ThreadBusyError } from "./errors.js";
import { gate } from "./test-support.js";
import { withThreadLease } from "./thread-lease.js";

describe("withThreadLease", () => {
  it("lets workers of one thread take turns, and workers of other threads run at once", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const log: string[] = [];
    const first = gate();
    const started = gate();
    const a = withThreadLease(
      "t1",
      async () => {
        log.push("a start");
        started.open();
        await first.opened;
        log.push("a end");
        return "a";
      },
      { ledger },
    );
    await started.opened;
    const b = withThreadLease(
      "t1",
      async () => {
        log.push("b start");
        return "b";
      },
      { ledger },
    );
    const other = await withThreadLease("t2", async () => "other thread, not blocked", { ledger });
    expect(other).toBe("other thread, not blocked");
    expect(log).toEqual(["a start"]);
    first.open();
    expect(await Promise.all([a, b])).toEqual(["a", "b"]);
    expect(log).toEqual(["a start", "a end", "b start"]);
  });

  it("gives up with ThreadBusyError when the holder keeps the lease longer than waitMs", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const held = gate();
    const started = gate();
    const holder = withThreadLease(
      "t1",
      async () => {
        started.open();
        await held.opened;
      },
      { ledger },
    );
    await started.opened;
    let ran = false;
    const error = await withThreadLease("t1", async () => (ran = true), { ledger, waitMs: 30 }).catch(
      (e: unknown) => e,
    );
    expect(isThreadBusyError(error)).toBe(true);
    expect((error as ThreadBusyError).threadId).toBe("t1");
    expect((error as ThreadBusyError).holder).toMatch(/:\d+:/);
    expect(ran).toBe(false);
    held.open();
    await holder;
  });

  it("takes over the lease of a worker that died holding it, once it expires", async () => {
    const store = new MemoryLedgerStore();
    const ledger = new Ledger({ store });
    // A worker dies inside fn: its lease (60 ms) is never renewed nor released.
    const dead = new Promise<never>(() => {});
    const started = gate();
    void withThreadLease(
      "t1",
      async () => {
        started.open();
        return dead;
      },
      { ledger, leaseMs: 60 },
    );
    await started.opened;
    // Simulate the death: stop its renewals by letting its lease lapse on a clock we jump forward.
    const later = new Ledger({ store, now: () => Date.now() + 60_000 });
    const result = await withThreadLease("t1", async () => "recovered", { ledger: later, waitMs: 5_000 });
    expect(result).toBe("recovered");
  });

  it("aborts fn's signal when another worker took the lease over", async () => {
    const store = new MemoryLedgerStore();
    let clock = Date.now();
    const ledger = new Ledger({ store, now: () => clock });
    const aborted = gate();
    let signalSeen: AbortSignal | undefined;
    const slow = withThreadLease(
      "t1",
      async (signal) => {
        signalSeen = signal;
        signal.addEventListener("abort", () => aborted.open());
        await aborted.opened;
        return "stopped";
      },
      { ledger, leaseMs: 60 },
    );
    // The holder stalls past its lease; another worker (same clock) takes the thread over.
    clock += 1_000;
    const takeover = gate();
    const other = withThreadLease(
      "t1",
      async () => {
        takeover.open();
        await aborted.opened;
        return "took over";
      },
      { ledger, leaseMs: 60_000 },
    );
    await takeover.opened;
    expect(await slow).toBe("stopped");
    expect(signalSeen?.aborted).toBe(true);
    expect(await other).toBe("took over");
  });

  it("refuses an empty thread id and bad options", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    for (const call of [
      () => withThreadLease("", async () => 1, { ledger }),
      () => withThreadLease("t", async () => 1, { ledger, waitMs: -1 }),
      () => withThreadLease("t", async () => 1, { ledger, leaseMs: 0 }),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(isInvalidConfigurationError(error)).toBe(true);
    }
  });
});
