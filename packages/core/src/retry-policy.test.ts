import { getEventListeners } from "node:events";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ErrorClassification } from "./error-classification.js";
import {
  AbortedError,
  InvalidConfigurationError,
  isDeadlineExceededError,
  isRetryExhaustedError,
  RetryExhaustedError,
} from "./errors.js";
import {
  defaultRetryPolicy,
  type Jitter,
  RetryPolicy,
  type RetryPolicyOptions,
  sleep,
} from "./retry-policy.js";

const transientAs = (reason: string): ErrorClassification => ({
  retryable: true,
  outcome: "not_applied",
  reason,
});
const permanentAs = (reason: string): ErrorClassification => ({
  retryable: false,
  outcome: "not_applied",
  reason,
});

function err(props: Record<string, unknown>, message = "boom"): Error {
  return Object.assign(new Error(message), props);
}

/** Observes a promise without letting a rejection go unhandled while fake time advances. */
function settle<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => {
      state.done = true;
      state.value = value;
    },
    (error: unknown) => {
      state.done = true;
      state.error = error;
    },
  );
  return state;
}

const start = { startedAt: 0, previousDelayMs: 0 };

describe("RetryPolicy options", () => {
  it("fills in the defaults", () => {
    const { options } = new RetryPolicy();
    expect(options).toMatchObject({
      maxAttempts: 3,
      baseDelayMs: 100,
      maxDelayMs: 10_000,
      jitter: "full",
      deadlineMs: undefined,
      honorRetryAfter: true,
      maxRetryAfterMs: 60_000,
      classify: undefined,
    });
    expect(typeof options.random()).toBe("number");
    expect(typeof options.now()).toBe("number");
    expect(Object.isFrozen(options)).toBe(true);
    expect(defaultRetryPolicy.options).toMatchObject({ maxAttempts: 3, jitter: "full" });
  });

  it.each<[string, RetryPolicyOptions, string]>([
    ["maxAttempts 0", { maxAttempts: 0 }, "maxAttempts must be a positive integer"],
    ["maxAttempts 1.5", { maxAttempts: 1.5 }, "maxAttempts must be a positive integer"],
    ["maxAttempts NaN", { maxAttempts: Number.NaN }, "got NaN"],
    [
      "maxAttempts Infinity",
      { maxAttempts: Number.POSITIVE_INFINITY },
      "maxAttempts must be a positive integer",
    ],
    ["maxAttempts string", { maxAttempts: "3" as unknown as number }, 'got "3"'],
    ["baseDelayMs -1", { baseDelayMs: -1 }, "baseDelayMs must be a finite number ≥ 0, got -1."],
    [
      "maxDelayMs Infinity",
      { maxDelayMs: Number.POSITIVE_INFINITY },
      "maxDelayMs must be a finite number ≥ 0",
    ],
    [
      "maxDelayMs < baseDelayMs",
      { baseDelayMs: 500, maxDelayMs: 100 },
      "maxDelayMs must be ≥ baseDelayMs (500)",
    ],
    [
      "jitter",
      { jitter: "random" as Jitter },
      'jitter must be one of "none", "full", "equal", "decorrelated"',
    ],
    ["deadlineMs 0", { deadlineMs: 0 }, "deadlineMs must be a finite number > 0"],
    ["deadlineMs -5", { deadlineMs: -5 }, "deadlineMs must be a finite number > 0"],
    [
      "honorRetryAfter",
      { honorRetryAfter: "yes" as unknown as boolean },
      "honorRetryAfter must be a boolean",
    ],
    ["maxRetryAfterMs -1", { maxRetryAfterMs: -1 }, "maxRetryAfterMs must be a number ≥ 0"],
    ["classify", { classify: 1 as unknown as RetryPolicyOptions["classify"] }, "classify must be a function"],
    ["random", { random: 0.5 as unknown as () => number }, "random must be a function, got 0.5."],
    ["now", { now: "now" as unknown as () => number }, "now must be a function"],
  ])("rejects %s", (_, options, message) => {
    expect(() => new RetryPolicy(options)).toThrow(InvalidConfigurationError);
    expect(() => new RetryPolicy(options)).toThrow(message);
  });

  it("rejects a non-object", () => {
    expect(() => new RetryPolicy(null as unknown as RetryPolicyOptions)).toThrow(
      "RetryPolicy: options must be an object, got null.",
    );
  });

  it("accepts edge values: base 0, maxRetryAfterMs Infinity, one attempt", () => {
    expect(
      () => new RetryPolicy({ baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: Number.POSITIVE_INFINITY }),
    ).not.toThrow();
    expect(() => new RetryPolicy({ maxAttempts: 1 })).not.toThrow();
  });
});

describe("RetryPolicy.backoff", () => {
  const policy = (jitter: Jitter, r = 0.5) => new RetryPolicy({ jitter, random: () => r });

  it("none: min(maxDelay, base · 2^(n−1))", () => {
    const p = policy("none");
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((n) => p.backoff(n, 0))).toEqual([
      100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000,
    ]);
  });

  it("full: random · exp", () => {
    expect(policy("full", 0.25).backoff(1, 0)).toBe(25);
    expect(policy("full", 0.25).backoff(3, 0)).toBe(100);
    expect(policy("full", 0.25).backoff(10, 0)).toBe(2500);
    expect(policy("full", 0).backoff(3, 0)).toBe(0);
  });

  it("equal: exp/2 + random · exp/2", () => {
    expect(policy("equal", 0.25).backoff(1, 0)).toBe(62.5);
    expect(policy("equal", 0.25).backoff(3, 0)).toBe(250);
    expect(policy("equal", 0).backoff(3, 0)).toBe(200);
    expect(policy("equal", 0.5).backoff(20, 0)).toBe(7500);
  });

  it("decorrelated: min(maxDelay, base + random · (prev·3 − base)), prev starting at base", () => {
    const p = policy("decorrelated", 0.5);
    expect(p.backoff(1, 0)).toBe(200);
    expect(p.backoff(1, 100)).toBe(200);
    expect(p.backoff(2, 1000)).toBe(1550);
    expect(p.backoff(3, 5000)).toBe(7550);
    expect(p.backoff(4, 10_000)).toBe(10_000);
    expect(p.backoff(2, Number.NaN)).toBe(200);
    expect(policy("decorrelated", 0).backoff(5, 5000)).toBe(100);
  });

  it("clamps a misbehaving random() into [0, 1]", () => {
    expect(policy("full", 1.5).backoff(1, 0)).toBe(100);
    expect(policy("full", -1).backoff(1, 0)).toBe(0);
    expect(policy("full", Number.NaN).backoff(1, 0)).toBe(0);
  });

  it("handles base 0 and huge retry numbers without NaN", () => {
    const p = new RetryPolicy({ baseDelayMs: 0, jitter: "none" });
    expect(p.backoff(5000, 0)).toBe(0);
  });

  it("rejects a retry number that is not a positive integer", () => {
    expect(() => policy("none").backoff(0, 0)).toThrow(InvalidConfigurationError);
    expect(() => policy("none").backoff(1.5, 0)).toThrow("retryNumber must be a positive integer, got 1.5.");
  });

  it("decorrelated jitter survives a previous delay so large that 3x overflows", () => {
    const p = new RetryPolicy({ jitter: "decorrelated", baseDelayMs: 1, maxDelayMs: 10, random: () => 0 });
    expect(p.backoff(1, 1e308)).toBe(1);
  });

  it("stays within [0, maxDelayMs] for every mode (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Jitter>("none", "full", "equal", "decorrelated"),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.integer({ min: 1, max: 5000 }),
        fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double()),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (jitter, baseDelayMs, extra, n, prev, r) => {
          const maxDelayMs = baseDelayMs + extra;
          const p = new RetryPolicy({ jitter, baseDelayMs, maxDelayMs, random: () => r });
          const delay = p.backoff(n, prev);
          return Number.isFinite(delay) && delay >= 0 && delay <= maxDelayMs;
        },
      ),
    );
  });
});

describe("RetryPolicy.decide", () => {
  const policy = new RetryPolicy({ jitter: "none", now: () => 0 });

  it("stops at once on a permanent error", () => {
    expect(policy.decide(err({ status: 404 }), { ...start, attempt: 1 })).toEqual({
      retry: false,
      why: "permanent",
      classification: permanentAs("HTTP 404"),
    });
    expect(policy.decide(new Error("?"), { ...start, attempt: 1 })).toMatchObject({
      retry: false,
      why: "permanent",
    });
  });

  it("backs off by retry number = attempts made so far", () => {
    expect(policy.decide(err({ status: 503 }), { ...start, attempt: 1 })).toEqual({
      retry: true,
      delayMs: 100,
      classification: transientAs("HTTP 503"),
    });
    expect(policy.decide(err({ status: 503 }), { ...start, attempt: 2 })).toMatchObject({ delayMs: 200 });
  });

  it("stops after maxAttempts", () => {
    expect(policy.decide(err({ status: 503 }), { ...start, attempt: 3 })).toEqual({
      retry: false,
      why: "max_attempts",
      classification: transientAs("HTTP 503"),
    });
  });

  it("waits exactly as long as Retry-After says, whatever the jitter", () => {
    const p = new RetryPolicy({ jitter: "full", random: () => 0 });
    const error = err({ status: 429, headers: { "retry-after": "2" } });
    expect(p.decide(error, { ...start, attempt: 1 })).toEqual({
      retry: true,
      delayMs: 2000,
      classification: { ...transientAs("HTTP 429"), retryAfterMs: 2000 },
    });
  });

  it("ignores Retry-After when honorRetryAfter is false", () => {
    const p = new RetryPolicy({ jitter: "none", honorRetryAfter: false });
    expect(p.decide(err({ status: 429, retryAfter: 2 }), { ...start, attempt: 1 })).toMatchObject({
      retry: true,
      delayMs: 100,
    });
  });

  it("stops when Retry-After exceeds maxRetryAfterMs", () => {
    expect(policy.decide(err({ status: 503, retryAfterMs: 60_001 }), { ...start, attempt: 1 })).toEqual({
      retry: false,
      why: "retry_after_too_long",
      classification: { ...transientAs("HTTP 503"), retryAfterMs: 60_001 },
    });
    expect(policy.decide(err({ status: 503, retryAfterMs: 60_000 }), { ...start, attempt: 1 })).toMatchObject(
      {
        retry: true,
        delayMs: 60_000,
      },
    );
  });

  it("stops when the next attempt would start after the deadline", () => {
    const p = new RetryPolicy({ jitter: "none", deadlineMs: 500, now: () => 1000 });
    const error = err({ status: 503 });
    // 1000 + 100 = 1100 = startedAt + deadline: still allowed.
    expect(p.decide(error, { attempt: 1, startedAt: 600, previousDelayMs: 0 })).toMatchObject({
      retry: true,
    });
    expect(p.decide(error, { attempt: 1, startedAt: 599, previousDelayMs: 0 })).toEqual({
      retry: false,
      why: "deadline",
      classification: transientAs("HTTP 503"),
    });
    // A Retry-After counts against the deadline too.
    expect(
      p.decide(err({ status: 503, retryAfterMs: 50 }), { attempt: 1, startedAt: 549, previousDelayMs: 0 }),
    ).toEqual({
      retry: false,
      why: "deadline",
      classification: { ...transientAs("HTTP 503"), retryAfterMs: 50 },
    });
  });

  it("lets a classifier override the built-in rules", () => {
    const special = new Error("quota");
    const p = new RetryPolicy({
      jitter: "none",
      classify: (error, fallback) =>
        error === special
          ? { retryable: true, outcome: "not_applied", reason: "quota" }
          : fallback.retryable
            ? undefined
            : fallback,
    });
    expect(p.classify(special)).toEqual(transientAs("quota"));
    expect(p.classify(err({ status: 503 }))).toEqual(transientAs("HTTP 503"));
    expect(p.decide(special, { ...start, attempt: 1 })).toMatchObject({ retry: true, delayMs: 100 });
  });

  it("resolves an HTTP-date Retry-After with its own clock", () => {
    const now = Date.UTC(2015, 9, 21, 7, 28, 0);
    const p = new RetryPolicy({ now: () => now });
    const error = err({ status: 503, headers: { "retry-after": "Wed, 21 Oct 2015 07:28:30 GMT" } });
    expect(p.decide(error, { attempt: 1, startedAt: now, previousDelayMs: 0 })).toMatchObject({
      retry: true,
      delayMs: 30_000,
    });
  });
});

describe("RetryPolicy.run", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2025, 0, 1));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("returns the first success without sleeping", async () => {
    const fn = vi.fn(async () => "ok");
    await expect(new RetryPolicy().run(fn)).resolves.toBe("ok");
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn).toHaveBeenCalledWith(1, undefined);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("retries a 429 carrying Retry-After: 2 after exactly 2000 ms", async () => {
    const fn = vi.fn(async (attempt: number) => {
      if (attempt === 1) throw err({ status: 429, headers: new Headers({ "Retry-After": "2" }) });
      return "ok";
    });
    const result = settle(new RetryPolicy().run(fn));
    await vi.advanceTimersByTimeAsync(1999);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(result).toEqual({ done: true, value: "ok" });
  });

  it("passes the attempt number and the signal to fn", async () => {
    const controller = new AbortController();
    const fn = vi.fn(async (attempt: number) => {
      if (attempt < 3) throw err({ code: "ECONNREFUSED" });
      return attempt;
    });
    const result = settle(new RetryPolicy({ jitter: "none" }).run(fn, { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(300);
    expect(result).toEqual({ done: true, value: 3 });
    expect(fn.mock.calls).toEqual([
      [1, controller.signal],
      [2, controller.signal],
      [3, controller.signal],
    ]);
  });

  it("rethrows a permanent error unchanged after exactly one call", async () => {
    const original = err({ status: 422 }, "invalid invoice");
    const fn = vi.fn(async () => {
      throw original;
    });
    const thrown = await new RetryPolicy().run(fn).catch((error: unknown) => error);
    expect(thrown).toBe(original);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("throws RetryExhaustedError after maxAttempts, backing off between attempts", async () => {
    const errors: Error[] = [];
    const fn = vi.fn(async (attempt: number) => {
      const error = err({ status: 503 }, `down ${attempt}`);
      errors.push(error);
      throw error;
    });
    const result = settle(new RetryPolicy({ jitter: "none" }).run(fn));
    await vi.advanceTimersByTimeAsync(99);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(result.done).toBe(true);
    expect(isRetryExhaustedError(result.error)).toBe(true);
    const exhausted = result.error as RetryExhaustedError;
    expect(exhausted).toBeInstanceOf(RetryExhaustedError);
    expect(exhausted.attempts).toBe(3);
    expect(exhausted.cause).toBe(errors[2]);
    expect(exhausted.message).toBe("Gave up after 3 attempts: down 3");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it("throws DeadlineExceededError when the next retry would start after the deadline", async () => {
    const fn = vi.fn(async (attempt: number) => {
      throw err({ code: "ECONNRESET" }, `reset ${attempt}`);
    });
    const result = settle(new RetryPolicy({ jitter: "none", maxAttempts: 10, deadlineMs: 300 }).run(fn));
    // Attempts at 0, 100 and 300 (= the deadline, allowed); the next would be at 700.
    await vi.advanceTimersByTimeAsync(300);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(result.done).toBe(true);
    expect(isDeadlineExceededError(result.error)).toBe(true);
    expect((result.error as Error).message).toBe("Retry deadline of 300 ms exceeded: reset 3");
    expect((result.error as Error).cause).toMatchObject({ message: "reset 3" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rethrows the original when Retry-After is longer than maxRetryAfterMs", async () => {
    const original = err({ status: 503, retryAfter: 120 });
    const fn = vi.fn(async () => {
      throw original;
    });
    await expect(new RetryPolicy().run(fn)).rejects.toBe(original);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("rethrows the original when shouldRetry vetoes, even with attempts left or none", async () => {
    const original = err({ code: "ECONNRESET" });
    const fn = vi.fn(async () => {
      throw original;
    });
    const shouldRetry = vi.fn(() => false);
    await expect(new RetryPolicy().run(fn, { shouldRetry })).rejects.toBe(original);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(shouldRetry).toHaveBeenCalledWith(original, {
      retryable: true,
      outcome: "unknown",
      reason: "ECONNRESET",
    });

    await expect(new RetryPolicy({ maxAttempts: 1 }).run(fn, { shouldRetry })).rejects.toBe(original);
    const exhausted = await new RetryPolicy({ maxAttempts: 1 }).run(fn).catch((error: unknown) => error);
    expect(exhausted).toBeInstanceOf(RetryExhaustedError);
    expect((exhausted as RetryExhaustedError).attempts).toBe(1);
  });

  it("awaits onRetry before sleeping, with the failed attempt, delay, error and classification", async () => {
    const failure = err({ status: 503 });
    const fn = vi.fn(async (attempt: number) => {
      if (attempt === 1) throw failure;
      return "ok";
    });
    const onRetry = vi.fn(() => new Promise<void>((resolve) => setTimeout(resolve, 500)));
    const result = settle(new RetryPolicy({ jitter: "none" }).run(fn, { onRetry }));
    await vi.advanceTimersByTimeAsync(0);
    expect(onRetry).toHaveBeenCalledWith({
      attempt: 1,
      delayMs: 100,
      error: failure,
      classification: transientAs("HTTP 503"),
    });
    await vi.advanceTimersByTimeAsync(599);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(result).toEqual({ done: true, value: "ok" });
  });

  it("feeds each delay back into decorrelated jitter", async () => {
    const fn = vi.fn(async () => {
      throw err({ status: 503 });
    });
    const delays: number[] = [];
    const policy = new RetryPolicy({ jitter: "decorrelated", random: () => 0.5, maxAttempts: 4 });
    const result = settle(policy.run(fn, { onRetry: ({ delayMs }) => void delays.push(delayMs) }));
    await vi.advanceTimersByTimeAsync(200 + 350 + 575);
    expect(delays).toEqual([200, 350, 575]);
    expect(fn).toHaveBeenCalledTimes(4);
    expect(result.error).toBeInstanceOf(RetryExhaustedError);
  });

  it("stops with AbortedError when aborted during the sleep, leaving no timer", async () => {
    const controller = new AbortController();
    const fn = vi.fn(async () => {
      throw err({ status: 503 });
    });
    const result = settle(
      new RetryPolicy({ jitter: "none", maxAttempts: 5 }).run(fn, { signal: controller.signal }),
    );
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort("user cancelled");
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toBeInstanceOf(AbortedError);
    expect((result.error as AbortedError).cause).toBe("user cancelled");
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("makes no attempt when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort("too late");
    const fn = vi.fn(async () => "ok");
    const thrown = await new RetryPolicy()
      .run(fn, { signal: controller.signal })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(AbortedError);
    expect((thrown as AbortedError).cause).toBe("too late");
    expect(fn).not.toHaveBeenCalled();
  });

  it("rethrows the attempt's own error when aborted during it, and tries no more", async () => {
    const controller = new AbortController();
    const reset = err({ code: "ECONNRESET" });
    const fn = vi.fn(async () => {
      controller.abort();
      throw reset;
    });
    await expect(new RetryPolicy().run(fn, { signal: controller.signal })).rejects.toBe(reset);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops with AbortedError when aborted from onRetry", async () => {
    const controller = new AbortController();
    const fn = vi.fn(async () => {
      throw err({ status: 503 });
    });
    const thrown = await new RetryPolicy()
      .run(fn, { signal: controller.signal, onRetry: () => controller.abort("stop") })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(AbortedError);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("sleep", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves after exactly ms", async () => {
    const result = settle(sleep(100));
    await vi.advanceTimersByTimeAsync(99);
    expect(result.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(result).toEqual({ done: true, value: undefined });
  });

  it("treats negative and NaN delays as 0", async () => {
    const a = settle(sleep(-5));
    const b = settle(sleep(Number.NaN));
    await vi.advanceTimersByTimeAsync(0);
    expect(a.done && b.done).toBe(true);
  });

  it("chains timers for delays beyond setTimeout's 2^31 − 1 ms limit", async () => {
    const max = 2_147_483_647;
    const result = settle(sleep(max + 10));
    await vi.advanceTimersByTimeAsync(max);
    expect(result.done).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(result.done).toBe(true);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort("stop");
    const thrown = await sleep(100, controller.signal).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(AbortedError);
    expect((thrown as AbortedError).cause).toBe("stop");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects on abort, clearing its timer and listener", async () => {
    const controller = new AbortController();
    const result = settle(sleep(100, controller.signal));
    await vi.advanceTimersByTimeAsync(40);
    const reason = new Error("shutdown");
    controller.abort(reason);
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toBeInstanceOf(AbortedError);
    expect((result.error as AbortedError).cause).toBe(reason);
    expect((result.error as AbortedError).message).toBe("Aborted: shutdown");
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("removes its abort listener when it completes", async () => {
    const controller = new AbortController();
    const result = settle(sleep(100, controller.signal));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(result.done).toBe(true);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });
});
