import { type Effect, type ExecutionResult, isDurableToolsError, messageOf } from "@durable-tools/core";

/** What the model sees after a durable tool call, as the ToolMessage content (JSON). */
export type EffectEnvelope<R = unknown> =
  | { ok: true; effect: Effect; replayed: boolean; key: string; data: R; reason?: string }
  | { ok: false; key?: string; error: { code: string; message: string; retryable: boolean } };

/**
 * A replay reports `noop`, except to the tool call that made the change (`toolCallId` is the record's
 * correlation id): run again after an interrupt or a node retry, it reports the recorded effect, so
 * the model still learns what its call did.
 */
export function successEnvelope<R>(result: ExecutionResult<R>, toolCallId?: string): EffectEnvelope<R> {
  const ownCall = result.replayed && !!toolCallId && result.record.correlationId === toolCallId;
  const envelope: EffectEnvelope<R> = {
    ok: true,
    effect: ownCall ? (result.record.effect ?? result.effect) : result.effect,
    replayed: result.replayed,
    key: result.key,
    data: result.result,
  };
  if (result.reason !== undefined) envelope.reason = result.reason;
  return envelope;
}

/**
 * A failure the model can act on: a conflict (use another key), an operation in doubt (do not
 * repeat it), a permanent error (do not retry) or a retryable one.
 */
export function errorEnvelope(error: unknown, key?: string): EffectEnvelope<never> {
  const durable = isDurableToolsError(error);
  const envelope: EffectEnvelope<never> = {
    ok: false,
    error: {
      code: durable ? error.code : "TOOL_ERROR",
      message: messageOf(error),
      retryable: durable ? error.retryable : false,
    },
  };
  const errorKey = key ?? (error as { key?: unknown }).key;
  if (typeof errorKey === "string") envelope.key = errorKey;
  return envelope;
}

/**
 * Serialises an envelope for the ToolMessage; never throws. BigInts become strings; a repeated
 * reference on the current path (a cycle) becomes `"[Circular]"`; if the data still cannot be
 * serialised (a throwing `toJSON` or getter), it is dropped and `reason` says so, keeping `ok`,
 * `effect` and `key`: an effect that happened is never reported as a failure.
 */
export function envelopeContent(envelope: EffectEnvelope): string {
  try {
    return JSON.stringify(envelope, bigintReplacer);
  } catch {
    // Fall through to the cycle-safe form.
  }
  try {
    return JSON.stringify(envelope, cycleSafeReplacer());
  } catch (error) {
    // Only a success's data can fail here: an error envelope holds strings and booleans.
    const success = envelope as Extract<EffectEnvelope, { ok: true }>;
    const reason = `the result could not be serialised for the model (${messageOf(error)}); it is on the operation record`;
    return JSON.stringify({
      ...success,
      data: null,
      reason: success.reason ? `${success.reason}; ${reason}` : reason,
    });
  }
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** A replacer that tracks the path from the root (`this` is the holder) and cuts cycles only. */
function cycleSafeReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const path: unknown[] = [];
  return function (this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === "bigint") return value.toString();
    if (typeof value !== "object" || value === null) return value;
    // Drop the ancestors that are no longer on the path to this value.
    while (path.length > 0 && path[path.length - 1] !== this) path.pop();
    if (path.includes(value)) return "[Circular]";
    path.push(value);
    return value;
  };
}
