import type { LedgerEventInput } from "./events.js";
import type { OperationRecord } from "./record.js";
import type { JsonValue } from "./value-codec.js";

/**
 * Transforms the values a store keeps at rest: a record's `args` and `result`, and an event's `data`.
 * `context` is the record key; an encrypting codec binds its ciphertext to it (AEAD associated data),
 * so a value copied to another record does not decode. `decode` throws `RecordCodecError` for a value
 * it cannot trust.
 */
export interface RecordCodec {
  encode(value: JsonValue, context: string): JsonValue;
  decode(stored: JsonValue, context: string): JsonValue;
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
  if (record.args !== undefined) next.args = codec[direction](record.args, record.key);
  if (record.result !== undefined) next.result = codec[direction](record.result, record.key);
  return next;
}

/** The event with its `data` passed through the codec (a new object). */
export function codeEvent<E extends LedgerEventInput>(
  event: E,
  codec: RecordCodec | undefined,
  direction: Direction,
): E {
  if (codec === undefined || event.data === undefined) return event;
  const data = codec[direction](event.data, event.key);
  return { ...event, data: data as { [key: string]: JsonValue } };
}
