import type { Effect, JsonValue, OperationRecord, OperationState, StoredError } from "@durable-tools/core";

/*
 * How an OperationRecord is laid out in a Redis hash. Scalars are plain fields the scripts read;
 * JSON values (args, result, error) are opaque strings the scripts never parse.
 */

/** Field/value pairs for a new record, beyond what the claim script sets itself. */
export function creationFields(record: {
  key: string;
  tool: string;
  tenant?: string | undefined;
  state: OperationState;
  attempt: number;
  args?: JsonValue | undefined;
  correlationId?: string | undefined;
}): string[] {
  const fields = [
    "key",
    record.key,
    "tool",
    record.tool,
    "state",
    record.state,
    "attempt",
    String(record.attempt),
  ];
  if (record.tenant !== undefined) fields.push("tenant", record.tenant);
  if (record.args !== undefined) fields.push("args", JSON.stringify(record.args));
  if (record.correlationId !== undefined) fields.push("corr", record.correlationId);
  return fields;
}

const optionalNumber = (value: string | undefined): number | null =>
  value === undefined || value === "" ? null : Number(value);

/** Parses HGETALL's flat [field, value, ...] list (from `offset`) into a record. */
export function parseRecordHash(flat: readonly string[], offset = 0): OperationRecord | undefined {
  const hash: Record<string, string> = {};
  for (let i = offset; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
  if (hash.state === undefined) return undefined;
  const record: OperationRecord = {
    key: hash.key ?? "",
    tool: hash.tool ?? "",
    fingerprint: hash.fp ?? "",
    state: hash.state as OperationState,
    attempt: Number(hash.attempt ?? 0),
    owner: hash.owner === undefined || hash.owner === "" ? null : hash.owner,
    fencingToken: Number(hash.token ?? 0),
    leaseExpiresAt: optionalNumber(hash.lease),
    createdAt: Number(hash.created ?? 0),
    updatedAt: Number(hash.updated ?? 0),
    expiresAt: optionalNumber(hash.expires),
  };
  if (hash.tenant !== undefined) record.tenant = hash.tenant;
  if (hash.args !== undefined) record.args = JSON.parse(hash.args) as JsonValue;
  if (hash.result !== undefined) record.result = JSON.parse(hash.result) as JsonValue;
  if (hash.error !== undefined) record.error = JSON.parse(hash.error) as StoredError;
  if (hash.effect !== undefined) record.effect = hash.effect as Effect;
  if (hash.reason !== undefined) record.reason = hash.reason;
  if (hash.corr !== undefined) record.correlationId = hash.corr;
  return record;
}

/** Field/value pairs for a transition's patch (undefined fields are left alone). */
export function patchFields(patch: {
  attempt?: number | undefined;
  result?: JsonValue | undefined;
  error?: StoredError | undefined;
  effect?: Effect | undefined;
  reason?: string | undefined;
  leaseExpiresAt?: number | null | undefined;
}): string[] {
  const fields: string[] = [];
  if (patch.attempt !== undefined) fields.push("attempt", String(patch.attempt));
  if (patch.result !== undefined) fields.push("result", JSON.stringify(patch.result));
  if (patch.error !== undefined) fields.push("error", JSON.stringify(patch.error));
  if (patch.effect !== undefined) fields.push("effect", patch.effect);
  if (patch.reason !== undefined) fields.push("reason", patch.reason);
  if (patch.leaseExpiresAt !== undefined)
    fields.push("lease", patch.leaseExpiresAt === null ? "" : String(patch.leaseExpiresAt));
  return fields;
}
