import { type Classifier, classifyError, type ErrorClassification } from "./error-classification.js";
import {
  AbortedError,
  DeadlineExceededError,
  InvalidConfigurationError,
  RetryExhaustedError,
} from "./errors.js";

/** How a backoff delay is randomised; see {@link RetryPolicy.backoff}. */
export type Jitter = "none" | "full" | "equal" | "decorrelated";

const JITTERS: readonly Jitter[] = ["none", "full", "equal", "decorrelated"];

export interface RetryPolicyOptions {
  /** Total attempts, including the first. Default 3. */
  maxAttempts?: number;
  /** Delay before the first retry, before jitter. Default 100 ms. */
  baseDelayMs?: number;
  /** Cap on any backoff delay. Default 10 000 ms. */
  maxDelayMs?: number;
  /** Default "full". */
  jitter?: Jitter;
  /** Total wall-clock budget from the first attempt; no retry is scheduled past it. Default none. */
  deadlineMs?: number;
  /** Wait exactly as long as a Retry-After asks instead of backing off. Default true. */
  honorRetryAfter?: boolean;
  /** A longer Retry-After stops retrying rather than blocking. Default 60 000 ms. */
  maxRetryAfterMs?: number;
  /** Overrides the built-in classification; see {@link classifyError}. */
  classify?: Classifier;
  /** Uniform in [0, 1). Default `Math.random`; injectable for tests. */
  random?: () => number;
  /** Epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** The options with every default filled in. */
export interface ResolvedRetryPolicyOptions {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: Jitter;
  readonly deadlineMs: number | undefined;
  readonly honorRetryAfter: boolean;
  readonly maxRetryAfterMs: number;
  readonly classify: Classifier | undefined;
  readonly random: () => number;
  readonly now: () => number;
}

export type RetryStopReason = "permanent" | "max_attempts" | "deadline" | "retry_after_too_long";

export type RetryDecision =
  | { retry: true; delayMs: number; classification: ErrorClassification }
  | { retry: false; why: RetryStopReason; classification: ErrorClassification };

export interface RetryState {
  /** Attempts made so far, including the one that just failed (≥ 1). */
  attempt: number;
  /** When the first attempt started (epoch ms). */
  startedAt: number;
  /** The delay slept before the attempt that just failed; 0 before the first retry. */
  previousDelayMs: number;
  /** Now, on the clock `startedAt` was read from (epoch ms). Default this policy's `now()`. */
  now?: number;
}

export interface RetryInfo {
  /** The attempt that just failed (1 for the first call). */
  attempt: number;
  /** How long the policy will sleep before the next attempt. */
  delayMs: number;
  error: unknown;
  classification: ErrorClassification;
}

export interface RetryRunOptions {
  /** Aborts the sleep between attempts; an aborted signal also prevents any further attempt. */
  signal?: AbortSignal;
  /** Awaited before each sleep: where the executor emits its "retry" event. */
  onRetry?: (info: RetryInfo) => void | Promise<void>;
  /** A veto on retrying: returning false rethrows the error unchanged. */
  shouldRetry?: (error: unknown, classification: ErrorClassification) => boolean;
}

/**
 * Decides whether and when a failed call is tried again: capped exponential backoff with jitter,
 * the server's Retry-After honoured exactly, a total attempt count and an optional deadline.
 */
export class RetryPolicy {
  readonly options: ResolvedRetryPolicyOptions;

  constructor(options: RetryPolicyOptions = {}) {
    this.options = resolveOptions(options);
  }

  /** The built-in classification, passed through the `classify` override when there is one. */
  classify(error: unknown): ErrorClassification {
    const fallback = classifyError(error, this.options.now());
    return this.options.classify?.(error, fallback) ?? fallback;
  }

  /**
   * The delay before retry number `retryNumber` (1 for the first retry), always within
   * [0, maxDelayMs]. With exp = min(maxDelay, base·2^(n−1)):
   * none = exp; full = random·exp; equal = exp/2 + random·exp/2;
   * decorrelated = min(maxDelay, base + random·(prev·3 − base)), where prev is the previous delay
   * (base before the first retry).
   */
  backoff(retryNumber: number, previousDelayMs: number): number {
    if (!Number.isInteger(retryNumber) || retryNumber < 1) {
      throw new InvalidConfigurationError(
        `RetryPolicy.backoff: retryNumber must be a positive integer, got ${show(retryNumber)}.`,
      );
    }
    const { baseDelayMs: base, maxDelayMs: max, jitter } = this.options;
    // base 0 is special-cased: 0 · 2^1100 would be 0 · Infinity = NaN.
    const exp = base === 0 ? 0 : Math.min(max, base * 2 ** (retryNumber - 1));
    let delay: number;
    switch (jitter) {
      case "none":
        delay = exp;
        break;
      case "full":
        delay = this.#random() * exp;
        break;
      case "equal":
        delay = exp / 2 + (this.#random() * exp) / 2;
        break;
      case "decorrelated": {
        const prev = Number.isFinite(previousDelayMs) ? Math.max(base, previousDelayMs) : base;
        // prev * 3 can overflow to Infinity, and 0 * Infinity would be NaN.
        const spread = Math.min(prev * 3, Number.MAX_VALUE) - base;
        delay = Math.min(max, base + this.#random() * spread);
        break;
      }
    }
    return Math.min(max, Math.max(0, delay));
  }

  /**
   * Whether to try again after `error`, checked in this order: a permanent error stops; so does
   * reaching maxAttempts; a Retry-After (when honoured) is the delay, unless it exceeds
   * maxRetryAfterMs; otherwise the backoff is; a retry that would start after the deadline stops.
   */
  decide(error: unknown, state: RetryState): RetryDecision {
    const classification = this.classify(error);
    if (!classification.retryable) return { retry: false, why: "permanent", classification };
    if (state.attempt >= this.options.maxAttempts)
      return { retry: false, why: "max_attempts", classification };

    let delayMs: number;
    const retryAfterMs = classification.retryAfterMs;
    if (this.options.honorRetryAfter && retryAfterMs !== undefined) {
      // The server's word, not a hint to jitter around.
      if (retryAfterMs > this.options.maxRetryAfterMs) {
        return { retry: false, why: "retry_after_too_long", classification };
      }
      delayMs = retryAfterMs;
    } else {
      delayMs = this.backoff(state.attempt, state.previousDelayMs);
    }

    const { deadlineMs } = this.options;
    const now = state.now ?? this.options.now();
    if (deadlineMs !== undefined && now + delayMs > state.startedAt + deadlineMs) {
      return { retry: false, why: "deadline", classification };
    }
    return { retry: true, delayMs, classification };
  }

  /**
   * Calls `fn` until it succeeds or the policy stops. `fn` receives the attempt number (from 1) and
   * the caller's signal. When the policy stops, a permanent error, a too-long Retry-After and a
   * `shouldRetry` veto rethrow the original error unchanged; running out of attempts throws
   * `RetryExhaustedError`; the deadline throws `DeadlineExceededError`. An abort before an attempt
   * or during a sleep throws `AbortedError`; an attempt that fails after an abort rethrows its own
   * error (it knows best whether it may have acted), and nothing is tried after it.
   */
  async run<T>(
    fn: (attempt: number, signal: AbortSignal | undefined) => Promise<T>,
    options: RetryRunOptions = {},
  ): Promise<T> {
    const { signal, onRetry, shouldRetry } = options;
    const startedAt = this.options.now();
    let previousDelayMs = 0;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new AbortedError(signal.reason);
      try {
        return await fn(attempt, signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        const decision = this.decide(error, { attempt, startedAt, previousDelayMs });
        if (!decision.retry && decision.why === "permanent") throw error;
        if (shouldRetry !== undefined && !shouldRetry(error, decision.classification)) throw error;
        if (!decision.retry) {
          if (decision.why === "max_attempts") throw new RetryExhaustedError(attempt, error);
          if (decision.why === "deadline")
            throw new DeadlineExceededError(this.options.deadlineMs ?? 0, error);
          throw error;
        }
        const { delayMs, classification } = decision;
        await onRetry?.({ attempt, delayMs, error, classification });
        await sleep(delayMs, signal);
        previousDelayMs = delayMs;
      }
    }
  }

  /** random() clamped to [0, 1], so a faulty source cannot push a delay out of range. */
  #random(): number {
    const r = this.options.random();
    return Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0;
  }
}

// setTimeout fires at once (with a warning) for delays above 2^31 − 1 ms; longer sleeps are chained.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Resolves after `ms` milliseconds; rejects with `AbortedError(signal.reason)` as soon as the
 * signal aborts (at once if it already has), clearing its timer and its listener either way.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(signal.reason));
      return;
    }
    let remaining = Number.isFinite(ms) && ms > 0 ? ms : 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(signal?.reason));
    };
    const schedule = () => {
      const step = Math.min(remaining, MAX_TIMER_MS);
      remaining -= step;
      timer = setTimeout(() => {
        if (remaining > 0) return schedule();
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, step);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    schedule();
  });
}

function resolveOptions(options: RetryPolicyOptions): ResolvedRetryPolicyOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidConfigurationError(`RetryPolicy: options must be an object, got ${show(options)}.`);
  }
  const resolved: ResolvedRetryPolicyOptions = {
    maxAttempts: options.maxAttempts ?? 3,
    baseDelayMs: options.baseDelayMs ?? 100,
    maxDelayMs: options.maxDelayMs ?? 10_000,
    jitter: options.jitter ?? "full",
    deadlineMs: options.deadlineMs,
    honorRetryAfter: options.honorRetryAfter ?? true,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    classify: options.classify,
    // Looked up on each call, so fake clocks installed after construction still apply.
    random: options.random ?? (() => Math.random()),
    now: options.now ?? (() => Date.now()),
  };
  const r = resolved;
  check(
    Number.isSafeInteger(r.maxAttempts) && r.maxAttempts >= 1,
    "maxAttempts must be a positive integer (total attempts, including the first)",
    r.maxAttempts,
  );
  check(isNonNegativeFinite(r.baseDelayMs), "baseDelayMs must be a finite number ≥ 0", r.baseDelayMs);
  check(isNonNegativeFinite(r.maxDelayMs), "maxDelayMs must be a finite number ≥ 0", r.maxDelayMs);
  check(r.maxDelayMs >= r.baseDelayMs, `maxDelayMs must be ≥ baseDelayMs (${r.baseDelayMs})`, r.maxDelayMs);
  check(JITTERS.includes(r.jitter), `jitter must be one of ${JITTERS.map(show).join(", ")}`, r.jitter);
  check(
    r.deadlineMs === undefined || (isNonNegativeFinite(r.deadlineMs) && r.deadlineMs > 0),
    "deadlineMs must be a finite number > 0",
    r.deadlineMs,
  );
  check(typeof r.honorRetryAfter === "boolean", "honorRetryAfter must be a boolean", r.honorRetryAfter);
  // Infinity is allowed here: it means "wait as long as the server asks" (the deadline still applies).
  check(
    typeof r.maxRetryAfterMs === "number" && r.maxRetryAfterMs >= 0,
    "maxRetryAfterMs must be a number ≥ 0",
    r.maxRetryAfterMs,
  );
  check(
    r.classify === undefined || typeof r.classify === "function",
    "classify must be a function",
    r.classify,
  );
  check(typeof r.random === "function", "random must be a function", r.random);
  check(typeof r.now === "function", "now must be a function", r.now);
  return Object.freeze(resolved);
}

function check(ok: boolean, requirement: string, value: unknown): void {
  if (!ok) throw new InvalidConfigurationError(`RetryPolicy: ${requirement}, got ${show(value)}.`);
}

function isNonNegativeFinite(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/** A value as it should appear in an error message. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === undefined) return String(value);
  if (value === null) return "null";
  return typeof value;
}

/** A policy with every default: 3 attempts, 100 ms base, 10 s cap, full jitter, no deadline. */
export const defaultRetryPolicy = new RetryPolicy();
