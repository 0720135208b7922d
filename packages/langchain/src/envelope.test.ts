import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import { envelopeContent } from "./envelope.js";
import { callTool, thread } from "./test-support.js";

describe("the envelope of an effect that happened", () => {
  it("reports a cyclic result as a success, and the charge ran once", async () => {
    let charges = 0;
    const charge = durableTool({
      name: "charge",
      description: "d",
      sideEffect: "write",
      ledger: new Ledger({ store: new MemoryLedgerStore() }),
      schema: z.object({ cents: z.number() }),
      submit: () => {
        charges++;
        const response: Record<string, unknown> = { id: "ch_1", shared: { n: 1 } };
        response.request = { response, again: response.shared };
        return response;
      },
    });
    for (const effect of ["created", "noop"]) {
      const { envelope, record } = await callTool(charge, { cents: 5 }, thread("t"));
      expect(envelope).toMatchObject({
        ok: true,
        effect,
        data: { id: "ch_1", shared: { n: 1 }, request: { response: "[Circular]", again: { n: 1 } } },
      });
      expect(record?.state).toBe("CONFIRMED");
    }
    expect(charges).toBe(1);
  });

  it("drops data that cannot be serialised at all, keeping ok, effect and key", () => {
    const data = {
      toJSON: () => {
        throw new Error("boom");
      },
    };
    const content = envelopeContent({ ok: true, effect: "created", replayed: false, key: "k", data });
    expect(JSON.parse(content)).toEqual({
      ok: true,
      effect: "created",
      replayed: false,
      key: "k",
      data: null,
      reason: "the result could not be serialised for the model (boom); it is on the operation record",
    });
  });
});
