import { describe, expect, it } from "vitest";
import { isControlFlowSignal } from "./error-classification.js";
import type { LedgerEventInput } from "./events.js";
import { Ledger } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";

/** Shaped like LangGraph 1.7's GraphInterrupt (a GraphBubbleUp): core must not import LangGraph. */
class GraphInterrupt extends Error {
  override name = "GraphInterrupt";
  get is_bubble_up() {
    return true;
  }
}

describe("control-flow signals (LangGraph interrupt / Command) from a hook", () => {
  it("are recognised by LangGraph's mark or name only, not through causes", () => {
    expect(isControlFlowSignal(new GraphInterrupt("x"))).toBe(true);
    expect(isControlFlowSignal(Object.assign(new Error("y"), { name: "ParentCommand" }))).toBe(true);
    expect(isControlFlowSignal(Object.assign(new Error("z"), { name: "NodeInterrupt" }))).toBe(true);
    expect(isControlFlowSignal(new Error("w", { cause: new GraphInterrupt("x") }))).toBe(false);
    expect(isControlFlowSignal(new Error("plain"))).toBe(false);
    expect(isControlFlowSignal(undefined)).toBe(false);
  });

  it("free the key and are rethrown unchanged from submit; the next call submits again", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const signal = new GraphInterrupt("paused");
    let submits = 0;
    const spec = {
      tool: "delete_customer",
      key: "del-42",
      args: { id: "42" },
      submit: () => {
        submits++;
        if (submits === 1) throw signal;
        return "deleted";
      },
    };
    await expect(ledger.execute(spec)).rejects.toBe(signal);
    const key = ledger.keyFor(spec).key;
    expect(await ledger.get(key)).toBeUndefined();
    const events = (await ledger.readEvents()).map((e) => e.type);
    expect(events).not.toContain("failed");
    expect(events.at(-1)).toBe("released");

    const resumed = await ledger.execute(spec);
    expect(resumed).toMatchObject({ result: "deleted", replayed: false });
    expect(submits).toBe(2);
    expect((await ledger.get(key))?.state).toBe("CONFIRMED");
  });

  for (const hook of ["validate", "authorize"] as const) {
    it(`free the key when thrown from ${hook} (no failure reported); the resumed call runs ${hook} again and submits once`, async () => {
      const ledger = new Ledger({ store: new MemoryLedgerStore() });
      const events: LedgerEventInput[] = [];
      ledger.on((event) => events.push(event));
      const signal = new GraphInterrupt("approve?");
      let hookCalls = 0;
      let submits = 0;
      const spec = {
        tool: "refund",
        key: "r-1",
        args: { cents: 5 },
        [hook]: () => {
          if (++hookCalls === 1) throw signal;
        },
        submit: () => ++submits,
      };
      await expect(ledger.execute(spec)).rejects.toBe(signal);
      expect(await ledger.get(ledger.keyFor(spec).key)).toBeUndefined();
      expect(events.map((e) => [e.type, e.from ?? null, e.data?.why ?? null])).toEqual([
        ["claimed", null, null],
        ["released", "PENDING", "control_flow"],
      ]);
      await expect(ledger.execute(spec)).resolves.toMatchObject({ result: 1, replayed: false });
      expect({ hookCalls, submits }).toEqual({ hookCalls: 2, submits: 1 });
    });
  }

  it("from confirm, after a submit that succeeded: the record stays in doubt (never FAILED), the signal goes on", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const signal = new GraphInterrupt("check the receipt?");
    let submits = 0;
    const spec = {
      tool: "charge",
      key: "c-1",
      args: { cents: 5 },
      submit: () => ++submits,
      confirm: (data: number) => {
        throw Object.assign(signal, { data });
      },
    };
    await expect(ledger.execute(spec)).rejects.toBe(signal);
    const record = await ledger.get(ledger.keyFor(spec).key);
    expect(record?.state).toBe("SUBMITTED");
    expect(record?.leaseExpiresAt).toBeLessThanOrEqual(Date.now());
    expect((await ledger.listInDoubt()).map((r) => r.key)).toEqual([record?.key]);
    expect(submits).toBe(1);
    // The resumed call takes it over; without a reconcile hook it is in doubt, never submitted again.
    await expect(ledger.execute(spec)).rejects.toMatchObject({ code: "OPERATION_IN_DOUBT" });
    expect(submits).toBe(1);
  });

  it("from reconcile (asking a person): the record stays in doubt and the resumed call asks again", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const signal = new GraphInterrupt("did the charge go through?");
    let submits = 0;
    let asks = 0;
    const spec = {
      tool: "charge",
      key: "c-2",
      args: { cents: 5 },
      submit: () => {
        submits++;
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      },
      reconcile: () => {
        if (++asks === 1) throw signal;
        return { status: "applied" as const, result: "ch_1" };
      },
    };
    await expect(ledger.execute(spec)).rejects.toBe(signal);
    expect((await ledger.get(ledger.keyFor(spec).key))?.state).toBe("SUBMITTED");
    const resumed = await ledger.execute(spec);
    expect(resumed).toMatchObject({ result: "ch_1", replayed: false });
    expect({ submits, asks }).toEqual({ submits: 1, asks: 2 });
  });
});
