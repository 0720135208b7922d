import { InvalidConfigurationError } from "./errors.js";
import { hmacSha256Hex } from "./fingerprint.js";
import { encodeValue } from "./value-codec.js";

export interface RedactionOptions {
  /**
   * Sensitive paths, rooted at `args` or `result`: `args.card.number`, `result.token`,
   * `args.items[*].iban` (`*` matches any property or index).
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
  readonly #paths: Segment[][];
  readonly #secret: string | Uint8Array;

  constructor(options: RedactionOptions) {
    if (options.paths.length > 0 && (options.secret === undefined || options.secret.length === 0)) {
      throw new InvalidConfigurationError("Redaction needs a non-empty `secret` for the keyed hash.");
    }
    this.#paths = options.paths.map(parsePath);
    this.#secret = options.secret;
  }

  /** A redacted copy of `value` (never mutates it); `root` says which paths apply. */
  redact(root: "args" | "result", value: unknown): unknown {
    const paths = this.#paths.filter((segments) => segments[0] === root).map((segments) => segments.slice(1));
    if (paths.length === 0) return value;
    return this.#walk(value, paths);
  }

  hash(value: unknown): string {
    return `[REDACTED:${hmacSha256Hex(this.#secret, JSON.stringify(encodeValue(value))).slice(0, 32)}]`;
  }

  #walk(value: unknown, paths: Segment[][]): unknown {
    if (paths.some((segments) => segments.length === 0)) return this.hash(value);
    if (value === null || typeof value !== "object") return value;
    const childPaths = (name: string) =>
      paths
        .filter((segments) => segments[0] === "*" || segments[0] === name)
        .map((segments) => segments.slice(1));
    if (Array.isArray(value)) {
      return value.map((item, index) => {
        const matching = childPaths(String(index));
        return matching.length > 0 ? this.#walk(item, matching) : item;
      });
    }
    const copy: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(value)) {
      const matching = childPaths(name);
      copy[name] = matching.length > 0 ? this.#walk(child, matching) : child;
    }
    return copy;
  }
}
