import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import type { ToolMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import { ApprovalAlreadyUsedError } from "./errors.js";
import { type Approval, approve, withDurableOptions } from "./run-config.js";

const schema = z.object({ customer: z.string(), cents: z.number() });
const args = { customer: "acme", cents: 5000 };

function refundTool(store = new MemoryLedgerStore(), onError?: "throw") {
  const counter = { refunds: 0 };
  const ledger = new Ledger({ store });
  const refund = durableTool({
    name: "refund",
    description: "Refund a customer.",
    schema,
    sideEffect: "destructive",
    ledger,
    ...(onError ? { onError } : {}),
    submit: () => ({ refund: ++counter.refunds }),
  });
  const invoke = async (callArgs: object, threadId: string, approvals: Approval[]) => {
    const config = withDurableOptions({ configurable: { thread_id: threadId } }, { approvals });
    const message = (await refund.invoke(
      { type: "tool_call", id: "x", name: "refund", args: callArgs },
      config,
    )) as ToolMessage;
    return JSON.parse(message.content as string);
  };
  return { counter, invoke, refund };
}

describe("an approval authorises exactly one operation", () => {
  it("is refused for other idempotency keys and other threads, and still replays its own operation", async () => {
    const { counter, invoke } = refundTool();
    const approvals = [approve("refund", args, "alice")];
    const first = await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(first).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });

    for (const [key, threadId] of [
      ["r-2", "t1"],
      ["r-3", "t1"],
      [undefined, "t2"],
    ] as const) {
      const other = await invoke(key ? { ...args, idempotency_key: key } : args, threadId, approvals);
      expect(other).toMatchObject({ ok: false, error: { code: "APPROVAL_ALREADY_USED", retryable: false } });
      expect(other.error.message).toContain(`already used by another operation (${first.key})`);
    }
    const replay = await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(replay).toMatchObject({ ok: true, effect: "noop", replayed: true, data: { refund: 1 } });
    expect(counter.refunds).toBe(1);

    // A second approval authorises a second operation.
    const second = await invoke({ ...args, idempotency_key: "r-2" }, "t1", [
      ...approvals,
      approve("refund", args, "bob"),
    ]);
    expect(second).toMatchObject({ ok: true, effect: "created", data: { refund: 2 } });
    expect(counter.refunds).toBe(2);
  });

  it("holds across processes sharing the store, and throws a typed error with onError throw", async () => {
    const store = new MemoryLedgerStore();
    const approvals = [approve("refund", args, "alice")];
    const a = refundTool(store);
    const b = refundTool(store, "throw");
    expect(await a.invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals)).toMatchObject({ ok: true });
    const config = withDurableOptions({ configurable: { thread_id: "t1" } }, { approvals });
    const call = {
      type: "tool_call" as const,
      id: "y",
      name: "refund",
      args: { ...args, idempotency_key: "r-9" },
    };
    await expect(b.refund.invoke(call, config)).rejects.toBeInstanceOf(ApprovalAlreadyUsedError);
    expect(a.counter.refunds + b.counter.refunds).toBe(1);
  });

  it("binds hand-built approvals (no id) by their content", async () => {
    const { counter, invoke } = refundTool();
    const { id: _id, ...handBuilt } = approve("refund", args, "alice");
    const approvals = [handBuilt as Approval];
    expect(await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals)).toMatchObject({ ok: true });
    const other = await invoke({ ...args, idempotency_key: "r-2" }, "t1", [{ ...handBuilt }]);
    expect(other.error.code).toBe("APPROVAL_ALREADY_USED");
    expect(counter.refunds).toBe(1);
  });
});
