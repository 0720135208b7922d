import {
  downstreamIdempotencyKey,
  encodeValue,
  type JsonValue,
  Ledger,
  MemoryLedgerStore,
  type OperationContext,
  type OperationState,
  withEffect,
} from "@durable-tools/core";
import { describe, expect, it } from "vitest";
import { DURABLE_STEP_TOOL, durableStepKey } from "./journal-keys.js";
import { recoverThreads } from "./recovery.js";

const T0 = 1_800_000_000_000;
const LEASE = 30_000;

/** A ledger on a clock the test moves, and a way to leave operations behind as a dead worker would. */
function world() {
  let clock = T0;
  const store = new MemoryLedgerStore();
  const ledger = new Ledger({ store, now: () => clock, leaseMs: LEASE });
  const abandon = async (
    tool: string,
    key: string,
    args: unknown,
    state: OperationState,
    scope?: string,
  ): Promise<string> => {
    const fullKey = ledger.keyFor({ tool, key, args }).key;
    const submitted = state === "SUBMITTED";
    await store.claim({
      key: fullKey,
      tool,
      fingerprint: ledger.fingerprintOf(args),
      owner: "dead-worker/1",
      now: clock,
      leaseMs: LEASE,
      initialPath: submitted ? ["VALIDATED", "SUBMITTED"] : [],
      initialAttempt: submitted ? 1 : 0,
      args: encodeValue(args) as JsonValue,
      correlationId: `call-${key}`,
      ...(scope === undefined ? {} : { scope }),
      events: [],
      takeoverEvents: [],
    });
    return fullKey;
  };
  return { ledger, abandon, advance: (ms: number) => (clock += ms) };
}

describe("recoverThreads", () => {
  it("settles what it can through reconcile hooks, groups by thread, and resumes only settled threads", async () => {
    const { ledger, abandon, advance } = world();
    const invoice = { customer: "cus_1", amountCents: 500, issuedAt: new Date(T0) };
    const invoiceKey = await abandon("create_invoice", "inv-1", invoice, "SUBMITTED", "t1");
    const emailKey = await abandon("send_email", "mail-1", { to: "a@b.c" }, "PENDING", "t1");
    const chargeKey = await abandon("charge", "ch-1", { card: "4242" }, "SUBMITTED", "t2");
    const stepIdentity = { threadId: "t3", checkpointNs: "", task: "id:x", name: "ship", occurrence: 0 };
    const stepKey = await abandon(
      DURABLE_STEP_TOOL,
      durableStepKey(stepIdentity),
      stepIdentity,
      "SUBMITTED",
      "t3", // durableStep stores its thread as the scope
    );
    const loneKey = await abandon("audit", "a-1", {}, "PENDING");
    // A durableTool called outside any graph with its own `scope` option marks that scope (durable-tool.ts).
    const serviceKey = await abandon("create_invoice", "inv-9", invoice, "SUBMITTED", "tool-scope:billing");
    advance(LEASE + 1); // every owner above is gone...
    const busyKey = await abandon("charge", "ch-live", { card: "1111" }, "SUBMITTED", "t4"); // ...but this one

    const asked: { args: unknown; ctx: OperationContext }[] = [];
    const resumed: string[] = [];
    const report = await recoverThreads({
      ledger,
      tools: [
        {
          name: "create_invoice",
          reconcile: (args: typeof invoice, ctx: OperationContext) => {
            asked.push({ args, ctx });
            return { status: "applied", result: withEffect("created", { id: "inv_1" }) };
          },
        },
      ],
      reconcilers: { charge: () => ({ status: "unknown", detail: "the processor is down" }) },
      resume: async (threadId) => {
        resumed.push(threadId);
      },
    });

    // The hook was asked with the stored arguments (decoded: the Date is a Date) and the executor's context.
    expect(asked).toHaveLength(2);
    expect(asked[0]?.args).toEqual(invoice);
    expect(asked[0]?.ctx.idempotencyKey).toBe(downstreamIdempotencyKey(invoiceKey));
    expect(asked[0]?.ctx.correlationId).toBe("call-inv-1");

    const byThread = Object.fromEntries(
      report.threads.map((t) => [t.threadId, t.operations.map((op) => [op.tool, op.outcome])]),
    );
    expect(byThread).toEqual({
      t1: [
        ["create_invoice", "confirmed"],
        ["send_email", "released"],
      ],
      t2: [["charge", "in_doubt"]],
      t3: [[DURABLE_STEP_TOOL, "in_doubt"]],
    });
    expect(report.unscoped.map((op) => [op.key, op.outcome])).toEqual([
      [loneKey, "released"],
      [serviceKey, "confirmed"],
    ]);
    expect(resumed).toEqual(["t1"]);
    expect(report.threads.find((t) => t.threadId === "t1")?.resumed).toEqual({ ok: true });
    expect(report.threads.find((t) => t.threadId === "t2")?.operations[0]?.detail).toBe(
      "the processor is down",
    );
    expect(report.threads.find((t) => t.threadId === "t3")?.operations[0]?.detail).toMatch(
      /no reconcile hook/,
    );

    // What the ledger holds now.
    const confirmed = await ledger.get(invoiceKey);
    expect(confirmed?.state).toBe("CONFIRMED");
    expect(confirmed?.effect).toBe("created");
    expect(await ledger.get(emailKey)).toBeUndefined();
    expect((await ledger.get(chargeKey))?.state).toBe("SUBMITTED");
    expect((await ledger.get(stepKey))?.state).toBe("SUBMITTED");
    expect((await ledger.get(busyKey))?.owner).toBe("dead-worker/1"); // live lease: not listed, untouched
    // A replay of the confirmed invoice returns what reconcile found, without submitting.
    let submits = 0;
    const replay = await ledger.execute({
      tool: "create_invoice",
      key: "inv-1",
      args: invoice,
      submit: () => ++submits,
    });
    expect(replay.result).toEqual({ id: "inv_1" });
    expect(submits).toBe(0);
  });

  it("does not take a durableTool's own scope (a call outside any graph) for a thread", async () => {
    const { ledger, abandon, advance } = world();
    const key = await abandon("create_invoice", "inv-7", { n: 1 }, "SUBMITTED", "tool-scope:billing-service");
    advance(LEASE + 1);
    const resumed: string[] = [];
    const report = await recoverThreads({
      ledger,
      reconcilers: { create_invoice: () => ({ status: "not_applied" }) },
      resume: async (threadId) => {
        resumed.push(threadId);
      },
    });
    expect(report.threads).toEqual([]);
    expect(report.unscoped.map((op) => [op.key, op.outcome])).toEqual([[key, "released"]]);
    expect(resumed).toEqual([]);
    expect(await ledger.get(key)).toBeUndefined();
  });

  it("frees an operation reconcile finds not applied, so the next call submits it", async () => {
    const { ledger, abandon, advance } = world();
    const key = await abandon("charge", "ch-2", { card: "4242" }, "SUBMITTED", "t5");
    advance(LEASE + 1);
    const report = await recoverThreads({
      ledger,
      reconcilers: { charge: () => ({ status: "not_applied" }) },
    });
    expect(report.threads[0]?.operations[0]?.outcome).toBe("released");
    expect(await ledger.get(key)).toBeUndefined();
    let submits = 0;
    await ledger.execute({ tool: "charge", key: "ch-2", args: { card: "4242" }, submit: () => ++submits });
    expect(submits).toBe(1);
  });

  it("reports a thread whose resume failed, and treats a throwing hook as in doubt", async () => {
    const { ledger, abandon, advance } = world();
    await abandon("send_email", "m-2", {}, "PENDING", "t6");
    await abandon("charge", "ch-3", {}, "SUBMITTED", "t7");
    advance(LEASE + 1);
    const failure = new Error("graph blew up");
    const report = await recoverThreads({
      ledger,
      reconcilers: {
        charge: () => {
          throw new Error("timeout asking the processor");
        },
      },
      resume: async () => {
        throw failure;
      },
    });
    const t6 = report.threads.find((t) => t.threadId === "t6");
    const t7 = report.threads.find((t) => t.threadId === "t7");
    expect(t6?.resumed).toEqual({ ok: false, error: failure });
    expect(t7?.operations[0]).toMatchObject({
      outcome: "in_doubt",
      detail: "reconcile threw: timeout asking the processor",
    });
    expect(t7?.resumed).toBeUndefined();
  });
});
