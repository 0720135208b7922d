import type { LedgerEvent, LedgerEventInput } from "@durable-tools/core";

/*
 * Events live in one Redis stream per operation. A stream entry id is `<ms>-<n>`; the event's `seq`
 * is `ms * 1000 + n`, a safe integer that increases strictly within a stream (Redis never issues a
 * smaller id, even if the clock goes back) and orders events of different streams by time.
 */
const PER_MS = 1000;

export function seqFromStreamId(id: string): number {
  const [ms, n] = id.split("-");
  return Number(ms) * PER_MS + Number(n);
}

export function streamIdFromSeq(seq: number): string {
  return `${Math.floor(seq / PER_MS)}-${seq % PER_MS}`;
}

/** Rebuilds an event from a stream entry's [field, value, ...] list. */
export function eventFromStream(fields: readonly string[], seq: number): LedgerEvent {
  const index = fields.indexOf("e");
  const event = JSON.parse(fields[index + 1] ?? "{}") as LedgerEventInput;
  return { ...event, seq };
}
