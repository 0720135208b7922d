import { InvalidConfigurationError, Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { ToolInputParsingException, tool } from "@langchain/core/tools";
import { describe, expect, it } from "vitest";
import { z as z3 } from "zod/v3";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import { scopedModelKey } from "./model-key.js";
import { approve, withDurableOptions } from "./run-config.js";
import { callTool, thread } from "./test-support.js";

function emailTool() {
  const sent: { to: string }[] = [];
  const sendEmail = durableTool({
    name: "send_email",
    description: "Send an email.",
    sideEffect: "write",
    ledger: new Ledger({ store: new MemoryLedgerStore() }),
    schema: z.object({ to: z.string() }),
    submit: (args: { to: string }) => {
      sent.push(args);
      return { messageId: `m${sent.length}`, to: args.to };
    },
  });
  const call = async (threadId: string, to: string, tenant?: string) => {
    const config = tenant ? withDurableOptions(thread(threadId), { tenant }) : thread(threadId);
    return (await callTool(sendEmail, { to, idempotency_key: "welcome-email-1" }, config)).envelope;
  };
  return { sent, sendEmail, call };
}

describe("a model's idempotency_key", () => {
  it("is scoped by the thread: two threads choosing the same key neither replay nor conflict", async () => {
    const { sent, call } = emailTool();
    const a = await call("user-A", "alice@a.com");
    const b = await call("user-B", "bob@b.com");
    expect(a).toMatchObject({ ok: true, effect: "created", data: { messageId: "m1", to: "alice@a.com" } });
    expect(b).toMatchObject({ ok: true, effect: "created", data: { messageId: "m2", to: "bob@b.com" } });
    expect(a.key).toMatch(/^-\/send_email\/k:s:[0-9a-f]{16}\/welcome-email-1$/);
    expect(a.key).not.toBe(b.key);
    // Within its thread the key still names one operation.
    expect(await call("user-A", "alice@a.com")).toMatchObject({
      effect: "noop",
      replayed: true,
      data: { messageId: "m1" },
    });
    expect(await call("user-A", "carol@c.com")).toMatchObject({
      ok: false,
      error: { code: "IDEMPOTENCY_CONFLICT" },
    });
    expect(sent).toHaveLength(2);
  });

  it("stays global when the caller passes it (a direct invoke, no tool call); the tenant scopes it", async () => {
    const { sent, sendEmail } = emailTool();
    const args = { to: "alice@a.com", idempotency_key: "order-7" };
    const a = JSON.parse(await sendEmail.invoke(args, { configurable: { thread_id: "A" } }));
    const b = JSON.parse(await sendEmail.invoke(args, { configurable: { thread_id: "B" } }));
    expect(a).toMatchObject({ key: "-/send_email/k:order-7", effect: "created" });
    expect(b).toMatchObject({ key: "-/send_email/k:order-7", effect: "noop", replayed: true });
    expect(sent).toHaveLength(1);
    expect(a.key).not.toBe(
      JSON.parse(await sendEmail.invoke(args, withDurableOptions({}, { tenant: "acme" }))).key,
    );
  });

  it("hashes a key that would exceed the length limit once scoped, and still validates it", () => {
    const long = "k".repeat(250);
    expect(scopedModelKey(long, "t")).toMatch(/^s:[0-9a-f]{16}\/#[0-9a-f]{64}$/);
    expect(scopedModelKey("x", undefined)).toBe("x");
    expect(() => scopedModelKey("caf\u00e9", "t")).toThrow(expect.objectContaining({ code: "INVALID_KEY" }));
  });
});

describe("modelKey: false", () => {
  it("leaves an idempotency_key in the arguments: an ordinary argument, never the operation's key", async () => {
    const seen: unknown[] = [];
    const pay = durableTool({
      name: "pay",
      description: "Pay.",
      sideEffect: "write",
      ledger: new Ledger({ store: new MemoryLedgerStore() }),
      modelKey: false,
      schema: { type: "object", properties: { cents: { type: "number" } }, required: ["cents"] },
      submit: (args: object) => seen.push(args),
    });
    expect(Object.keys(pay.schema.properties)).toEqual(["cents"]);
    const envelopes = [];
    for (const k of ["a", "b", "a"])
      envelopes.push((await callTool(pay, { cents: 5, idempotency_key: k }, thread("t"))).envelope);
    expect(envelopes.map((e) => [e.effect, e.replayed])).toEqual([
      ["created", false],
      ["created", false],
      ["noop", true],
    ]);
    for (const e of envelopes) expect(e.key).toMatch(/^-\/pay\/h:[0-9a-f]{64}$/);
    expect(envelopes[2].key).toBe(envelopes[0].key);
    expect(seen).toEqual([
      { cents: 5, idempotency_key: "a" },
      { cents: 5, idempotency_key: "b" },
    ]);
    // tool.approve() keeps it too: it is part of the arguments an approval is bound to.
    expect((await pay.approve({ cents: 5, idempotency_key: "a" }, "alice")).fingerprint).toBe(
      approve("pay", { cents: 5, idempotency_key: "a" }, "alice").fingerprint,
    );
  });

  it("lets a wrapped tool whose own schema has an idempotency_key receive it", async () => {
    const seen: unknown[] = [];
    const stripe = tool(async (a) => seen.push(a), {
      name: "stripe_charge",
      description: "Charge through Stripe.",
      schema: z.object({ cents: z.number(), idempotency_key: z.string() }),
    });
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const charge = durableTool(stripe, { sideEffect: "write", ledger, modelKey: false });
    const args = { cents: 5, idempotency_key: "order-9" };
    expect((await callTool(charge, args, thread("t"))).envelope).toMatchObject({
      ok: true,
      effect: "created",
      data: 1,
    });
    expect((await callTool(charge, args, thread("t"))).envelope).toMatchObject({
      ok: true,
      replayed: true,
      data: 1,
    });
    await expect(callTool(charge, { cents: 5 }, thread("t"))).rejects.toBeInstanceOf(
      ToolInputParsingException,
    );
    expect(seen).toEqual([{ cents: 5, idempotency_key: "order-9" }]);
  });

  it("is required (InvalidConfigurationError at construction) for a schema with its own idempotency_key", () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const refusal = (build: () => unknown) => {
      try {
        build();
      } catch (error) {
        return [(error as Error).constructor, (error as Error).message];
      }
      return undefined;
    };
    const message = (name: string) =>
      `durableTool "${name}": its schema already has an "idempotency_key" argument, which the model key option (modelKey, on by default) would take as the model's key and strip before the tool sees it. Pass { modelKey: false } to keep it as the tool's own argument, or rename the field.`;
    const schemas = {
      v4: z.object({ cents: z.number(), idempotency_key: z.string() }),
      v3: z3.object({ cents: z3.number(), idempotency_key: z3.string().optional() }),
      json: {
        type: "object",
        properties: { cents: { type: "number" }, idempotency_key: { type: "string" } },
      },
    };
    for (const [name, schema] of Object.entries(schemas)) {
      const definition = {
        name,
        description: "d",
        schema,
        sideEffect: "write" as const,
        ledger,
        submit: () => 1,
      };
      expect(refusal(() => durableTool(definition))).toEqual([InvalidConfigurationError, message(name)]);
      expect(refusal(() => durableTool({ ...definition, modelKey: true }))).toEqual([
        InvalidConfigurationError,
        message(name),
      ]);
      expect(durableTool({ ...definition, modelKey: false }).schema).toBe(schema);
    }
    const stripe = tool(async () => "ok", { name: "stripe_charge", description: "d", schema: schemas.v4 });
    expect(refusal(() => durableTool(stripe, { sideEffect: "destructive", ledger }))).toEqual([
      InvalidConfigurationError,
      message("stripe_charge"),
    ]);
    // A read tool never adds the argument: nothing to refuse.
    expect(durableTool(stripe, { sideEffect: "read" })).toBe(stripe);
  });
});
