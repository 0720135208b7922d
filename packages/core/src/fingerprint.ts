/**
 * Fingerprints: a SHA-256 of the canonical JSON (RFC 8785) of a value, so equal arguments give
 * equal fingerprints whatever their key order, and different arguments differ.
 */
import * as crypto from "node:crypto";
import { type CanonicalizeOptions, canonicalize } from "./canonical.js";
import { InvalidConfigurationError } from "./errors.js";

/**
 * `"sha256:" + hex` of the UTF-8 bytes of `canonicalize(value, options)`.
 *
 * @throws InvalidPayloadError if the value has no canonical JSON form or is over `maxBytes`.
 */
export function fingerprint(value: unknown, options?: CanonicalizeOptions): string {
  return `sha256:${sha256Hex(canonicalize(value, options))}`;
}

/**
 * Lower-case hex SHA-256 of the UTF-8 bytes of `text`. (A lone surrogate is hashed as U+FFFD, as
 * the UTF-8 encoder replaces it; canonical JSON never contains one, it escapes them.)
 */
export function sha256Hex(text: string): string {
  return oneShotHash
    ? oneShotHash("sha256", text, "hex")
    : crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

// crypto.hash (Node >= 20.12) skips the Hash object: about twice as fast for the short inputs hashed here.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;

/**
 * Lower-case hex HMAC-SHA-256 of the UTF-8 bytes of `text`, keyed with `secret` (a string is used
 * as its UTF-8 bytes).
 *
 * @throws InvalidConfigurationError if `secret` is empty: a keyed hash with no key can be brute-forced.
 */
export function hmacSha256Hex(secret: string | Uint8Array, text: string): string {
  if (secret.length === 0) throw new InvalidConfigurationError("The HMAC secret must not be empty.");
  return crypto.createHmac("sha256", secret).update(text, "utf8").digest("hex");
}
