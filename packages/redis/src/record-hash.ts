import type { Effect, JsonValue, OperationRecord, OperationState, StoredError } from "@durable-tools/core";

/*
 * How an OperationRecord is laid out in the Redis hash (see scripts.ts): guard scalars as fields, the
 * rest in two opaque JSON strings, `meta` (fixed at creation) and `out` (set when the record settles).
 */

interface Meta {
  key: string;
  tool: string;
  tenant?: string;
  args?: JsonValue;
  corr?: string;
  created: number;
}

interface Out {
  result?: JsonValue;
  error?: StoredError;
  effect?: Effect;
  reason?: string;
}

export function metaJson(record: {
  key: string;
  tool: string;
  tenant?: string | undefined;
  args?: JsonValue | undefined;
  correlationId?: string | undefined;
  createdAt: number;
}): string {
  const meta: Meta = { key: record.key, tool: record.tool, created: record.createdAt };
  if (record.tenant !== undefined) meta.tenant = record.tenant;
  if (record.args !== undefined) meta.args = record.args;
  if (record.correlationId !== undefined) meta.corr = record.correlationId;
  return JSON.stringify(meta);
}

/** The `out` field for a patch, or "" when the patch settles nothing. */
export function outJson(patch: Out): string {
  if (
    patch.result === undefined &&
    patch.error === undefined &&
    patch.effect === undefined &&
    patch.reason === undefined
  ) {
    return "";
  }
  return JSON.stringify(patch);
}

const optionalNumber = (value: string | null | undefined): number | null =>
  value === null || value === undefined || value === "" ? null : Number(value);

/** A record from the RECORD_FIELDS values (st, fp, ow, tk, ls, ex, up, at, meta, out) starting at `offset`. */
export function parseRecordFields(
  values: readonly (string | null)[],
  offset = 0,
): OperationRecord | undefined {
  const [state, fp, owner, token, lease, expires, updated, attempt, meta, out] = values.slice(
    offset,
    offset + 10,
  );
  if (state === null || state === undefined || meta === null || meta === undefined) return undefined;
  const m = JSON.parse(meta) as Meta;
  const record: OperationRecord = {
    key: m.key,
    tool: m.tool,
    fingerprint: fp ?? "",
    state: state as OperationState,
    attempt: Number(attempt ?? 0),
    owner: owner === null || owner === undefined || owner === "" ? null : owner,
    fencingToken: Number(token ?? 0),
    leaseExpiresAt: optionalNumber(lease),
    createdAt: m.created,
    updatedAt: Number(updated ?? 0),
    expiresAt: optionalNumber(expires),
  };
  if (m.tenant !== undefined) record.tenant = m.tenant;
  if (m.args !== undefined) record.args = m.args;
  if (m.corr !== undefined) record.correlationId = m.corr;
  if (out !== null && out !== undefined && out !== "") {
    const o = JSON.parse(out) as Out;
    if (o.result !== undefined) record.result = o.result;
    if (o.error !== undefined) record.error = o.error;
    if (o.effect !== undefined) record.effect = o.effect;
    if (o.reason !== undefined) record.reason = o.reason;
  }
  return record;
}
