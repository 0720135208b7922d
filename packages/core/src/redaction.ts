import { inspectObject, MAX_CANONICAL_DEPTH, type Shape } from "./canonical.js";
import { InvalidConfigurationError } from "./errors.js";
import { hmacSha256Hex } from "./fingerprint.js";
import { ownKeys, safeRead } from "./guarded-reads.js";
import { encodeValue, setOwn } from "./value-codec.js";

export interface RedactionOptions {
  /**
   * Sensitive paths, rooted at `args` or `result`: `args.card.number`, `result.token`,
   * `args.items[*].iban` (`*` matches any property or index). Paths name the JSON form of the
   * value, the one the fingerprint and the store see: inside a class instance with `toJSON()` they
   * follow what `toJSON()` returns, not the instance's own fields.
   */
  paths: readonly string[];
  /** Secret for the keyed hash that replaces a sensitive value; required so hashes cannot be brute-forced. */
  secret: string | Uint8Array;
}

type Segment = string; // a property name, an index as digits, or "*"

function parsePath(path: string): Segment[] {
  const segments = path
    .replace(/\[(\*|\d+)\]/g, ".$1")
    .split(".")
    .filter((segment) => segment.length > 0);
  const root = segments[0];
  if (segments.length < 2 || (root !== "args" && root !== "result")) {
    throw new InvalidConfigurationError(
      `Redaction path "${path}" must start with "args." or "result." and name at least one property, e.g. "args.card.number".`,
    );
  }
  return segments;
}

/**
 * Replaces sensitive values by `[REDACTED:<hmac>]` (a keyed SHA-256 of the value), so audit logs and
 * stored arguments can be shipped without the clear values while equal values stay correlatable.
 */
export class Redactor {
  /** The redacted paths under each root, without the root. */
  readonly #byRoot: { args: Segment[][]; result: Segment[][] };
  readonly #secret: string | Uint8Array;

  constructor(options: RedactionOptions) {
    if (options.paths.length > 0 && (options.secret === undefined || options.secret.length === 0)) {
      throw new InvalidConfigurationError("Redaction needs a non-empty `secret` for the keyed hash.");
    }
    const paths = options.paths.map(parsePath);
    const under = (root: string) => paths.filter((s) => s[0] === root).map((s) => s.slice(1));
    this.#byRoot = { args: under("args"), result: under("result") };
    this.#secret = options.secret;
  }

  /** A redacted copy of `value` (never mutates it); `root` says which paths apply. */
  redact(root: "args" | "result", value: unknown): unknown {
    const paths = this.#byRoot[root];
    if (paths.length === 0) return value;
    return this.#walk(value, paths, "");
  }

  hash(value: unknown): string {
    return `[REDACTED:${hmacSha256Hex(this.#secret, JSON.stringify(encodeValue(value))).slice(0, 32)}]`;
  }

  #walk(value: unknown, paths: Segment[][], key: string): unknown {
    if (paths.some((segments) => segments.length === 0)) return this.hash(value);
    // Descend into the value as JSON has it (a Date's string, a toJSON() result), because that is
    // what the fingerprint hashed, what the store keeps and what the paths name: copying a class
    // instance's own fields instead would keep a field toJSON() renames in clear (and drop private ones).
    const view = jsonView(value, key);
    if (view === null || typeof view !== "object") return value; // nothing inside to redact
    const childPaths = (name: string) =>
      paths
        .filter((segments) => segments[0] === "*" || segments[0] === name)
        .map((segments) => segments.slice(1));
    if (Array.isArray(view)) {
      return view.map((item, index) => {
        const matching = childPaths(String(index));
        return matching.length > 0 ? this.#walk(item, matching, String(index)) : item;
      });
    }
    const copy: Record<string, unknown> = {};
    for (const name of ownKeys(view)) {
      const child = safeRead(view, name);
      const matching = childPaths(name);
      setOwn(copy, name, matching.length > 0 ? this.#walk(child, matching, name) : child);
    }
    return copy;
  }
}

/**
 * What JSON makes of a value at property `key` (canonical.ts's rules, which the fingerprint
 * follows): a Date is its ISO string, a boxed primitive its primitive, a class instance with a
 * `toJSON()` method what that returns (again, until it is none of these). Anything else is itself:
 * plain objects, arrays and values JSON cannot hold (which canonicalisation refuses in arguments; a
 * result keeps them, and `encodeValue` decides how they are stored).
 */
function jsonView(value: unknown, key: string): unknown {
  let current = value;
  for (let depth = 0; depth < MAX_CANONICAL_DEPTH; depth++) {
    if (current === null || typeof current !== "object") return current;
    let shape: Shape;
    try {
      shape = inspectObject(current, "$", key);
    } catch {
      // What canonicalisation refuses (no toJSON, binary data, a throwing toJSON): kept as it is.
      return current;
    }
    if (shape.kind !== "replaced" || shape.value === current) return current;
    current = shape.value;
  }
  return current;
}
