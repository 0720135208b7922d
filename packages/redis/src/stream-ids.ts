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

/** One stream entry's value: the events as a JSON array, without their (shared) key. */
export function entryValue(events: readonly LedgerEventInput[]): string {
  return `[${events.map(({ key: _key, ...rest }) => JSON.stringify(rest)).join(",")}]`;
}

/** The events of one stream entry ([field, value, ...]) with their seq and key restored. */
export function eventsOfEntry(id: string, fields: readonly string[], key: string): LedgerEvent[] {
  const base = entrySeq(id);
  const events = JSON.parse(fields[fields.indexOf("e") + 1] ?? "[]") as Omit<LedgerEventInput, "key">[];
  return events.map((event, index) => ({ ...event, key, seq: base + index }) as LedgerEvent);
}
