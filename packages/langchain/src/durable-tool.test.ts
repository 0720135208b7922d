import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { AIMessage, type ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { toJsonSchema } from "@langchain/core/utils/json_schema";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { describe, expect, it } from "vitest";
import { z as z3 } from "zod/v3";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import type { EffectEnvelope } from "./envelope.js";
import { approve, dryRunConfig, withDurableOptions } from "./run-config.js";
import { callTool, thread } from "./test-support.js";

const schema = z.object({ customer: z.string(), amount: z.number().int().positive() });
type Args = z.infer<typeof schema>;

function billing() {
  const invoices: { id: string; key: string; args: Args }[] = [];
  return {
    invoices,
    create(args: Args, key: string) {
      const invoice = { id: `inv_${invoices.length + 1}`, key, args };
      invoices.push(invoice);
      return { id: invoice.id, ...args };
    },
  };
}

function createInvoiceTool(overrides: Record<string, unknown> = {}) {
  const ledger = new Ledger({ store: new MemoryLedgerStore(), retry: { maxAttempts: 2, baseDelayMs: 1 } });
  const downstream = billing();
  const createInvoice = durableTool<Args, { id: string }>({
    name: "create_invoice",
    description: "Create an invoice for a customer.",
    schema,
    sideEffect: "write",
    ledger,
    submit: (args, ctx) => downstream.create(args, ctx.idempotencyKey),
    ...overrides,
  });
  return { ledger, downstream, createInvoice };
}

describe("durableTool from a definition", () => {
  it("executes once per thread and answers the repeated call with effect noop", async () => {
    const { createInvoice, downstream } = createInvoiceTool();
    const first = await callTool(createInvoice, { customer: "acme", amount: 100 }, thread("t1"));
    expect(first.envelope).toEqual({
      ok: true,
      effect: "created",
      replayed: false,
      key: expect.stringMatching(/^-\/create_invoice\/h:[0-9a-f]{64}$/),
      data: { id: "inv_1", customer: "acme", amount: 100 },
    });
    expect(first.record).toMatchObject({ state: "CONFIRMED", tool: "create_invoice" });
    const again = await callTool(createInvoice, { amount: 100, customer: "acme" }, thread("t1"));
    expect(again.envelope).toMatchObject({ ok: true, effect: "noop", replayed: true, data: { id: "inv_1" } });
    expect(again.envelope.ok && again.envelope.reason).toMatch(/^replayed: already created/);
    await callTool(createInvoice, { customer: "acme", amount: 100 }, thread("t2"));
    expect(downstream.invoices).toHaveLength(2);
  });

  it("reports the recorded effect to the tool call that made it when that call runs again", async () => {
    const { createInvoice, downstream, ledger } = createInvoiceTool({ effect: "updated" });
    const call = {
      type: "tool_call" as const,
      id: "call_7",
      name: "create_invoice",
      args: { customer: "acme", amount: 4 },
    };
    const run = async (id: string) => {
      const message = (await createInvoice.invoke({ ...call, id }, thread("t1"))) as ToolMessage;
      return JSON.parse(message.content as string) as EffectEnvelope;
    };
    expect(await run("call_7")).toMatchObject({ ok: true, effect: "updated", replayed: false });
    // The same tool call again (after an interrupt, a node retry): its own change, replayed.
    const again = await run("call_7");
    expect(again).toMatchObject({ ok: true, effect: "updated", replayed: true, data: { id: "inv_1" } });
    // Another tool call with the same arguments changed nothing.
    expect(await run("call_8")).toMatchObject({ ok: true, effect: "noop", replayed: true });
    expect(downstream.invoices).toHaveLength(1);
    const key = again.ok ? again.key : "";
    expect(await ledger.get(key)).toMatchObject({
      state: "CONFIRMED",
      effect: "updated",
      correlationId: "call_7",
    });
  });

  it("runs 100 concurrent identical tool calls exactly once", async () => {
    const { createInvoice, downstream } = createInvoiceTool({
      submit: async (args: Args, ctx: { idempotencyKey: string }) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return downstream.create(args, ctx.idempotencyKey);
      },
    });
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        callTool(createInvoice, { customer: "acme", amount: 5 }, thread("t")),
      ),
    );
    expect(downstream.invoices).toHaveLength(1);
    expect(new Set(results.map((r) => JSON.stringify(r.envelope.ok && r.envelope.data))).size).toBe(1);
    expect(results.filter((r) => r.envelope.ok && r.envelope.replayed)).toHaveLength(99);
  });

  it("uses the model's idempotency_key, strips it from the arguments, and refuses reuse with other arguments", async () => {
    const seen: unknown[] = [];
    const { createInvoice, downstream } = createInvoiceTool({
      submit: (args: Args, ctx: { idempotencyKey: string }) => {
        seen.push(args);
        return downstream.create(args, ctx.idempotencyKey);
      },
    });
    const first = await callTool(createInvoice, {
      customer: "acme",
      amount: 1,
      idempotency_key: "inv-2026-001",
    });
    expect(first.envelope).toMatchObject({ ok: true, key: "-/create_invoice/k:inv-2026-001" });
    expect(seen).toEqual([{ customer: "acme", amount: 1 }]);
    const conflict = await callTool(createInvoice, {
      customer: "acme",
      amount: 2,
      idempotency_key: "inv-2026-001",
    });
    expect(conflict.envelope).toEqual({
      ok: false,
      key: "-/create_invoice/k:inv-2026-001",
      error: {
        code: "IDEMPOTENCY_CONFLICT",
        message: expect.stringContaining("already used with different arguments"),
        retryable: false,
      },
    });
    const bad = await callTool(createInvoice, { customer: "acme", amount: 2, idempotency_key: "caf\u00e9" });
    expect(bad.envelope).toMatchObject({ ok: false, error: { code: "INVALID_KEY", retryable: false } });
    expect(downstream.invoices).toHaveLength(1);
  });

  it("prefers a business key derived from the arguments", async () => {
    const { createInvoice } = createInvoiceTool({
      businessKey: (args: Args) => `INV-${args.customer}-${args.amount}`,
    });
    const result = await callTool(createInvoice, { customer: "acme", amount: 3 }, thread("t1"));
    expect(result.envelope).toMatchObject({ key: "-/create_invoice/b:INV-acme-3" });
    const otherThread = await callTool(createInvoice, { customer: "acme", amount: 3 }, thread("t2"));
    expect(otherThread.envelope).toMatchObject({ effect: "noop", replayed: true });
  });

  it("returns an in-doubt envelope the model can act on, with the record as artifact", async () => {
    const { createInvoice, downstream } = createInvoiceTool({
      submit: (args: Args, ctx: { idempotencyKey: string }) => {
        downstream.create(args, ctx.idempotencyKey);
        throw Object.assign(new Error("read ETIMEDOUT"), { code: "ETIMEDOUT" });
      },
    });
    const result = await callTool(createInvoice, { customer: "acme", amount: 9 }, thread("t"));
    expect(result.envelope).toMatchObject({
      ok: false,
      error: { code: "OPERATION_IN_DOUBT", retryable: false },
    });
    expect(result.record?.state).toBe("SUBMITTED");
    const retried = await callTool(createInvoice, { customer: "acme", amount: 9 }, thread("t"));
    expect(retried.envelope).toMatchObject({ ok: false, error: { code: "OPERATION_IN_DOUBT" } });
    expect(downstream.invoices).toHaveLength(1);
  });

  it("rethrows instead when onError is throw", async () => {
    const { createInvoice } = createInvoiceTool({
      onError: "throw",
      submit: () => {
        throw Object.assign(new Error("card declined"), { status: 402 });
      },
    });
    await expect(callTool(createInvoice, { customer: "a", amount: 1 })).rejects.toMatchObject({
      code: "OPERATION_FAILED",
      message: "card declined",
    });
  });

  it("adds idempotency_key to zod v4, zod v3 and JSON schemas", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const make = (s: unknown) =>
      durableTool({ name: "t", description: "d", schema: s, sideEffect: "write", ledger, submit: () => 1 });
    const v4 = make(z.object({ a: z.number() }));
    const v3 = make(z3.object({ a: z3.number() }));
    const json = make({ type: "object", properties: { a: { type: "number" } }, required: ["a"] });
    for (const t of [v4, v3, json]) {
      const jsonSchema = toJsonSchema(t.schema) as {
        properties?: Record<string, { type?: string; maxLength?: number }>;
      };
      expect(jsonSchema.properties?.idempotency_key).toMatchObject({ type: "string", maxLength: 255 });
      const { envelope } = await callTool(t, { a: 1, idempotency_key: "k1" });
      expect(envelope).toMatchObject({ ok: true, key: "-/t/k:k1" });
    }
    expect(() =>
      durableTool({
        name: "t",
        description: "d",
        schema: z.string(),
        sideEffect: "write",
        ledger,
        submit: () => 1,
      }),
    ).toThrow("needs an object schema");
    expect(() =>
      durableTool({ name: "t", description: "d", schema, sideEffect: "write", submit: () => 1 }),
    ).toThrow('durableTool "t" has sideEffect "write" and needs a ledger');
  });
});

describe("dry runs", () => {
  it("plans without executing or recording, per call and per tool", async () => {
    const planned: unknown[] = [];
    const { createInvoice, downstream, ledger } = createInvoiceTool({
      plan: (args: Args) => {
        planned.push(args);
        return {
          effect: "would_create",
          changes: [`create an invoice of ${args.amount} for ${args.customer}`],
        };
      },
    });
    const dry = await callTool(createInvoice, { customer: "acme", amount: 7 }, dryRunConfig(thread("t")));
    expect(dry.envelope).toEqual({
      ok: true,
      effect: "would_create",
      replayed: false,
      key: expect.stringMatching(/^-\/create_invoice\/h:/),
      data: { changes: ["create an invoice of 7 for acme"] },
      reason: "dry run: nothing was executed or recorded",
    });
    expect(dry.record).toBeUndefined();
    expect(downstream.invoices).toHaveLength(0);
    expect(await ledger.get(dry.envelope.ok ? dry.envelope.key : "")).toBeUndefined();
    // The real call afterwards executes (the dry run recorded nothing).
    const real = await callTool(createInvoice, { customer: "acme", amount: 7 }, thread("t"));
    expect(real.envelope).toMatchObject({ effect: "created", replayed: false });

    const perTool = createInvoiceTool({ dryRun: true, effect: "updated" });
    const planless = await callTool(perTool.createInvoice, { customer: "b", amount: 1 });
    expect(planless.envelope).toMatchObject({
      effect: "would_update",
      data: { changes: [{ tool: "create_invoice", args: { customer: "b", amount: 1 } }] },
    });
    expect(perTool.downstream.invoices).toHaveLength(0);
  });
});

describe("side-effect classes", () => {
  it("read tools pass straight through, every call", async () => {
    let reads = 0;
    const lookup = durableTool({
      name: "lookup",
      description: "Look up a customer.",
      schema: z.object({ id: z.string() }),
      sideEffect: "read",
      submit: (args: { id: string }) => ({ id: args.id, reads: ++reads }),
    });
    expect(await lookup.invoke({ id: "c1" })).toEqual({ id: "c1", reads: 1 });
    expect(await lookup.invoke({ id: "c1" })).toEqual({ id: "c1", reads: 2 });
    const plain = tool(() => "x", { name: "plain", schema: z.object({}) });
    expect(durableTool(plain, { sideEffect: "read" })).toBe(plain);
  });

  it("destructive tools refuse without an approval bound to the exact arguments", async () => {
    const { createInvoice, downstream } = createInvoiceTool({ sideEffect: "destructive" });
    const refused = await callTool(createInvoice, { customer: "acme", amount: 50 });
    expect(refused.envelope).toMatchObject({
      ok: false,
      error: { code: "APPROVAL_REQUIRED", retryable: false },
    });
    const wrongArgs = withDurableOptions(undefined, {
      approvals: [approve("create_invoice", { customer: "acme", amount: 51 }, "alice")],
    });
    expect((await callTool(createInvoice, { customer: "acme", amount: 50 }, wrongArgs)).envelope.ok).toBe(
      false,
    );
    const expired = withDurableOptions(undefined, {
      approvals: [approve("create_invoice", { customer: "acme", amount: 50 }, "alice", Date.now() - 1)],
    });
    expect((await callTool(createInvoice, { customer: "acme", amount: 50 }, expired)).envelope.ok).toBe(
      false,
    );
    expect(downstream.invoices).toHaveLength(0);
    const approved = withDurableOptions(undefined, {
      approvals: [approve("create_invoice", { amount: 50, customer: "acme" }, "alice")],
    });
    expect(
      (await callTool(createInvoice, { customer: "acme", amount: 50 }, approved)).envelope,
    ).toMatchObject({
      ok: true,
      effect: "created",
    });
    expect(downstream.invoices).toHaveLength(1);
  });
});

describe("wrapping an existing LangChain tool", () => {
  it("makes a plain tool idempotent and keeps its output as data", async () => {
    let sent = 0;
    const sendEmail = tool(
      async ({ to, subject }: { to: string; subject: string }) => {
        sent++;
        return `sent "${subject}" to ${to}`;
      },
      {
        name: "send_email",
        description: "Send an email.",
        schema: z.object({ to: z.string(), subject: z.string() }),
      },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const durable = durableTool(sendEmail, { sideEffect: "write", ledger });
    expect(durable.name).toBe("send_email");
    const args = { to: "a@example.com", subject: "Welcome" };
    const first = await callTool(durable, args, thread("t"));
    const second = await callTool(durable, args, thread("t"));
    expect(first.envelope).toMatchObject({
      ok: true,
      effect: "created",
      data: 'sent "Welcome" to a@example.com',
    });
    expect(second.envelope).toMatchObject({ ok: true, effect: "noop", replayed: true });
    expect(sent).toBe(1);
  });

  it("scopes keys by the LangGraph thread inside a ToolNode", async () => {
    const { createInvoice, downstream } = createInvoiceTool();
    const graph = new StateGraph(MessagesAnnotation)
      .addNode("tools", new ToolNode([createInvoice]))
      .addEdge("__start__", "tools")
      .compile();
    const toolCall = (id: string) =>
      new AIMessage({
        content: "",
        tool_calls: [{ id, name: "create_invoice", args: { customer: "acme", amount: 12 } }],
      });
    const run = async (threadId: string, id: string) => {
      const state = await graph.invoke({ messages: [toolCall(id)] }, thread(threadId));
      return JSON.parse(state.messages.at(-1)?.content as string) as EffectEnvelope;
    };
    expect(await run("thread-a", "1")).toMatchObject({ effect: "created" });
    expect(await run("thread-a", "2")).toMatchObject({ effect: "noop", replayed: true });
    expect(await run("thread-b", "3")).toMatchObject({ effect: "created" });
    expect(downstream.invoices).toHaveLength(2);
  });
});

describe("recovery hooks", () => {
  it("exposes its reconcile hook and stores the thread it ran in as the record's scope", async () => {
    const reconcile = () => ({ status: "not_applied" as const });
    const { createInvoice, ledger } = createInvoiceTool({ reconcile });
    expect(createInvoice.reconcile).toBe(reconcile);
    const { record } = await callTool(createInvoice, { customer: "acme", amount: 5 }, thread("thread-9"));
    expect(record?.scope).toBe("thread-9");
    expect((await ledger.get(record?.key as string))?.scope).toBe("thread-9");
  });

  it("outside a graph stores its own scope marked, never as a thread id", async () => {
    const { createInvoice, downstream, ledger } = createInvoiceTool({ scope: "billing-service" });
    const args = { customer: "acme", amount: 5 };
    const { record } = await callTool(createInvoice, args);
    expect(record?.scope).toBe("tool-scope:billing-service");
    expect((await ledger.get(record?.key as string))?.scope).toBe("tool-scope:billing-service");
    // The same call in the tool's scope is the same operation...
    const again = await callTool(createInvoice, args);
    expect(again.envelope).toMatchObject({ ok: true, effect: "noop", replayed: true });
    // ...and a thread that happens to have the scope's name is another one.
    const inThread = await callTool(createInvoice, args, thread("billing-service"));
    expect(inThread.envelope).toMatchObject({ ok: true, effect: "created" });
    expect(inThread.record?.scope).toBe("billing-service");
    expect(downstream.invoices).toHaveLength(2);
  });
});
