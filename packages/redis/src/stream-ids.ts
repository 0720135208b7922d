import type { LedgerEvent, LedgerEventInput } from "@durable-tools/core";

/*
 * Events live in one Redis stream per operation, one entry per state change holding a JSON array of
 * up to EVENTS_PER_ENTRY events (without their key: the stream names it). An entry id is `<ms>-<n>`;
 * an event's `seq` is ((ms - EPOCH) * 1000 + n) * EVENTS_PER_ENTRY + its index in the entry: a safe
 * integer (until about 2090) that increases strictly within a stream (Redis never issues a smaller
 * id, even if the clock goes back) and orders events of different streams by time.
 */
export const EVENTS_PER_ENTRY = 4;
const EPOCH_MS = 1_700_000_000_000;
const PER_MS = 1000;

export function entrySeq(id: string): number {
  const [ms, n] = id.split("-");
  return ((Number(ms) - EPOCH_MS) * PER_MS + Number(n)) * EVENTS_PER_ENTRY;
}

/** The id of the stream entry that holds the event with this seq. */
export function streamIdOfSeq(seq: number): string {
  const entry = Math.floor(seq / EVENTS_PER_ENTRY);
  return `${Math.floor(entry / PER_MS) + EPOCH_MS}-${entry % PER_MS}`;
}

/** Fields that are usually the same for every event of one state change, stored once per entry. */
const COMMON = ["tool", "tenant", "correlationId", "owner", "at"] as const;
type Common = Partial<Record<(typeof COMMON)[number], unknown>> & { ids?: 1 };
type StoredEvent = Record<string, unknown>;

/**
 * One stream entry's value: `{ c, e }`, the events (without their shared key) with the fields they all
 * share factored into `c`, and ids of the form `<owner>#<n>` shortened to `#<n>`. It keeps the claim
 * script's arguments small (they travel with every claim, replays included); reading restores every
 * event exactly as it was given.
 */
export function entryValue(events: readonly LedgerEventInput[]): string {
  const stored = events.map(({ key: _key, ...rest }) => ({ ...rest }) as StoredEvent);
  const common: Common = {};
  for (const field of COMMON) {
    const first = stored[0]?.[field];
    if (
      first === undefined ||
      !stored.every((event) => Object.hasOwn(event, field) && event[field] === first)
    )
      continue;
    common[field] = first;
    for (const event of stored) delete event[field];
  }
  const owner = common.owner;
  if (typeof owner === "string" && stored.every((event) => isOwnedId(event.id, owner))) {
    common.ids = 1;
    for (const event of stored) event.id = (event.id as string).slice(owner.length);
  }
  return JSON.stringify({ c: common, e: stored });
}

function isOwnedId(id: unknown, owner: string): boolean {
  return typeof id === "string" && id.startsWith(`${owner}#`) && /^#\d+$/.test(id.slice(owner.length));
}

/** The events of one stream entry ([field, value, ...]) with their seq, key and shared fields restored. */
export function eventsOfEntry(id: string, fields: readonly string[], key: string): LedgerEvent[] {
  const base = entrySeq(id);
  const { c: common, e: events } = JSON.parse(fields[fields.indexOf("e") + 1] ?? '{"c":{},"e":[]}') as {
    c: Common;
    e: StoredEvent[];
  };
  const { ids, ...shared } = common;
  return events.map((event, index) => {
    const restored: StoredEvent = { ...event, ...shared, key, seq: base + index };
    if (ids === 1) restored.id = `${shared.owner as string}${event.id as string}`;
    return restored as unknown as LedgerEvent;
  });
}
