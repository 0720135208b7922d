import { InvalidKeyError } from "./errors.js";
import { sha256Hex } from "./fingerprint.js";

export const MAX_KEY_LENGTH = 255;

/**
 * The mark before a scope that is no LangGraph thread: `durableTool`'s own `scope` option, for calls
 * outside any graph. Recovery groups operations by thread and reports these as unscoped.
 */
export const TOOL_SCOPE_PREFIX = "tool-scope:";
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** Where a key came from; part of the stored key so the three kinds never collide. */
export const KeySource = {
  /** Passed by the caller or the model (`idempotency_key`). */
  EXPLICIT: "explicit",
  /** Derived by the tool from its arguments (an invoice number). */
  BUSINESS: "business",
  /** A hash of the canonical arguments and a scope (the LangGraph thread). */
  DERIVED: "derived",
} as const;
export type KeySource = (typeof KeySource)[keyof typeof KeySource];

const SOURCE_PREFIX: Record<KeySource, string> = { explicit: "k", business: "b", derived: "h" };

export interface KeyNamespace {
  tool: string;
  tenant?: string | undefined;
}

/** Checks a caller- or tool-supplied key: 1 to 255 printable ASCII characters. */
export function validateKey(key: unknown, what = "idempotency key"): string {
  if (typeof key !== "string") {
    throw new InvalidKeyError(`The ${what} must be a string, got ${key === null ? "null" : typeof key}.`);
  }
  if (key.length === 0)
    throw new InvalidKeyError(`The ${what} is empty; pass 1 to ${MAX_KEY_LENGTH} characters.`);
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(
      `The ${what} is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}. Hash long business identifiers first.`,
    );
  }
  if (!PRINTABLE_ASCII.test(key)) {
    const index = [...key].findIndex((ch) => !PRINTABLE_ASCII.test(ch));
    throw new InvalidKeyError(
      `The ${what} holds a character outside printable ASCII (0x20-0x7E) at position ${index}; encode it (e.g. hex or base64url) first.`,
    );
  }
  return key;
}

function validateNamePart(value: string, what: string): string {
  if (value.length === 0 || value.length > 128 || !PRINTABLE_ASCII.test(value)) {
    throw new InvalidKeyError(`The ${what} "${value}" must be 1 to 128 printable ASCII characters.`);
  }
  return encodeURIComponent(value);
}

/**
 * The ledger key of one operation: tenant, tool, key source and key. Tenant and tool are
 * percent-encoded so no choice of names can make two namespaces meet.
 */
export function namespacedKey(namespace: KeyNamespace, source: KeySource, localKey: string): string {
  const tenant = namespace.tenant === undefined ? "-" : `t=${validateNamePart(namespace.tenant, "tenant")}`;
  const tool = validateNamePart(namespace.tool, "tool name");
  return `${tenant}/${tool}/${SOURCE_PREFIX[source]}:${localKey}`;
}

/**
 * A key derived from the arguments' fingerprint and an optional scope (e.g. a LangGraph thread id).
 * The fingerprint has a fixed shape at the end, so no scope can be confused with another.
 */
export function deriveKey(argsFingerprint: string, scope: string | undefined): string {
  return sha256Hex(`${JSON.stringify(scope ?? null)}|${argsFingerprint}`);
}

/** What identifies an operation: where its key comes from, in order of preference. */
export interface KeySpec extends KeyNamespace {
  /** Passed by the caller or the model. */
  key?: string | undefined;
  /** Derived by the tool from its arguments. */
  businessKey?: string | undefined;
  /** Scope of a key derived from the arguments (e.g. a LangGraph thread id). */
  scope?: string | undefined;
}

/** The ledger key of an operation: explicit key, else business key, else the arguments' hash in its scope. */
export function operationKey(spec: KeySpec, argsFingerprint: string): { key: string; source: KeySource } {
  const namespace = { tool: spec.tool, tenant: spec.tenant };
  if (spec.key !== undefined) {
    return {
      key: namespacedKey(namespace, KeySource.EXPLICIT, validateKey(spec.key)),
      source: KeySource.EXPLICIT,
    };
  }
  if (spec.businessKey !== undefined) {
    const key = namespacedKey(namespace, KeySource.BUSINESS, validateKey(spec.businessKey, "business key"));
    return { key, source: KeySource.BUSINESS };
  }
  return {
    key: namespacedKey(namespace, KeySource.DERIVED, deriveKey(argsFingerprint, spec.scope)),
    source: KeySource.DERIVED,
  };
}

/** The idempotency key sent downstream for a ledger key (Stripe-style `Idempotency-Key`): `dt_` + 40 hex. */
export function downstreamIdempotencyKey(ledgerKey: string): string {
  return `dt_${sha256Hex(ledgerKey).slice(0, 40)}`;
}
