import type { JsonValue, OperationRecord } from "@durable-tools/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCreationFields, parseRecordText, recordText } from "./record-text.js";

/** Strings that try to look like the arguments member, or break JSON, or lines. */
const text = fc.oneof(
  fc.string(),
  fc.constantFrom(',"@args":', '","@args":{"x":1}}', '"args":', "a\nb", "}", "\\", '\\",'),
);
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** What JSON keeps of a value (-0 becomes 0). */
const viaJson = (value: JsonValue): JsonValue => JSON.parse(JSON.stringify(value)) as JsonValue;

const record = fc
  .record({
    tool: text,
    tenant: optional(text),
    correlationId: optional(text),
    scope: optional(text),
    args: optional(
      fc.oneof(
        fc.jsonValue(),
        fc.dictionary(fc.constantFrom("@args", "args", "x"), fc.jsonValue()) as fc.Arbitrary<JsonValue>,
      ),
    ),
  })
  .map((fields) => {
    const r: OperationRecord = {
      key: "k",
      tool: fields.tool,
      fingerprint: "sha256:ab",
      state: "CONFIRMED",
      attempt: 1,
      owner: "host:1/1",
      fencingToken: 3,
      leaseExpiresAt: null,
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_500,
      expiresAt: 1_700_600_000_000,
      result: { ok: true },
      effect: "created",
    };
    if (fields.tenant !== undefined) r.tenant = fields.tenant;
    if (fields.correlationId !== undefined) r.correlationId = fields.correlationId;
    if (fields.scope !== undefined) r.scope = fields.scope;
    if (fields.args !== undefined) r.args = viaJson(fields.args as JsonValue);
    return r;
  });

/** The text an earlier version wrote: the arguments among the other meta members. */
function olderText(r: OperationRecord): string {
  const lines = recordText(r, "").split("\n");
  lines[9] = JSON.stringify({
    tool: r.tool,
    tenant: r.tenant,
    args: r.args,
    corr: r.correlationId,
    scope: r.scope,
  });
  return lines.join("\n");
}

describe("record text", () => {
  it("reads back every record it writes, whatever the strings and arguments hold", () => {
    fc.assert(
      fc.property(record, (r) => {
        const { record: back } = parseRecordText(recordText(r, ""), "k");
        expect(back).toEqual(r);
        expect(back.args).toEqual(r.args);
      }),
    );
  });

  it("reads records written with the arguments among the other meta members, even arguments that hold the member's text", () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(parseRecordText(olderText(r), "k").record).toEqual(r);
      }),
    );
    const tricky: Pick<OperationRecord, "tool" | "args"> = { tool: "t", args: { "@args": 1, x: [","] } };
    expect(parseRecordText(olderText({ ...fcSample(), ...tricky }), "k").record.args).toEqual(tricky.args);
  });

  it("parses the arguments when first read, once, and lets them be replaced", () => {
    const r = { ...fcSample(), args: { items: [1, 2, 3] } };
    const { record: back } = parseRecordText(recordText(r, ""), "k");
    expect(typeof Object.getOwnPropertyDescriptor(back, "args")?.get).toBe("function");
    const first = back.args;
    expect(first).toEqual({ items: [1, 2, 3] });
    expect(back.args).toBe(first);
    expect({ ...back }.args).toBe(first);
    back.args = { replaced: true };
    expect(back.args).toEqual({ replaced: true });
    expect(JSON.parse(JSON.stringify(back)).args).toEqual({ replaced: true });
  });

  it("gives the creation fields (field r of a stream entry) the record's arguments", () => {
    fc.assert(
      fc.property(record, (r) => {
        const lines = recordText(r, "").split("\n");
        const context = parseCreationFields([lines[2], lines[8], lines[9]].join("\n"));
        expect(context.args).toEqual(r.args);
        expect(context.tool).toBe(r.tool);
      }),
    );
  });
});

function fcSample(): OperationRecord {
  return fc.sample(record, { numRuns: 1, seed: 7 })[0] as OperationRecord;
}
