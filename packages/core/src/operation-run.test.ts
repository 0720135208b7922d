import { describe, expect, it } from "vitest";
import { isControlFlowSignal } from "./error-classification.js";
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

  it("free the key when thrown from validate", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const signal = new GraphInterrupt("approve?");
    let validations = 0;
    let submits = 0;
    const spec = {
      tool: "refund",
      key: "r-1",
      args: { cents: 5 },
      validate: () => {
        if (++validations === 1) throw signal;
      },
      submit: () => ++submits,
    };
    await expect(ledger.execute(spec)).rejects.toBe(signal);
    expect(await ledger.get(ledger.keyFor(spec).key)).toBeUndefined();
    await expect(ledger.execute(spec)).resolves.toMatchObject({ result: 1 });
    expect(submits).toBe(1);
  });
});
