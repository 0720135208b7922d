import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import type { ToolMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import { scopedModelKey } from "./model-key.js";
import { withDurableOptions } from "./run-config.js";

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
    const base = { configurable: { thread_id: threadId } };
    const config = tenant ? withDurableOptions(base, { tenant }) : base;
    const args = { to, idempotency_key: "welcome-email-1" };
    const message = (await sendEmail.invoke(
      { type: "tool_call", id: threadId, name: "send_email", args },
      config,
    )) as ToolMessage;
    return JSON.parse(message.content as string);
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
