import type { LedgerEventInput } from "./events.js";
import type { OperationRecord } from "./record.js";
import type { JsonValue } from "./value-codec.js";

/**
 * Transforms the values a store keeps at rest: a record's `args` and `result`, and an event's `data`.
 * `context` is the record key and `field` where in it the value is stored: `"args"`, `"result"`, or
 * `"event:<event id>"` for an event's data (see {@link codecField}). An encrypting codec binds its
 * ciphertext to both (AEAD associated data), so a value copied to another record, or to another
 * field or event of the same record, does not decode. A store that calls a codec itself must pass
 * the same `field` when it encodes and when it decodes (or use `codeRecord` / `codeEvent`).
 * `decode` throws `RecordCodecError` for a value it cannot trust.
 */
export interface RecordCodec {
  encode(value: JsonValue, context: string, field?: string): JsonValue;
  decode(stored: JsonValue, context: string, field?: string): JsonValue;
}

/** The `field` a codec is given for a record's `args`, its `result`, or an event's `data`. */
export function codecField(where: "args" | "result" | { eventId: string }): string {
  return typeof where === "string" ? where : `event:${where.eventId}`;
}

type Direction = "encode" | "decode";

/** The record with its `args` and `result` passed through the codec (a new object). */
export function codeRecord(
  record: OperationRecord,
  codec: RecordCodec | undefined,
  direction: Direction,
): OperationRecord {
  if (codec === undefined || (record.args === undefined && record.result === undefined)) return record;
  const next = { ...record };
  if (record.args !== undefined) next.args = codec[direction](record.args, record.key, "args");
  if (record.result !== undefined) next.result = codec[direction](record.result, record.key, "result");
  return next;
}

/** The event with its `data` passed through the codec (a new object). */
export function codeEvent<E extends LedgerEventInput>(
  event: E,
  codec: RecordCodec | undefined,
  direction: Direction,
): E {
  if (codec === undefined || event.data === undefined) return event;
  const data = codec[direction](event.data, event.key, codecField({ eventId: event.id }));
  return { ...event, data: data as { [key: string]: JsonValue } };
}
