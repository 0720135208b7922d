import type { Effect } from "./record.js";

const EFFECT_RESULT = Symbol.for("durable-tools.effect-result");

/** A hook's result that names its own effect, e.g. `noop` when the downstream was already in that state. */
export interface EffectResult<R> {
  readonly [EFFECT_RESULT]: true;
  readonly effect: Effect;
  readonly data: R;
  readonly reason?: string;
}

/** Lets `submit` (or `reconcile`) say what it did: `return withEffect("updated", row)`. */
export function withEffect<R>(effect: Effect, data: R, reason?: string): EffectResult<R> {
  return reason === undefined
    ? { [EFFECT_RESULT]: true, effect, data }
    : { [EFFECT_RESULT]: true, effect, data, reason };
}

export function isEffectResult<R>(value: unknown): value is EffectResult<R> {
  return (
    typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[EFFECT_RESULT] === true
  );
}
