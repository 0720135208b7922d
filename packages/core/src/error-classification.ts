import { ErrorCode, isDurableToolsError, messageOf } from "./errors.js";
import { ownKeys, safeRead } from "./guarded-reads.js";

/**
 * What a failed call may have done downstream. `not_applied`: it certainly did not act (a 503, a
 * refused connection). `unknown`: it may have acted and the acknowledgement was lost (a timeout, a
 * reset after the request was sent). A timeout is never taken to mean "did not happen".
 */
export type Outcome = "not_applied" | "unknown";

export interface ErrorClassification {
  /** Whether trying the same call again can succeed. */
  retryable: boolean;
  outcome: Outcome;
  /** Short human string naming the rule that matched: "HTTP 503", "ECONNRESET", "explicit"... */
  reason: string;
  /** How long the server asked us to wait before retrying (from Retry-After), in milliseconds. */
  retryAfterMs?: number;
}

/**
 * Overrides the built-in rules: receives the error and what `classifyError` made of it, returns a
 * classification or `undefined` to keep the fallback.
 */
export type Classifier = (error: unknown, fallback: ErrorClassification) => ErrorClassification | undefined;

/** How many nested `cause`s below the thrown error are inspected. */
export const MAX_CAUSE_DEPTH = 5;

type Verdict = Omit<ErrorClassification, "retryAfterMs">;
type Rule = Pick<ErrorClassification, "retryable" | "outcome">;

const TRANSIENT: Rule = { retryable: true, outcome: "not_applied" };
const IN_DOUBT: Rule = { retryable: true, outcome: "unknown" };
const PERMANENT: Rule = { retryable: false, outcome: "not_applied" };
const UNCLASSIFIED: Verdict = { ...PERMANENT, reason: "unclassified error" };

// A Map, not an object literal: a `code` of "constructor" must not hit Object.prototype.
const CODE_RULES: ReadonlyMap<string, Rule> = new Map([
  // Nothing reached the server.
  ["ECONNREFUSED", TRANSIENT],
  ["EAI_AGAIN", TRANSIENT],
  ["EHOSTUNREACH", TRANSIENT],
  ["ENETUNREACH", TRANSIENT],
  ["UND_ERR_CONNECT_TIMEOUT", TRANSIENT],
  // The name does not resolve: retrying will not change that.
  ["ENOTFOUND", PERMANENT],
  // The connection broke or stalled after the request may have been sent: the lost acknowledgement.
  ["ECONNRESET", IN_DOUBT],
  ["ETIMEDOUT", IN_DOUBT],
  ["EPIPE", IN_DOUBT],
  ["ECONNABORTED", IN_DOUBT],
  ["UND_ERR_SOCKET", IN_DOUBT],
  ["UND_ERR_HEADERS_TIMEOUT", IN_DOUBT],
  ["UND_ERR_BODY_TIMEOUT", IN_DOUBT],
  // Lock contention: the statement was refused, so nothing was written.
  ["SQLITE_BUSY", TRANSIENT],
  ["SQLITE_LOCKED", TRANSIENT],
  ["ER_LOCK_WAIT_TIMEOUT", TRANSIENT],
  ["ER_LOCK_DEADLOCK", TRANSIENT],
  ["55P03", TRANSIENT], // Postgres lock_not_available
  ["40001", TRANSIENT], // Postgres serialization_failure
  ["40P01", TRANSIENT], // Postgres deadlock_detected
]);

/** MySQL error numbers for drivers that report `errno` without `code`. */
const LOCK_ERRNOS: ReadonlyMap<number, string> = new Map([
  [1205, "ER_LOCK_WAIT_TIMEOUT"],
  [1213, "ER_LOCK_DEADLOCK"],
]);

/** node:sqlite reports `code: "ERR_SQLITE_ERROR"` with the SQLite result code in `errcode`. */
const SQLITE_PRIMARY_CODES: ReadonlyMap<number, string> = new Map([
  [5, "SQLITE_BUSY"],
  [6, "SQLITE_LOCKED"],
]);

const LOCK_TIMEOUT_MESSAGE = /lock (wait )?timeout/i;

const NAME_RULES: ReadonlyMap<string, Rule> = new Map([
  ["TimeoutError", IN_DOUBT],
  ["AbortError", IN_DOUBT],
  ["ZodError", PERMANENT],
  ["ValidationError", PERMANENT],
]);

/** Statuses that say the server refused the request before acting on it. */
const TRANSIENT_STATUSES = new Set([408, 423, 425, 429, 503]);

/** LangGraph's control-flow errors by name (`GraphBubbleUp` subclasses), for copies that lack the mark. */
const CONTROL_FLOW_NAMES: ReadonlySet<string> = new Set([
  "GraphInterrupt",
  "NodeInterrupt",
  "ParentCommand",
  "GraphDrained",
]);

/**
 * Whether an error is a control-flow signal rather than a failure: LangGraph's `interrupt()`
 * (`GraphInterrupt`, `NodeInterrupt`), a `Command` bubbling to the parent graph (`ParentCommand`), or
 * a drained graph. Recognised the way LangGraph itself does, by its `is_bubble_up` mark or the error
 * name, so core does not depend on LangGraph. Only the thrown error counts, not its causes: a signal
 * wrapped in another error no longer steers LangGraph either. The executor never records such an
 * error as a failure: it frees the key and rethrows it unchanged.
 */
export function isControlFlowSignal(error: unknown): boolean {
  if (safeRead(error, "is_bubble_up") === true) return true;
  const name = safeRead(error, "name");
  return typeof name === "string" && CONTROL_FLOW_NAMES.has(name);
}

/**
 * Classifies a failure of a tool's `submit`: whether to retry it and whether the downstream may
 * already have acted. The error and up to {@link MAX_CAUSE_DEPTH} nested `cause`s are inspected from
 * the outside in; on each, the rules apply in this order and the first match wins:
 *
 * 1. explicit `retryable` / `outcome` properties (set by {@link transient}, {@link permanent},
 *    {@link inDoubt}, and carried by durable-tools' own errors); without an `outcome`, the rules
 *    below on the same error give it (a `retryable: true` reset or timeout may have acted);
 * 2. an HTTP status (`status`, `statusCode`, `response.status`, `$metadata.httpStatusCode`);
 * 3. a Node/undici network `code`, or a database lock-contention `code` / `errno`;
 * 4. a lock-timeout message;
 * 5. the error `name` (`TimeoutError`, `AbortError`, `ZodError`, `ValidationError`).
 *
 * Anything else is permanent with outcome `not_applied`. A tool that may have acted before throwing
 * an unrecognisable error must say so by throwing `inDoubt(error)`.
 *
 * `retryAfterMs` is filled from the first error in the chain carrying `retryAfterMs`, `retryAfter`
 * (seconds) or a `retry-after` header; `now` resolves HTTP-date values.
 */
export function classifyError(error: unknown, now: number = Date.now()): ErrorClassification {
  const chain = causeChain(error);
  const verdict = classifyChain(chain, 0);
  const retryAfterMs = firstDefined(chain, (node) => retryAfterOf(node, now));
  return retryAfterMs === undefined ? verdict : { ...verdict, retryAfterMs };
}

/**
 * Parses a Retry-After value into milliseconds to wait: delta-seconds (`"120"`, `"1.5"`, or a
 * number of seconds) or an HTTP-date (IMF-fixdate, RFC 850 or asctime, always GMT). A date in the
 * past gives 0; anything else gives `undefined`. Never throws.
 */
export function parseRetryAfter(value: string | number, now: number = Date.now()): number | undefined {
  if (typeof value === "number") return secondsToMs(value);
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (DELTA_SECONDS.test(text)) return secondsToMs(Number(text));
  const date = parseHttpDate(text, now);
  if (date === undefined) return undefined;
  const delay = Math.max(0, date - now);
  return Number.isFinite(delay) ? delay : undefined;
}

/**
 * Marks an error as transient: worth retrying, and the downstream did not act. `retryAfterMs`
 * carries the wait the downstream asked for, if any.
 */
export function transient(error: unknown, options: { retryAfterMs?: number } = {}): Error {
  const retryAfterMs = options.retryAfterMs;
  const valid = typeof retryAfterMs === "number" && Number.isFinite(retryAfterMs) && retryAfterMs >= 0;
  return mark(error, TRANSIENT, valid ? retryAfterMs : undefined);
}

/** Marks an error as permanent: retrying cannot help, and the downstream did not act. */
export function permanent(error: unknown): Error {
  return mark(error, PERMANENT, undefined);
}

/**
 * Marks an error as in doubt: the downstream may already have acted. It stays retryable, but only
 * a caller that can tell (a reconcile hook, a downstream that deduplicates) should retry it.
 */
export function inDoubt(error: unknown): Error {
  return mark(error, IN_DOUBT, undefined);
}

/**
 * Wraps rather than mutates, so an error object the tool does not own (or a frozen one) is left
 * alone. The wrapper keeps the original's message, name and string `code`, so a stored failure
 * reads the same as the original.
 */
function mark(error: unknown, rule: Rule, retryAfterMs: number | undefined): Error {
  const marked = new Error(messageOf(error), { cause: error });
  if (error instanceof Error) {
    marked.name = error.name;
    const code = safeRead(error, "code");
    if (typeof code === "string") Object.assign(marked, { code });
  }
  Object.assign(marked, { retryable: rule.retryable, outcome: rule.outcome });
  if (retryAfterMs !== undefined) Object.assign(marked, { retryAfterMs });
  return marked;
}

function classifyChain(chain: readonly unknown[], start: number): Verdict {
  for (let i = start; i < chain.length; i++) {
    const node = chain[i];
    if (isOwnError(node)) return classifyDurable(node, chain, i);
    const verdict = explicitVerdict(node) ?? statusVerdict(node) ?? codeVerdict(node) ?? nameVerdict(node);
    if (verdict !== undefined) return verdict;
  }
  return UNCLASSIFIED;
}

/**
 * durable-tools' errors carry `retryable`. Their outcome is `not_applied`, except for an operation
 * in doubt, and for retry wrappers (exhausted, deadline) whose outcome is that of the last attempt's
 * error: giving up after a lost acknowledgement does not make the operation not-applied.
 */
function classifyDurable(
  node: { code: string; retryable: boolean },
  chain: readonly unknown[],
  index: number,
): Verdict {
  const reason = node.code;
  const explicit = outcomeOf(node);
  if (explicit !== undefined) return { retryable: node.retryable, outcome: explicit, reason };
  if (node.code === ErrorCode.OPERATION_IN_DOUBT)
    return { retryable: node.retryable, outcome: "unknown", reason };
  if (node.code === ErrorCode.RETRY_EXHAUSTED || node.code === ErrorCode.DEADLINE_EXCEEDED) {
    const last = classifyChain(chain, index + 1);
    return { retryable: node.retryable, outcome: last.outcome, reason };
  }
  return { retryable: node.retryable, outcome: "not_applied", reason };
}

/**
 * `retryable` / `outcome` as the error gives them. Without an `outcome`, the other rules on the same
 * error say what it may have done (an SDK marks a reset or a timeout `retryable: true` too: that is
 * no sign it did not act), else `not_applied`.
 */
function explicitVerdict(node: unknown): Verdict | undefined {
  const retryable = safeRead(node, "retryable");
  const outcome = outcomeOf(node);
  if (typeof retryable !== "boolean" && outcome === undefined) return undefined;
  const implied = () => (statusVerdict(node) ?? codeVerdict(node) ?? nameVerdict(node))?.outcome;
  return {
    retryable: typeof retryable === "boolean" ? retryable : false,
    outcome: outcome ?? implied() ?? "not_applied",
    reason: "explicit",
  };
}

function outcomeOf(node: unknown): Outcome | undefined {
  const outcome = safeRead(node, "outcome");
  return outcome === "not_applied" || outcome === "unknown" ? outcome : undefined;
}

function statusVerdict(node: unknown): Verdict | undefined {
  const status = firstDefined(
    [
      safeRead(node, "status"),
      safeRead(node, "statusCode"),
      safeRead(safeRead(node, "response"), "status"),
      safeRead(safeRead(node, "$metadata"), "httpStatusCode"),
    ],
    toHttpStatus,
  );
  if (status === undefined || status < 400) return undefined;
  const reason = `HTTP ${status}`;
  if (TRANSIENT_STATUSES.has(status)) return { ...TRANSIENT, reason };
  if (status >= 500) return { ...IN_DOUBT, reason };
  return { ...PERMANENT, reason };
}

function toHttpStatus(value: unknown): number | undefined {
  const status = typeof value === "string" && /^\d{3}$/.test(value) ? Number(value) : value;
  return typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599
    ? status
    : undefined;
}

function codeVerdict(node: unknown): Verdict | undefined {
  const code = safeRead(node, "code");
  if (typeof code === "string") {
    const rule = CODE_RULES.get(code);
    if (rule !== undefined) return { ...rule, reason: code };
    // Extended result codes such as SQLITE_BUSY_SNAPSHOT or SQLITE_LOCKED_SHAREDCACHE.
    if (code.startsWith("SQLITE_BUSY_") || code.startsWith("SQLITE_LOCKED_"))
      return { ...TRANSIENT, reason: code };
    if (code === "ERR_SQLITE_ERROR") {
      const errcode = safeRead(node, "errcode");
      // The low byte of an extended result code is the primary code.
      const primary = typeof errcode === "number" ? SQLITE_PRIMARY_CODES.get(errcode & 0xff) : undefined;
      if (primary !== undefined) return { ...TRANSIENT, reason: primary };
    }
  }
  const errno = safeRead(node, "errno");
  const lockErrno = typeof errno === "number" ? LOCK_ERRNOS.get(errno) : undefined;
  if (lockErrno !== undefined) return { ...TRANSIENT, reason: lockErrno };
  const message = safeRead(node, "message");
  if (typeof message === "string" && LOCK_TIMEOUT_MESSAGE.test(message)) {
    return { ...TRANSIENT, reason: "lock timeout" };
  }
  return undefined;
}

function nameVerdict(node: unknown): Verdict | undefined {
  const name = safeRead(node, "name");
  const rule = typeof name === "string" ? NAME_RULES.get(name) : undefined;
  return rule === undefined ? undefined : { ...rule, reason: name as string };
}

function retryAfterOf(node: unknown, now: number): number | undefined {
  const ms = safeRead(node, "retryAfterMs");
  if (typeof ms === "number" && Number.isFinite(ms) && ms >= 0) return ms;
  const seconds = safeRead(node, "retryAfter");
  if (typeof seconds === "number" || typeof seconds === "string") {
    const parsed = parseRetryAfter(seconds, now);
    if (parsed !== undefined) return parsed;
  }
  return firstDefined(
    [safeRead(node, "headers"), safeRead(safeRead(node, "response"), "headers")],
    (headers) => {
      const value = headerValue(headers, "retry-after");
      return value === undefined ? undefined : parseRetryAfter(value, now);
    },
  );
}

/** Reads a header from a WHATWG `Headers`-like object (`get`) or a plain object of any casing. */
function headerValue(headers: unknown, name: string): string | number | undefined {
  if (typeof headers !== "object" || headers === null) return undefined;
  const get = safeRead(headers, "get");
  if (typeof get === "function") {
    try {
      const value: unknown = get.call(headers, name);
      if (typeof value === "string" || typeof value === "number") return value;
    } catch {
      // Not a Headers after all: fall through to the plain-object lookup.
    }
  }
  for (const key of ownKeys(headers)) {
    if (key.toLowerCase() !== name) continue;
    const value = safeRead(headers, key);
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === "string" || typeof first === "number") return first;
  }
  return undefined;
}

/** The error and its nested causes, stopping at a cycle or after MAX_CAUSE_DEPTH causes. */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [error];
  let current = error;
  while (chain.length <= MAX_CAUSE_DEPTH) {
    const cause = safeRead(current, "cause");
    if (cause === undefined || cause === null || chain.includes(cause)) break;
    chain.push(cause);
    current = cause;
  }
  return chain;
}

function isOwnError(value: unknown): value is { code: string; retryable: boolean } {
  try {
    return isDurableToolsError(value);
  } catch {
    return false; // a proxy whose traps throw
  }
}

function firstDefined<T, R>(items: readonly T[], fn: (item: T) => R | undefined): R | undefined {
  for (const item of items) {
    const result = fn(item);
    if (result !== undefined) return result;
  }
  return undefined;
}

const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;

function secondsToMs(seconds: number): number | undefined {
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  const ms = Math.round(seconds * 1000);
  return Number.isFinite(ms) ? ms : undefined;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY = "(?:mon|tue|wed|thu|fri|sat|sun)";
const LONG_DAY = "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)";
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(`^${DAY},\\s+(\\d{1,2})\\s+${MONTH}\\s+(\\d{4})\\s+${TIME}\\s+GMT$`, "i");
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC_850 = new RegExp(`^${LONG_DAY},\\s+(\\d{1,2})-${MONTH}-(\\d{2})\\s+${TIME}\\s+GMT$`, "i");
// Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(`^${DAY}\\s+${MONTH}\\s+(\\d{1,2})\\s+${TIME}\\s+(\\d{4})$`, "i");

/**
 * Parses the three HTTP-date formats of RFC 9110 §5.6.7 as UTC. Done by hand rather than with
 * `Date.parse`, which reads asctime as local time and accepts much that is not a date.
 */
function parseHttpDate(text: string, now: number): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = RFC_850.exec(text);
  if (m) return utc(fullYear(Number(m[3]), now), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = ASCTIME.exec(text);
  if (m) return utc(Number(m[6]), m[1], Number(m[2]), m[3], m[4], m[5]);
  return undefined;
}

/** RFC 9110: a two-digit year more than 50 years in the future is in the previous century. */
function fullYear(twoDigits: number, now: number): number {
  const thisYear = Number.isFinite(now) ? new Date(now).getUTCFullYear() : new Date().getUTCFullYear();
  const year = thisYear - (thisYear % 100) + twoDigits;
  return year > thisYear + 50 ? year - 100 : year;
}

function utc(
  year: number,
  monthName: string | undefined,
  day: number,
  hour: string | undefined,
  minute: string | undefined,
  second: string | undefined,
): number | undefined {
  const month = MONTHS.indexOf((monthName ?? "").toLowerCase());
  const h = Number(hour);
  const min = Number(minute);
  const s = Number(second);
  if (month < 0 || day < 1 || h > 23 || min > 59 || s > 60) return undefined;
  // setUTCFullYear, not Date.UTC, which maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // Reject days the month does not have (31 Feb rolls over into March).
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(h, min, s, 0);
  const time = date.getTime();
  return Number.isFinite(time) ? time : undefined;
}
