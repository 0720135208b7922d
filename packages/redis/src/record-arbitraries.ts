import type { JsonValue, OperationRecord } from "@durable-tools/core";
import fc from "fast-check";
import { recordText } from "./record-text.js";

/*
 * fast-check arbitraries of stored records, shared by this package's tests (not exported from the
 * package entry point).
 */

/** Strings that try to look like the arguments member, or break JSON, or lines. */
const text = fc.oneof(
  fc.string(),
  fc.constantFrom(',"@args":', '","@args":{"x":1}}', '"args":', "a\nb", "}", "\\", '\\",'),
);
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** What JSON keeps of a value (-0 becomes 0). */
const viaJson = (value: JsonValue): JsonValue => JSON.parse(JSON.stringify(value)) as JsonValue;

export const record = fc
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
export function olderText(r: OperationRecord): string {
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
