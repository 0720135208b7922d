import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  classifyError,
  type ErrorClassification,
  inDoubt,
  MAX_CAUSE_DEPTH,
  parseRetryAfter,
  permanent,
  transient,
} from "./error-classification.js";
import {
  AbortedError,
  DeadlineExceededError,
  InvalidConfigurationError,
  LedgerUnavailableError,
  OperationInDoubtError,
  OperationInProgressError,
  RetryExhaustedError,
} from "./errors.js";
import type { OperationRecord } from "./record.js";

const transientAs = (reason: string): ErrorClassification => ({
  retryable: true,
  outcome: "not_applied",
  reason,
});
const inDoubtAs = (reason: string): ErrorClassification => ({ retryable: true, outcome: "unknown", reason });
const permanentAs = (reason: string): ErrorClassification => ({
  retryable: false,
  outcome: "not_applied",
  reason,
});
const UNCLASSIFIED = permanentAs("unclassified error");

/** An Error carrying extra properties, as HTTP clients and drivers throw them. */
function err(props: Record<string, unknown>, message = "boom"): Error {
  return Object.assign(new Error(message), props);
}

const record = { key: "t/k", state: "SUBMITTED" } as OperationRecord;

describe("classifyError: HTTP status", () => {
  const cases: Array<[number, ErrorClassification]> = [
    [408, transientAs("HTTP 408")],
    [423, transientAs("HTTP 423")],
    [425, transientAs("HTTP 425")],
    [429, transientAs("HTTP 429")],
    [503, transientAs("HTTP 503")],
    [500, inDoubtAs("HTTP 500")],
    [501, inDoubtAs("HTTP 501")],
    [502, inDoubtAs("HTTP 502")],
    [504, inDoubtAs("HTTP 504")],
    [599, inDoubtAs("HTTP 599")],
    [400, permanentAs("HTTP 400")],
    [401, permanentAs("HTTP 401")],
    [403, permanentAs("HTTP 403")],
    [404, permanentAs("HTTP 404")],
    [409, permanentAs("HTTP 409")],
    [418, permanentAs("HTTP 418")],
    [422, permanentAs("HTTP 422")],
    [499, permanentAs("HTTP 499")],
  ];
  const locations: Array<[string, (status: number) => Record<string, unknown>]> = [
    ["status", (status) => ({ status })],
    ["statusCode", (statusCode) => ({ statusCode })],
    ["response.status", (status) => ({ response: { status } })],
    ["$metadata.httpStatusCode", (httpStatusCode) => ({ $metadata: { httpStatusCode } })],
  ];

  for (const [where, make] of locations) {
    it.each(cases)(`${where} %i`, (status, expected) => {
      expect(classifyError(err(make(status)))).toEqual(expected);
    });
  }

  it("accepts a three-digit string status", () => {
    expect(classifyError(err({ status: "503" }))).toEqual(transientAs("HTTP 503"));
  });

  it("ignores non-error statuses and values that are not statuses", () => {
    expect(classifyError(err({ status: 200 }))).toEqual(UNCLASSIFIED);
    expect(classifyError(err({ status: 304 }))).toEqual(UNCLASSIFIED);
    expect(classifyError(err({ status: "failed" }))).toEqual(UNCLASSIFIED);
    expect(classifyError(err({ status: 5030 }))).toEqual(UNCLASSIFIED);
    expect(classifyError(err({ status: 503.5 }))).toEqual(UNCLASSIFIED);
  });

  it("takes the first usable status: status, statusCode, response.status, $metadata", () => {
    expect(classifyError(err({ status: 404, response: { status: 503 } }))).toEqual(permanentAs("HTTP 404"));
    expect(classifyError(err({ status: "n/a", response: { status: 503 } }))).toEqual(transientAs("HTTP 503"));
  });
});

describe("classifyError: codes", () => {
  it.each([
    ["ECONNREFUSED", transientAs("ECONNREFUSED")],
    ["EAI_AGAIN", transientAs("EAI_AGAIN")],
    ["EHOSTUNREACH", transientAs("EHOSTUNREACH")],
    ["ENETUNREACH", transientAs("ENETUNREACH")],
    ["UND_ERR_CONNECT_TIMEOUT", transientAs("UND_ERR_CONNECT_TIMEOUT")],
    ["ENOTFOUND", permanentAs("ENOTFOUND")],
    ["ECONNRESET", inDoubtAs("ECONNRESET")],
    ["ETIMEDOUT", inDoubtAs("ETIMEDOUT")],
    ["EPIPE", inDoubtAs("EPIPE")],
    ["ECONNABORTED", inDoubtAs("ECONNABORTED")],
    ["UND_ERR_SOCKET", inDoubtAs("UND_ERR_SOCKET")],
    ["UND_ERR_HEADERS_TIMEOUT", inDoubtAs("UND_ERR_HEADERS_TIMEOUT")],
    ["UND_ERR_BODY_TIMEOUT", inDoubtAs("UND_ERR_BODY_TIMEOUT")],
    ["SQLITE_BUSY", transientAs("SQLITE_BUSY")],
    ["SQLITE_LOCKED", transientAs("SQLITE_LOCKED")],
    ["SQLITE_BUSY_SNAPSHOT", transientAs("SQLITE_BUSY_SNAPSHOT")],
    ["SQLITE_LOCKED_SHAREDCACHE", transientAs("SQLITE_LOCKED_SHAREDCACHE")],
    ["ER_LOCK_WAIT_TIMEOUT", transientAs("ER_LOCK_WAIT_TIMEOUT")],
    ["ER_LOCK_DEADLOCK", transientAs("ER_LOCK_DEADLOCK")],
    ["55P03", transientAs("55P03")],
    ["40001", transientAs("40001")],
    ["40P01", transientAs("40P01")],
  ])("code %s", (code, expected) => {
    expect(classifyError(err({ code }))).toEqual(expected);
  });

  it("ignores unknown codes, including Object.prototype names", () => {
    expect(classifyError(err({ code: "EWHATEVER" }))).toEqual(UNCLASSIFIED);
    expect(classifyError(err({ code: "constructor" }))).toEqual(UNCLASSIFIED);
    expect(classifyError(err({ code: 503 }))).toEqual(UNCLASSIFIED);
  });

  it("recognises MySQL lock errnos without a code", () => {
    expect(classifyError(err({ errno: 1205 }))).toEqual(transientAs("ER_LOCK_WAIT_TIMEOUT"));
    expect(classifyError(err({ errno: 1213 }))).toEqual(transientAs("ER_LOCK_DEADLOCK"));
    expect(classifyError(err({ errno: 1062 }))).toEqual(UNCLASSIFIED);
  });

  it("recognises node:sqlite busy / locked result codes, extended ones included", () => {
    expect(classifyError(err({ code: "ERR_SQLITE_ERROR", errcode: 5 }))).toEqual(transientAs("SQLITE_BUSY"));
    expect(classifyError(err({ code: "ERR_SQLITE_ERROR", errcode: 517 }))).toEqual(
      transientAs("SQLITE_BUSY"),
    );
    expect(classifyError(err({ code: "ERR_SQLITE_ERROR", errcode: 6 }))).toEqual(
      transientAs("SQLITE_LOCKED"),
    );
    expect(classifyError(err({ code: "ERR_SQLITE_ERROR", errcode: 19 }))).toEqual(UNCLASSIFIED);
  });

  it.each([
    "Lock wait timeout exceeded; try restarting transaction",
    "canceling statement due to lock timeout",
    "LOCK TIMEOUT",
  ])("lock-timeout message %j", (message) => {
    expect(classifyError(new Error(message))).toEqual(transientAs("lock timeout"));
  });
});

describe("classifyError: names", () => {
  it.each([
    ["TimeoutError", inDoubtAs("TimeoutError")],
    ["AbortError", inDoubtAs("AbortError")],
    ["ZodError", permanentAs("ZodError")],
    ["ValidationError", permanentAs("ValidationError")],
  ])("name %s", (name, expected) => {
    const error = new Error("x");
    error.name = name;
    expect(classifyError(error)).toEqual(expected);
  });

  it("classifies DOMExceptions from AbortSignal.timeout() and abort()", () => {
    expect(classifyError(new DOMException("timed out", "TimeoutError"))).toEqual(inDoubtAs("TimeoutError"));
    expect(classifyError(new DOMException("aborted", "AbortError"))).toEqual(inDoubtAs("AbortError"));
  });
});

describe("classifyError: explicit properties", () => {
  it("uses retryable and outcome as given", () => {
    expect(classifyError(err({ retryable: true, outcome: "unknown" }))).toEqual(inDoubtAs("explicit"));
    expect(classifyError(err({ retryable: false, outcome: "unknown" }))).toEqual({
      retryable: false,
      outcome: "unknown",
      reason: "explicit",
    });
  });

  it("defaults a missing outcome to not_applied and a missing retryable to false", () => {
    expect(classifyError(err({ retryable: true }))).toEqual(transientAs("explicit"));
    expect(classifyError(err({ retryable: false }))).toEqual(permanentAs("explicit"));
    expect(classifyError(err({ outcome: "unknown" }))).toEqual({
      retryable: false,
      outcome: "unknown",
      reason: "explicit",
    });
    expect(classifyError({ retryable: true })).toEqual(transientAs("explicit"));
  });

  it("ignores properties of the wrong type", () => {
    expect(classifyError(err({ retryable: "yes", outcome: "maybe" }))).toEqual(UNCLASSIFIED);
  });

  it("wins over every other rule on the same error", () => {
    expect(classifyError(err({ retryable: false, status: 503 }))).toEqual(permanentAs("explicit"));
    expect(classifyError(err({ retryable: true, code: "ENOTFOUND" }))).toEqual(transientAs("explicit"));
  });

  it("applies to durable-tools' own errors, reason = their code", () => {
    expect(classifyError(new LedgerUnavailableError("down"))).toEqual(transientAs("LEDGER_UNAVAILABLE"));
    expect(classifyError(new InvalidConfigurationError("bad"))).toEqual(permanentAs("INVALID_CONFIGURATION"));
    expect(classifyError(new AbortedError("stop"))).toEqual(permanentAs("ABORTED"));
    expect(classifyError(new OperationInProgressError(record, 10))).toEqual(
      transientAs("OPERATION_IN_PROGRESS"),
    );
  });

  it("keeps an operation in doubt in doubt", () => {
    expect(classifyError(new OperationInDoubtError(record, "timeout"))).toEqual({
      retryable: false,
      outcome: "unknown",
      reason: "OPERATION_IN_DOUBT",
    });
  });

  it("gives retry wrappers the outcome of the last attempt's error", () => {
    const reset = err({ code: "ECONNRESET" });
    const busy = err({ status: 503 });
    expect(classifyError(new RetryExhaustedError(3, reset))).toEqual(inDoubtAs("RETRY_EXHAUSTED"));
    expect(classifyError(new RetryExhaustedError(3, busy))).toEqual(transientAs("RETRY_EXHAUSTED"));
    expect(classifyError(new DeadlineExceededError(1000, reset))).toEqual(inDoubtAs("DEADLINE_EXCEEDED"));
    expect(classifyError(new DeadlineExceededError(1000))).toEqual(transientAs("DEADLINE_EXCEEDED"));
  });
});

describe("classifyError: unclassified", () => {
  it.each([
    ["a plain Error", new Error("nope")],
    ["a TypeError", new TypeError("x is not a function")],
    ["a string", "failed"],
    ["null", null],
    ["undefined", undefined],
    ["a number", 42],
    ["an empty object", {}],
  ])("%s is permanent and not applied", (_, error) => {
    expect(classifyError(error)).toEqual(UNCLASSIFIED);
  });

  it("survives throwing getters", () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("no");
        },
      },
    );
    expect(classifyError(hostile)).toEqual(UNCLASSIFIED);
    const getter = Object.defineProperty(new Error("x"), "status", {
      get() {
        throw new Error("no");
      },
    });
    expect(classifyError(getter)).toEqual(UNCLASSIFIED);
  });
});

describe("classifyError: cause chain", () => {
  it("finds a code on the cause (undici's 'fetch failed')", () => {
    const error = new TypeError("fetch failed", { cause: err({ code: "ECONNREFUSED" }) });
    expect(classifyError(error)).toEqual(transientAs("ECONNREFUSED"));
  });

  it("finds a status several causes down", () => {
    const inner = err({ status: 502 });
    const error = new Error("a", { cause: new Error("b", { cause: inner }) });
    expect(classifyError(error)).toEqual(inDoubtAs("HTTP 502"));
  });

  it("lets the outermost match win", () => {
    const error = err({ code: "ECONNRESET" }, "outer");
    error.cause = err({ status: 404 });
    expect(classifyError(error)).toEqual(inDoubtAs("ECONNRESET"));
    expect(classifyError(inDoubt(err({ status: 404 })))).toEqual(inDoubtAs("explicit"));
  });

  it(`inspects at most ${MAX_CAUSE_DEPTH} causes`, () => {
    const nest = (depth: number): unknown => {
      let error: unknown = err({ code: "ECONNREFUSED" });
      for (let i = 0; i < depth; i++) error = new Error(`wrap ${i}`, { cause: error });
      return error;
    };
    expect(classifyError(nest(MAX_CAUSE_DEPTH))).toEqual(transientAs("ECONNREFUSED"));
    expect(classifyError(nest(MAX_CAUSE_DEPTH + 1))).toEqual(UNCLASSIFIED);
  });

  it("stops on a cycle", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    a.cause = b;
    expect(classifyError(a)).toEqual(UNCLASSIFIED);
  });
});

describe("classifyError: Retry-After", () => {
  const now = Date.UTC(2015, 9, 21, 7, 28, 0);

  it("reads retryAfterMs, then retryAfter (seconds), then headers", () => {
    expect(classifyError(err({ status: 429, retryAfterMs: 1500 })).retryAfterMs).toBe(1500);
    expect(classifyError(err({ status: 429, retryAfter: 2 })).retryAfterMs).toBe(2000);
    expect(classifyError(err({ status: 429, retryAfter: "3" })).retryAfterMs).toBe(3000);
    expect(
      classifyError(err({ status: 429, retryAfterMs: 10, retryAfter: 2, headers: { "retry-after": "3" } }))
        .retryAfterMs,
    ).toBe(10);
    expect(
      classifyError(err({ status: 429, retryAfter: 2, headers: { "retry-after": "3" } })).retryAfterMs,
    ).toBe(2000);
  });

  it("reads plain-object headers in any casing, on the error or its response", () => {
    expect(classifyError(err({ status: 429, headers: { "Retry-After": "2" } }))).toEqual({
      ...transientAs("HTTP 429"),
      retryAfterMs: 2000,
    });
    expect(classifyError(err({ status: 503, headers: { "RETRY-AFTER": 4 } })).retryAfterMs).toBe(4000);
    expect(classifyError(err({ status: 503, headers: { "retry-after": ["5"] } })).retryAfterMs).toBe(5000);
    expect(
      classifyError(err({ response: { status: 503, headers: { "Retry-After": "6" } } })).retryAfterMs,
    ).toBe(6000);
  });

  it("reads WHATWG Headers", () => {
    const response = { status: 429, headers: new Headers({ "Retry-After": "7" }) };
    expect(classifyError(err({ response }))).toEqual({ ...transientAs("HTTP 429"), retryAfterMs: 7000 });
    expect(
      classifyError(err({ status: 503, headers: new Headers({ "retry-after": "8" }) })).retryAfterMs,
    ).toBe(8000);
  });

  it("resolves an HTTP-date against now", () => {
    const error = err({ status: 503, headers: { "retry-after": "Wed, 21 Oct 2015 07:28:30 GMT" } });
    expect(classifyError(error, now)).toEqual({ ...transientAs("HTTP 503"), retryAfterMs: 30_000 });
    expect(classifyError(error, now + 60_000).retryAfterMs).toBe(0);
  });

  it("finds Retry-After on a cause", () => {
    const http = err({ status: 429, headers: { "retry-after": "2" } });
    expect(classifyError(new Error("call failed", { cause: http }))).toEqual({
      ...transientAs("HTTP 429"),
      retryAfterMs: 2000,
    });
    expect(classifyError(transient(http))).toEqual({ ...transientAs("explicit"), retryAfterMs: 2000 });
  });

  it("leaves retryAfterMs out when there is none or it is garbage", () => {
    expect(classifyError(err({ status: 429 }))).not.toHaveProperty("retryAfterMs");
    expect(classifyError(err({ status: 429, headers: { "retry-after": "soon" } }))).not.toHaveProperty(
      "retryAfterMs",
    );
    expect(classifyError(err({ status: 429, retryAfterMs: -1, retryAfter: Number.NaN }))).not.toHaveProperty(
      "retryAfterMs",
    );
  });
});

describe("parseRetryAfter", () => {
  const now = Date.UTC(2015, 9, 21, 7, 28, 0);

  it.each([
    ["0", 0],
    ["2", 2000],
    ["120", 120_000],
    ["1.5", 1500],
    ["0.25", 250],
    [" 7 ", 7000],
    ["Wed, 21 Oct 2015 07:28:30 GMT", 30_000],
    ["Wed, 21 Oct 2015 08:28:00 GMT", 3_600_000],
    ["Wed, 21 Oct 2015 07:28:00 GMT", 0],
    ["Tue, 20 Oct 2015 07:28:00 GMT", 0],
    ["Wednesday, 21-Oct-15 07:28:30 GMT", 30_000],
    ["Wed Oct 21 07:28:30 2015", 30_000],
    ["Thu Oct  1 07:28:00 2015", 0],
    ["Sat Oct 31 07:28:00 2015", 10 * 86_400_000],
  ])("%j → %d ms", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it("parses asctime as GMT, not local time", () => {
    expect(parseRetryAfter("Sun Nov  6 08:49:37 1994", Date.UTC(1994, 10, 6, 8, 49, 0))).toBe(37_000);
  });

  it("takes numbers as seconds", () => {
    expect(parseRetryAfter(3, now)).toBe(3000);
    expect(parseRetryAfter(0.5, now)).toBe(500);
    expect(parseRetryAfter(-1, now)).toBeUndefined();
    expect(parseRetryAfter(Number.NaN, now)).toBeUndefined();
    expect(parseRetryAfter(Number.POSITIVE_INFINITY, now)).toBeUndefined();
  });

  it.each([
    "",
    "soon",
    "-1",
    "1e3",
    "0x10",
    "1.",
    ".5",
    "Infinity",
    "9".repeat(400),
    "2015-10-21T07:28:30Z",
    "Wed, 32 Oct 2015 07:28:30 GMT",
    "Mon, 30 Feb 2015 07:28:30 GMT",
    "Wed, 21 Foo 2015 07:28:30 GMT",
    "Wed, 21 Oct 2015 24:00:00 GMT",
    "Wed, 21 Oct 2015 07:28:30 PST",
    "hello 2020",
  ])("%j → undefined", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  it("never throws and returns undefined or a finite number ≥ 0 (property)", () => {
    const httpDate = fc
      .date({ min: new Date(Date.UTC(1970, 0, 1)), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true })
      .map((d) => d.toUTCString());
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), httpDate, fc.double().map(String)),
        fc.oneof(fc.integer(), fc.double()),
        (value, at) => {
          const result = parseRetryAfter(value, at);
          return result === undefined || (Number.isFinite(result) && result >= 0);
        },
      ),
    );
    fc.assert(
      fc.property(fc.double(), (value) => {
        const result = parseRetryAfter(value, now);
        return result === undefined || (Number.isFinite(result) && result >= 0);
      }),
    );
  });

  it("round-trips Date#toUTCString (IMF-fixdate) (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400 }), (seconds) => {
        const at = now + seconds * 1000;
        return parseRetryAfter(new Date(at).toUTCString(), now) === seconds * 1000;
      }),
    );
  });
});

describe("transient / permanent / inDoubt", () => {
  it("wrap an Error, keeping its message, name, code and the original as cause", () => {
    const original = Object.assign(new RangeError("card declined"), { code: "card_declined" });
    const marked = permanent(original);
    expect(marked).toBeInstanceOf(Error);
    expect(marked).not.toBe(original);
    expect(marked.message).toBe("card declined");
    expect(marked.name).toBe("RangeError");
    expect(marked.cause).toBe(original);
    expect((marked as Error & { code?: string }).code).toBe("card_declined");
    expect(classifyError(marked)).toEqual(permanentAs("explicit"));
  });

  it("wrap non-Errors", () => {
    const marked = transient("rate limited");
    expect(marked).toBeInstanceOf(Error);
    expect(marked.message).toBe("rate limited");
    expect(marked.cause).toBe("rate limited");
    expect(classifyError(marked)).toEqual(transientAs("explicit"));
    expect(inDoubt({ id: 1 }).message).toBe('{"id":1}');
  });

  it("carry the explicit properties", () => {
    expect(classifyError(transient(new Error("x")))).toEqual(transientAs("explicit"));
    expect(classifyError(permanent(err({ status: 503 })))).toEqual(permanentAs("explicit"));
    expect(classifyError(inDoubt(new Error("x")))).toEqual(inDoubtAs("explicit"));
    expect(transient(new Error("x"))).toMatchObject({ retryable: true, outcome: "not_applied" });
    expect(permanent(new Error("x"))).toMatchObject({ retryable: false, outcome: "not_applied" });
    expect(inDoubt(new Error("x"))).toMatchObject({ retryable: true, outcome: "unknown" });
  });

  it("transient carries a valid retryAfterMs and drops an invalid one", () => {
    expect(classifyError(transient(new Error("x"), { retryAfterMs: 1500 }))).toEqual({
      ...transientAs("explicit"),
      retryAfterMs: 1500,
    });
    expect(transient(new Error("x"), { retryAfterMs: -5 })).not.toHaveProperty("retryAfterMs");
    expect(transient(new Error("x"), { retryAfterMs: Number.NaN })).not.toHaveProperty("retryAfterMs");
  });

  it("leave the original untouched, even a frozen one", () => {
    const original = Object.freeze(new Error("frozen"));
    const marked = inDoubt(original);
    expect(original).not.toHaveProperty("retryable");
    expect(marked.cause).toBe(original);
  });
});
