import type { OperationRecord } from "@durable-tools/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { olderText, record } from "./record-arbitraries.js";
import { parseCreationFields, parseRecordText, recordText } from "./record-text.js";

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
