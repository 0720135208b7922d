import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { tool } from "@langchain/core/tools";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
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
