import { type Effect, type ExecutionResult, isDurableToolsError, messageOf } from "@durable-tools/core";

/** What the model sees after a durable tool call, as the ToolMessage content (JSON). */
export type EffectEnvelope<R = unknown> =
  | { ok: true; effect: Effect; replayed: boolean; key: string; data: R; reason?: string }
  | { ok: false; key?: string; error: { code: string; message: string; retryable: boolean } };

export function successEnvelope<R>(result: ExecutionResult<R>): EffectEnvelope<R> {
  const envelope: EffectEnvelope<R> = {
    ok: true,
    effect: result.effect,
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

/** Serialises an envelope for the ToolMessage; BigInts become strings, nothing throws. */
export function envelopeContent(envelope: EffectEnvelope): string {
  return JSON.stringify(envelope, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
}
