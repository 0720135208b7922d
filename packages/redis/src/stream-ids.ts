import {
  InvalidConfigurationError,
  type JsonValue,
  type LedgerEvent,
  type LedgerEventInput,
  LedgerUnavailableError,
} from "@durable-tools/core";
import { type CreationContext, parseCreationFields } from "./record-text.js";

/*
 * Events live in one Redis stream per operation, one entry per state change holding the change's
 * events (at most EVENTS_PER_CHANGE, without their key: the stream names it) in field `e`. The first
 * change after a record was created also carries the creation events the record held: those in `e`,
 * its own in `f`. An entry id is `<ms>-<n>`; an event's `seq` is ((ms - EPOCH) * 1000 + n) *
 * SEQ_PER_ENTRY + its index in the entry: a safe integer (until about 2059) that increases strictly
 * within a stream (Redis never issues a smaller id, even if the clock goes back) and orders events of
 * different streams by time.
 *
 * Creation events leave out what their record already says (tool, tenant, correlation id, owner,
 * time, and the arguments of the `claimed` event): a claim sends less and a replay builds less. When
 * the scripts write them to the stream they add the record's creation fields in field `r` (`append`
 * in scripts.ts, read by `parseCreationFields`) but for the arguments, which stay in the record alone
 * until it goes: a release or a replacement then writes whole creation fields (`eventsOfEntries`).
 */
export const EVENTS_PER_CHANGE = 4;
const SEQ_PER_ENTRY = 2 * EVENTS_PER_CHANGE;
export const EPOCH_MS = 1_700_000_000_000;
/**
 * Entries per millisecond of stream id: the scripts never write an id `<ms>-<n>` with n >= PER_MS
 * (they move such an entry to `<ms + 1>-0`), so each id has a seq of its own.
 */
export const PER_MS = 1000;
/** The last millisecond whose entries' seq are all safe integers (2059-07-20), even after a move to the next. */
export const LAST_MS = EPOCH_MS + Math.floor(2 ** 53 / (PER_MS * SEQ_PER_ENTRY)) - 1;

/**
 * A clock value (`now`) the store can make event ids from: finite, from EPOCH_MS (2023-11-14) to
 * LAST_MS. A fraction is fine (ids use the whole milliseconds); anything else is refused before a
 * write, because an id below the epoch gives a negative seq and one below 1 is no stream id at all.
 */
export function storeTime(what: string, value: number): number {
  if (typeof value === "number" && value >= EPOCH_MS && value <= LAST_MS) return value;
  throw new InvalidConfigurationError(
    `The Redis ledger got ${what} = ${String(value)}: it must be a time in milliseconds since 1970 from ${EPOCH_MS} (${new Date(EPOCH_MS).toISOString()}) to ${LAST_MS} (${new Date(LAST_MS).toISOString()}), because the events' stream ids and seq are made from it. Use a wall clock (Date.now, or performance.timeOrigin + performance.now()); a test clock must start at or after ${EPOCH_MS}.`,
  );
}

export function entrySeq(id: string): number {
  const [ms, n] = id.split("-");
  return ((Number(ms) - EPOCH_MS) * PER_MS + Number(n)) * SEQ_PER_ENTRY;
}

/** The id of the stream entry that holds the event with this seq. */
export function streamIdOfSeq(seq: number): string {
  const entry = Math.floor(seq / SEQ_PER_ENTRY);
  return `${Math.floor(entry / PER_MS) + EPOCH_MS}-${entry % PER_MS}`;
}

/** Fields that are usually the same for every event of one state change, stored once per entry. */
const COMMON = ["tool", "tenant", "correlationId", "owner", "at"] as const;
/** `r`: a bit per COMMON field left out because the record's creation fields hold it. */
type Common = Partial<Record<(typeof COMMON)[number], unknown>> & { ids?: 1; r?: number };
/** `a: 1`: the event's data is `{ args }`, the record's arguments. */
type StoredEvent = Record<string, unknown>;

/**
 * One stream entry's value: `{ c, e }`, the events (without their shared key) with the fields they all
 * share factored into `c`, and ids of the form `<owner>#<n>` shortened to `#<n>`. With `context` (the
 * creation events of a record), what the record holds is left out too. It keeps the stored entries
 * small; reading restores every event exactly as it was given. (Built without `delete` or regular
 * expressions: it runs on every claim, replays included.)
 */
export function entryValue(events: readonly LedgerEventInput[], context?: CreationContext): string {
  const all = events as unknown as readonly StoredEvent[];
  const common: Common = {};
  const shared = new Set<string>();
  let fromRecord = 0;
  for (let bit = 0; bit < COMMON.length; bit++) {
    const field = COMMON[bit] as (typeof COMMON)[number];
    const first = all[0]?.[field];
    if (first === undefined || !all.every((event) => event[field] === first && Object.hasOwn(event, field))) {
      continue;
    }
    shared.add(field);
    if (context !== undefined && context[field] === first) fromRecord |= 1 << bit;
    else common[field] = first;
  }
  const owner = shared.has("owner") ? all[0]?.owner : undefined;
  const shortIds = typeof owner === "string" && all.every((event) => isOwnedId(event.id, owner));
  if (shortIds) common.ids = 1;
  if (fromRecord !== 0) common.r = fromRecord;
  const args = context?.args;
  const stored = all.map((event) => {
    const rest: StoredEvent = {};
    for (const field in event) {
      if (field === "key" || shared.has(field)) continue;
      if (field === "data" && args !== undefined && isArgsOnly(event.data, args)) rest.a = 1;
      else rest[field] = field === "id" && shortIds ? (event.id as string).slice(owner.length) : event[field];
    }
    return rest;
  });
  return JSON.stringify({ c: common, e: stored });
}

/** Data that is exactly `{ args }` with the record's own arguments (the same value, not a copy). */
function isArgsOnly(data: unknown, args: unknown): boolean {
  if (typeof data !== "object" || data === null) return false;
  let fields = 0;
  for (const _ in data) fields++;
  return fields === 1 && (data as { args?: unknown }).args === args;
}

function isOwnedId(id: unknown, owner: string): boolean {
  if (typeof id !== "string" || !id.startsWith(owner) || id.length < owner.length + 2) return false;
  if (id.charCodeAt(owner.length) !== 35 /* # */) return false;
  for (let i = owner.length + 1; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The events of a stream's entries, in order. Field `r` of a creation entry leaves out the arguments
 * while the record holds them: they come from the next later entry with whole creation fields (a
 * release or a replacement of the record wrote it), or else from the record (`recordArgs`).
 */
export function eventsOfEntries(
  entries: readonly (readonly [id: string, fields: readonly string[]])[],
  key: string,
  recordArgs: JsonValue | undefined,
): LedgerEvent[] {
  const contexts = entries.map(([, fields]) => {
    const r = creationFieldsAt(fields);
    return r < 0 ? undefined : parseCreationFields(fields[r + 1] as string);
  });
  let later = recordArgs;
  for (let i = contexts.length - 1; i >= 0; i--) {
    const context = contexts[i];
    if (context === undefined) continue;
    if (context.args !== undefined) later = context.args;
    else if (later !== undefined) context.args = later;
  }
  return entries.flatMap(([id, fields], i) => eventsOfEntry(id, fields, key, contexts[i]));
}

/** Where field `r` (the creation fields) is among an entry's [field, value, ...]; -1 if nowhere. */
function creationFieldsAt(fields: readonly string[]): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === "r") return i;
  return -1;
}

/**
 * The events of one stream entry ([field, value, ...]) with their seq, key and shared fields restored.
 * `context`: the creation fields its creation events refer to, when known (the record's, for the
 * creation events it still holds); else the entry's own field `r`.
 */
export function eventsOfEntry(
  id: string,
  fields: readonly string[],
  key: string,
  context?: CreationContext,
): LedgerEvent[] {
  const base = entrySeq(id);
  const events: LedgerEvent[] = [];
  const r = creationFieldsAt(fields);
  const fromFields = context ?? (r < 0 ? undefined : parseCreationFields(fields[r + 1] as string));
  for (let i = 1; i < fields.length; i += 2) {
    if (i === r + 1) continue;
    const { c: common, e: stored } = JSON.parse(fields[i] as string) as { c: Common; e: StoredEvent[] };
    const { ids, r: fromRecord, ...shared } = common;
    if (fromRecord !== undefined) restoreShared(shared, fromRecord, fromFields, key);
    for (const { a, ...event } of stored) {
      const restored: StoredEvent = { ...event, ...shared, key, seq: base + events.length };
      if (ids === 1) restored.id = `${shared.owner as string}${event.id as string}`;
      if (a === 1) restored.data = { args: recordArgs(fromFields, key) };
      events.push(restored as unknown as LedgerEvent);
    }
  }
  return events;
}

function restoreShared(
  shared: Record<string, unknown>,
  fromRecord: number,
  context: CreationContext | undefined,
  key: string,
): void {
  const from = creation(context, key);
  for (let bit = 0; bit < COMMON.length; bit++) {
    const field = COMMON[bit] as (typeof COMMON)[number];
    if ((fromRecord & (1 << bit)) !== 0) shared[field] = from[field];
  }
}

function creation(context: CreationContext | undefined, key: string): CreationContext {
  if (context === undefined) throw missingCreationFields(key, "creation fields");
  return context;
}

function recordArgs(context: CreationContext | undefined, key: string): JsonValue {
  const args = creation(context, key).args;
  if (args === undefined) throw missingCreationFields(key, "arguments");
  return args;
}

function missingCreationFields(key: string, what: string): LedgerUnavailableError {
  return new LedgerUnavailableError(
    `A stored event of operation ${key} refers to its record's ${what}, but they were not stored with it.`,
  );
}

/**
 * The id a record's pending creation entry takes when it is written to the stream: `<created>-0` (the
 * whole milliseconds of a fractional clock), or just after the stream's last entry when that is not
 * older (a released earlier run of the same key, or a clock behind Redis'): `<ms>-<n + 1>`, or
 * `<ms + 1>-0` where n + 1 would reach PER_MS. The scripts that write it (`append` in scripts.ts)
 * apply the same rule, so a reader that shows the entry before it is written gives its events the seq
 * they will keep.
 */
export function pendingEntryId(createdAt: number, lastId: string | undefined): string {
  const created = Math.floor(createdAt);
  if (lastId === undefined) return `${created}-0`;
  const [ms, n] = lastId.split("-").map(Number) as [number, number];
  if (ms < created) return `${created}-0`;
  return n + 1 < PER_MS ? `${ms}-${n + 1}` : `${ms + 1}-0`;
}
