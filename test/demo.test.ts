import { describe, expect, it } from "vitest";
import { runDemo } from "../examples/invoice-agent/src/demo.js";

describe("pnpm demo: the invoice agent with a lost acknowledgement", () => {
  it("creates two invoices with the plain tool and one with durableTool", async () => {
    const { plain, durable } = await runDemo();
    expect(plain.invoicesCreated).toBe(2);
    expect(durable.invoicesCreated).toBe(1);
    const answers = durable.toolAnswers.map((answer) => JSON.parse(answer));
    expect(answers).toMatchObject([
      { ok: true, effect: "created", replayed: false, data: { id: "in_1001" } },
      { ok: true, effect: "noop", replayed: true, data: { id: "in_1001" } },
    ]);
    expect(durable.events.map((event) => event.type)).toEqual([
      "claimed",
      "transition",
      "transition",
      "in_doubt",
      "reconciled",
      "transition",
      "replayed",
    ]);
    expect(plain.toolAnswers[0]).toContain("ETIMEDOUT");
  });
});
