import {
  type Effect,
  InvalidConfigurationError,
  type JsonValue,
  LedgerUnavailableError,
  type OperationRecord,
  type OperationState,
  type StoredError,
} from "@durable-tools/core";

/*
 * An operation's record is one Redis string of twelve lines, so that a claim can be a native
 * `SET key text NX GET` (one round trip, no script: a replay costs what a GET costs) and the scripts
 * can read the guard fields without a JSON parser:
 *
 *   state, fingerprint, owner, fencing token, lease expiry, expiry, updated, attempt, created,
 *   meta (JSON: tool, tenant, correlation id, scope, then the arguments; written once),
 *   out (JSON: result or error, effect, reason; written when the record settles),
 *   pending (the creation events, written to the stream by the next change of this operation)
 *
 * Empty lines mean "none". JSON.stringify never writes a raw line break, and the other lines are
 * checked (`lineSafe`), so the text always splits into exactly twelve lines.
 */

export const RECORD_LINES = 12;

interface Meta {
  tool: string;
  tenant?: string;
  args?: JsonValue;
  corr?: string;
  scope?: string;
}

interface Out {
  result?: JsonValue;
  error?: StoredError;
  effect?: Effect;
  reason?: string;
}

/** What a record says about its creation: the fields its creation events need not store again. */
export interface CreationContext {
  tool: string;
  tenant?: string;
  correlationId?: string;
  owner?: string;
  at: number;
  args?: JsonValue;
}

/**
 * The arguments are the meta line's last member, under this name, so that reading a record does not
 * parse them until someone asks (a replay never does; with 7 KB of arguments that is a fifth of a
 * replay's JavaScript). The members before it are strings, and JSON escapes every quote inside a
 * string, so the first occurrence of this text is the member itself. Records written before carry
 * an `args` member before it (whose value may hold this text) and are parsed whole.
 */
const ARGS_MEMBER = ',"@args":';

/** The creation fields of a record that still holds its creation events (owner and time unchanged). */
export function creationContext(
  record: Pick<OperationRecord, "tool" | "createdAt" | "tenant" | "correlationId" | "owner" | "args">,
): CreationContext {
  const context: CreationContext = { tool: record.tool, at: record.createdAt };
  if (record.tenant !== undefined) context.tenant = record.tenant;
  if (record.correlationId !== undefined) context.correlationId = record.correlationId;
  if (record.owner !== null) context.owner = record.owner;
  if (record.args !== undefined) context.args = record.args;
  return context;
}

/**
 * The creation fields the scripts store beside creation events they write to the stream (field `r`):
 * the record's owner, created and meta lines, as `creation_fields` in scripts.ts joins them (the meta
 * without the arguments unless whole: see `eventsOfEntries` for where those come from then).
 */
export function parseCreationFields(value: string): CreationContext {
  const ownerEnd = value.indexOf("\n");
  const createdEnd = value.indexOf("\n", ownerEnd + 1);
  const owner = value.slice(0, ownerEnd);
  const { fields, argsText } = metaFields(value.slice(createdEnd + 1));
  if (argsText !== undefined) fields.args = JSON.parse(argsText) as JsonValue;
  return creationContext({
    ...fields,
    owner: owner === "" ? null : owner,
    createdAt: Number(value.slice(ownerEnd + 1, createdEnd)),
  });
}

type MetaFields = Pick<OperationRecord, "tool" | "tenant" | "args" | "correlationId" | "scope">;

/** The record fields a meta line holds; the arguments as their JSON text when they come last. */
function metaFields(meta: string): { fields: MetaFields; argsText?: string } {
  let at = meta.indexOf(ARGS_MEMBER);
  if (at >= 0 && meta.lastIndexOf('"args":', at) >= 0) at = -1;
  const m = JSON.parse(at < 0 ? meta : `${meta.slice(0, at)}}`) as Meta;
  const fields: MetaFields = { tool: m.tool };
  if (m.tenant !== undefined) fields.tenant = m.tenant;
  if (m.args !== undefined) fields.args = m.args;
  if (m.corr !== undefined) fields.correlationId = m.corr;
  if (m.scope !== undefined) fields.scope = m.scope;
  return at < 0 ? { fields } : { fields, argsText: meta.slice(at + ARGS_MEMBER.length, -1) };
}

/** `record.args` read from `text` when first asked for (and replaceable like any field). */
function defineLazyArgs(record: OperationRecord, text: string): void {
  let parsed: { value: JsonValue } | undefined;
  Object.defineProperty(record, "args", {
    enumerable: true,
    configurable: true,
    get() {
      parsed ??= { value: JSON.parse(text) as JsonValue };
      return parsed.value;
    },
    set(value: JsonValue | undefined) {
      Object.defineProperty(record, "args", { value, enumerable: true, configurable: true, writable: true });
    },
  });
}

const text = (value: number | string | null | undefined): string =>
  value === null || value === undefined ? "" : String(value);

/** The text of a record, with `pending` holding the stream entry of its creation events ("" for none). */
export function recordText(record: OperationRecord, pending: string): string {
  const meta: Meta = { tool: record.tool };
  if (record.tenant !== undefined) meta.tenant = record.tenant;
  if (record.correlationId !== undefined) meta.corr = record.correlationId;
  if (record.scope !== undefined) meta.scope = record.scope;
  const head = JSON.stringify(meta);
  const metaText =
    record.args === undefined ? head : `${head.slice(0, -1)}${ARGS_MEMBER}${JSON.stringify(record.args)}}`;
  return [
    record.state,
    record.fingerprint,
    text(record.owner),
    record.fencingToken,
    text(record.leaseExpiresAt),
    text(record.expiresAt),
    record.updatedAt,
    record.attempt,
    record.createdAt,
    metaText,
    outLine(record).json,
    pending,
  ].join("\n");
}

/**
 * The `out` line for a patch ("" when it settles nothing) and the names of the members it writes, as
 * the transition script takes them (`,result,effect,`): it keeps the others the record has, as
 * MemoryLedgerStore merges a patch.
 */
export function outLine(patch: Out): { json: string; names: string } {
  const out: Out = {};
  if (patch.result !== undefined) out.result = patch.result;
  if (patch.error !== undefined) out.error = patch.error;
  if (patch.effect !== undefined) out.effect = patch.effect;
  if (patch.reason !== undefined) out.reason = patch.reason;
  const names = Object.keys(out);
  return names.length === 0
    ? { json: "", names: "," }
    : { json: JSON.stringify(out), names: `,${names.join(",")},` };
}

/** Refuses a value that would break the line layout (an owner id or a fingerprint, chosen by callers). */
export function lineSafe(what: string, value: string): string {
  if (value.includes("\n")) {
    throw new InvalidConfigurationError(
      `The Redis ledger cannot store a ${what} with a line break: ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

const optionalNumber = (value: string): number | null => (value === "" ? null : Number(value));

/** The twelve lines of a record text, in order. */
type RecordLines = [
  state: string,
  fingerprint: string,
  owner: string,
  fencingToken: string,
  leaseExpiresAt: string,
  expiresAt: string,
  updatedAt: string,
  attempt: string,
  createdAt: string,
  meta: string,
  out: string,
  pending: string,
];

/** The lines of a record text; a value of another shape is not ours (an older layout, another app). */
export function recordLines(value: string, key: string): RecordLines {
  const lines = value.split("\n");
  if (lines.length !== RECORD_LINES) {
    throw new LedgerUnavailableError(
      `The Redis ledger key of operation ${key} does not hold a durable-tools record (an older layout, or another application's key under the same prefix).`,
    );
  }
  return lines as RecordLines;
}

/** The record a record text describes, and its pending creation entry. */
export function parseRecordText(value: string, key: string): { record: OperationRecord; pending: string } {
  const [state, fp, owner, token, lease, expires, updated, attempt, created, meta, out, pending] =
    recordLines(value, key);
  const { fields, argsText } = metaFields(meta);
  const record: OperationRecord = {
    key,
    ...fields,
    fingerprint: fp,
    state: state as OperationState,
    attempt: Number(attempt),
    owner: owner === "" ? null : owner,
    fencingToken: Number(token),
    leaseExpiresAt: optionalNumber(lease),
    createdAt: Number(created),
    updatedAt: Number(updated),
    expiresAt: optionalNumber(expires),
  };
  if (out !== "") {
    const o = JSON.parse(out) as Out;
    if (o.result !== undefined) record.result = o.result;
    if (o.error !== undefined) record.error = o.error;
    if (o.effect !== undefined) record.effect = o.effect;
    if (o.reason !== undefined) record.reason = o.reason;
  }
  if (argsText !== undefined) defineLazyArgs(record, argsText);
  return { record, pending };
}
