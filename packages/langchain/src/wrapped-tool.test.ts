import { InvalidConfigurationError, Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { type StructuredToolInterface, type ToolRuntime, tool } from "@langchain/core/tools";
import { Annotation, Command, MemorySaver, MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import { UnsupportedToolOutputError } from "./errors.js";
import { callTool, thread } from "./test-support.js";

describe("wrapping a tool whose schema transforms its input", () => {
  it("runs the transform once: the inner tool parses the raw input, the ledger fingerprints the parsed one", async () => {
    const charged: number[] = [];
    const charge = tool(
      async ({ cents }: { customer: string; cents: number }) => {
        charged.push(cents);
        return `charged ${cents}`;
      },
      {
        name: "charge",
        description: "Charge an amount given in dollars.",
        schema: z.object({ customer: z.string(), cents: z.number().transform((d) => Math.round(d * 100)) }),
      },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const durable = durableTool(charge, { sideEffect: "write", ledger });

    const first = await callTool(
      durable,
      { customer: "acme", cents: 5, idempotency_key: "pay-1" },
      thread("t1"),
    );
    expect(first.envelope).toMatchObject({ ok: true, effect: "created", data: "charged 500" });
    expect(charged).toEqual([500]);
    expect(first.record?.args).toEqual({ customer: "acme", cents: 500 });

    // Called directly with arguments (no tool call) the same holds.
    expect(await durable.invoke({ customer: "beta", cents: 7 })).toMatch(/"data":"charged 700"/);
    expect(charged).toEqual([500, 700]);
  });

  it("accepts a type-changing transform (string to Date) and stores no failure", async () => {
    let runs = 0;
    const schedule = tool(
      async ({ at }: { at: Date }) => {
        runs++;
        return `scheduled ${at.toISOString()}`;
      },
      {
        name: "schedule",
        description: "d",
        schema: z.object({ at: z.string().transform((s) => new Date(s)) }),
      },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const durable = durableTool(schedule, { sideEffect: "write", ledger });
    const { envelope, record } = await callTool(durable, { at: "2026-01-01T00:00:00Z" }, thread("t1"));
    expect(envelope).toMatchObject({ ok: true, data: "scheduled 2026-01-01T00:00:00.000Z" });
    expect(record?.state).toBe("CONFIRMED");
    expect(runs).toBe(1);
  });
});

describe("wrapping keeps what the inner tool declares about itself", () => {
  it("copies returnDirect, extras, metadata and verboseParsingErrors", () => {
    const inner = tool(async () => "ok", {
      name: "notify",
      description: "d",
      schema: z.object({ to: z.string() }),
      returnDirect: true,
      extras: { providerToolDefinition: { cache_control: "ephemeral" } },
      metadata: { team: "billing" },
      verboseParsingErrors: true,
    });
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const durable = durableTool(inner, { sideEffect: "write", ledger });
    expect(durable.returnDirect).toBe(true);
    expect(durable.extras).toEqual({ providerToolDefinition: { cache_control: "ephemeral" } });
    expect(durable.metadata).toEqual({ team: "billing" });
    expect(durable.verboseParsingErrors).toBe(true);
  });
});

describe("a wrapped tool aborted while its function runs", () => {
  it("stays in doubt (never FAILED) and is never run again, although tool() rejected at once", async () => {
    let charges = 0;
    const charge = tool(
      async ({ cents }: { cents: number }) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        charges++;
        return `charged ${cents}`;
      },
      { name: "charge", description: "d", schema: z.object({ cents: z.number() }) },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const durable = durableTool(charge, { sideEffect: "write", ledger });
    const controller = new AbortController();
    setTimeout(() => controller.abort("user cancelled"), 10);
    const first = await callTool(durable, { cents: 5 }, { ...thread("t"), signal: controller.signal });
    expect(first.envelope).toEqual({
      ok: false,
      key: expect.stringMatching(/^-\/charge\/h:/),
      error: { code: "OPERATION_IN_DOUBT", message: expect.any(String), retryable: false },
    });
    expect(first.record?.state).toBe("SUBMITTED");
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(charges).toBe(1); // the function went on after the abort
    expect((await ledger.get(first.envelope.key))?.state).toBe("SUBMITTED");

    const retried = await callTool(durable, { cents: 5 }, thread("t"));
    expect(retried.envelope).toMatchObject({ ok: false, error: { code: "OPERATION_IN_DOUBT" } });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(charges).toBe(1);
    expect((await ledger.get(first.envelope.key))?.state).toBe("SUBMITTED");
  });
});

describe("a wrapped tool inside a LangGraph ToolNode", () => {
  const State = Annotation.Root({ ...MessagesAnnotation.spec, status: Annotation<string> });
  type Runtime = ToolRuntime<{ messages: unknown[] }>;

  function graphOf(t: StructuredToolInterface) {
    return new StateGraph(State)
      .addNode("tools", new ToolNode([t]))
      .addEdge("__start__", "tools")
      .compile({ checkpointer: new MemorySaver() });
  }
  const callOf = (id: string) =>
    new AIMessage({ content: "", tool_calls: [{ id, name: "close_ticket", args: { id: "T-1" } }] });

  it("gets the graph state and tool call id the ToolNode passes, as it would unwrapped", async () => {
    const seen: { toolCallId?: string; messages?: number }[] = [];
    const closeTicket = tool(
      async ({ id }: { id: string }, runtime: Runtime) => {
        seen.push({ toolCallId: runtime.toolCallId, messages: runtime.state.messages.length });
        return `closed ${id}`;
      },
      { name: "close_ticket", description: "d", schema: z.object({ id: z.string() }) },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const graph = graphOf(durableTool(closeTicket, { sideEffect: "write", ledger }));
    const state = await graph.invoke({ messages: [callOf("c1")] }, thread("t1"));
    expect(JSON.parse(state.messages.at(-1)?.content as string)).toMatchObject({
      ok: true,
      effect: "created",
      data: "closed T-1",
    });
    expect(seen).toEqual([{ toolCallId: "c1", messages: 1 }]);
  });

  it("refuses a returned Command with a typed error, on every call, and its side effect runs once", async () => {
    let closed = 0;
    const closeTicket = tool(
      async ({ id }: { id: string }, runtime: Runtime) => {
        closed++;
        return new Command({
          update: {
            status: `closed ${id}`,
            messages: [new ToolMessage({ content: "closed", tool_call_id: runtime.toolCallId })],
          },
        });
      },
      { name: "close_ticket", description: "d", schema: z.object({ id: z.string() }) },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const graph = graphOf(durableTool(closeTicket, { sideEffect: "write", ledger }));
    for (const id of ["c1", "c2"]) {
      const state = await graph.invoke({ messages: [callOf(id)] }, thread("t1"));
      const envelope = JSON.parse(state.messages.at(-1)?.content as string);
      expect(envelope).toEqual({
        ok: false,
        key: expect.stringMatching(/^-\/close_ticket\/h:/),
        error: {
          code: "UNSUPPORTED_TOOL_OUTPUT",
          message: expect.stringContaining("returned a Command, which a durable tool cannot return"),
          retryable: false,
        },
      });
      expect(envelope.error.message).toContain("The side effect ran once and is recorded");
      expect(state.status).toBeUndefined();
      expect(closed).toBe(1);
      expect((await ledger.get(envelope.key))?.state).toBe("CONFIRMED");
    }
    // With onError throw the same refusal is thrown, typed.
    const throwing = durableTool(closeTicket, { sideEffect: "write", ledger, onError: "throw" });
    await expect(throwing.invoke({ id: "T-1" }, thread("t2"))).rejects.toBeInstanceOf(
      UnsupportedToolOutputError,
    );
    expect(closed).toBe(2); // another thread: another operation
  });
});

describe("wrapping a tool whose output carries an artifact", () => {
  it("is refused when wrapped (the durable tool's artifact is its record), and nothing runs", () => {
    let runs = 0;
    const create = tool(
      async () => {
        runs++;
        return ["created a", { id: "res_1" }];
      },
      {
        name: "create_resource",
        description: "d",
        schema: z.object({ name: z.string() }),
        responseFormat: "content_and_artifact",
      },
    );
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    for (const sideEffect of ["write", "destructive"] as const) {
      expect(() => durableTool(create, { sideEffect, ledger })).toThrow(InvalidConfigurationError);
      expect(() => durableTool(create, { sideEffect, ledger })).toThrow(
        'durableTool "create_resource": the tool has responseFormat "content_and_artifact"',
      );
    }
    // A read tool is returned as it is: nothing of its output is lost.
    expect(durableTool(create, { sideEffect: "read" })).toBe(create);
    expect(runs).toBe(0);
  });
});
