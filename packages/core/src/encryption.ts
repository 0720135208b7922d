/**
 * Encryption at rest: a {@link RecordCodec} that seals every stored value (a record's `args` and
 * `result`, an event's `data`) with AES-256-GCM, bound to its record key and to the field it is
 * stored in, under a keyring that supports rotation. See `docs/encryption.md`.
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { InvalidConfigurationError, RecordCodecError } from "./errors.js";
import type { RecordCodec } from "./record-codec.js";
import type { JsonValue } from "./value-codec.js";

/**
 * The keys an {@link aesGcmCodec} encrypts and decrypts with. Each key is 32 bytes, given as bytes
 * or as the base64 of 32 bytes (see {@link generateKey}). New values are encrypted with
 * `activeKeyId`; stored values are decrypted with the key their envelope names, so a retired key
 * must stay listed for as long as values written with it are read.
 */
export interface AesGcmKeyring {
  keys: Record<string, Uint8Array | string>;
  activeKeyId: string;
}

/** The `$enc` marker of an envelope written by {@link aesGcmCodec}. */
export const AES_GCM_ALGORITHM = "A256GCM";

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_KEY_ID_LENGTH = 64;
const KEY_ID = /^[\x20-\x7e]{1,64}$/;
/** Standard base64, padded. Canonical form is checked separately (see {@link strictBase64}). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ENVELOPE_FIELDS = ["$enc", "v", "kid", "iv", "tag", "ct"] as const;
/**
 * The `v` of an envelope whose associated data binds the field (`args`, `result`, `event:<id>`) as
 * well as the record key. Envelopes without `v` (written before, or by a caller that names no field)
 * are bound to the record key only.
 */
export const AES_GCM_FIELD_BOUND_VERSION = 2;

/** Base64 of 32 random bytes: a fresh key for an {@link AesGcmKeyring}. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/**
 * A codec that encrypts each value with AES-256-GCM under the keyring's active key, with a fresh
 * random 12-byte IV. The associated data is the record key (`context`) and the field the value is
 * stored in (`field`: `args`, `result`, `event:<event id>`), so a value copied to another record,
 * or to another field or event of the same record, does not decrypt. The stored form is the JSON
 * envelope `{ "$enc": "A256GCM", "v": 2, "kid", "iv", "tag", "ct" }` (binary fields in base64).
 *
 * Compatibility: an envelope without `v` (written before fields were bound, or encoded without a
 * `field`) is bound to the record key alone and still decodes, wherever in that record it is found.
 * Adding or removing `v` makes an envelope fail authentication, so one form cannot pass for the other.
 *
 * `decode` throws `RecordCodecError` for anything it cannot authenticate: a tampered or truncated
 * envelope, a value moved from another record or another field, an unknown key id, or a value that
 * is not an envelope at all. It never returns a partial result.
 *
 * The keyring is validated and its keys copied here: later changes to the caller's object or
 * buffers have no effect (build a new codec to rotate).
 *
 * @throws InvalidConfigurationError if a key is not 32 bytes, a key id is not 1 to 64 printable
 *   ASCII characters, or `activeKeyId` is not one of the keys.
 */
export function aesGcmCodec(keyring: AesGcmKeyring): RecordCodec {
  const keys = readKeyring(keyring);
  const activeKeyId = keyring.activeKeyId;
  const activeKey = keys.get(activeKeyId) as KeyObject;

  return {
    encode(value: JsonValue, context: string, field?: string): JsonValue {
      const plaintext = JSON.stringify(value) as string | undefined;
      if (plaintext === undefined) {
        throw new RecordCodecError(
          `Cannot encrypt the value of record ${quote(context)}: it has no JSON form (undefined, a function or a symbol).`,
        );
      }
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", activeKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(associatedData(context, field));
      const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return {
        $enc: AES_GCM_ALGORITHM,
        ...(field === undefined ? {} : { v: AES_GCM_FIELD_BOUND_VERSION }),
        kid: activeKeyId,
        iv: iv.toString("base64"),
        tag: cipher.getAuthTag().toString("base64"),
        ct: ct.toString("base64"),
      };
    },

    decode(stored: JsonValue, context: string, field?: string): JsonValue {
      const where = `record ${quote(context)}`;
      if (typeof stored !== "object" || stored === null || Array.isArray(stored)) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${where}: expected an encrypted envelope {"$enc":"${AES_GCM_ALGORITHM}",...} but found ${describe(stored)}. The value was stored without encryption or by another codec.`,
        );
      }
      if (!Object.hasOwn(stored, "$enc")) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${where}: expected an encrypted envelope {"$enc":"${AES_GCM_ALGORITHM}",...} but found a plain object without "$enc". The value was stored without encryption or by another codec.`,
        );
      }
      if (stored.$enc !== AES_GCM_ALGORITHM) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${where}: its "$enc" marker is not "${AES_GCM_ALGORITHM}" (unsupported algorithm, or a plain object that has a "$enc" key).`,
        );
      }
      const kid = stored.kid;
      if (typeof kid !== "string" || !KEY_ID.test(kid)) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${where}: malformed envelope, "kid" is ${kid === undefined ? "missing" : "not 1 to 64 printable ASCII characters"}.`,
        );
      }
      const withKey = `${where} with key id ${quote(kid)}`;
      for (const field of Object.keys(stored)) {
        if (!(ENVELOPE_FIELDS as readonly string[]).includes(field)) {
          throw new RecordCodecError(
            `Cannot decrypt the value of ${withKey}: malformed envelope, unexpected field ${quote(field.slice(0, 64))}.`,
          );
        }
      }
      const bound = Object.hasOwn(stored, "v");
      if (bound && stored.v !== AES_GCM_FIELD_BOUND_VERSION) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${withKey}: unsupported envelope version "v" (this codec reads ${AES_GCM_FIELD_BOUND_VERSION} and envelopes without "v").`,
        );
      }
      if (bound && field === undefined) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${withKey}: the envelope is bound to the field it was stored in, and the caller did not say which field it read.`,
        );
      }
      const iv = binaryField(stored, "iv", IV_BYTES, withKey);
      const tag = binaryField(stored, "tag", TAG_BYTES, withKey);
      const ct = binaryField(stored, "ct", undefined, withKey);

      const key = keys.get(kid);
      if (key === undefined) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${withKey}: key id ${quote(kid)} is not in the keyring (known: ${[...keys.keys()].map(quote).join(", ")}). Keep a retired key listed while values written with it are still read.`,
        );
      }

      let plaintext: string;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(associatedData(context, bound ? field : undefined));
        decipher.setAuthTag(tag);
        const bytes = Buffer.concat([decipher.update(ct), decipher.final()]);
        plaintext = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
      } catch (error) {
        throw new RecordCodecError(
          `Cannot decrypt the value of ${withKey}${bound ? ` in ${quote(field as string)}` : ""}: authentication failed. The ciphertext, IV or tag was altered or truncated, the value was moved from another record${bound ? " or from another field or event" : ""}, its version marker was changed, or key ${quote(kid)} is not the key it was written with.`,
          error,
        );
      }
      try {
        return JSON.parse(plaintext) as JsonValue;
      } catch {
        // No cause: the parser's message quotes the plaintext.
        throw new RecordCodecError(
          `Cannot decrypt the value of ${withKey}: the authenticated plaintext is not JSON (it was not written by this codec).`,
        );
      }
    },
  };
}

/**
 * The AEAD associated data: the record key alone for an envelope without `v`; for a field-bound one,
 * a NUL (which no record key holds: keys are printable ASCII) and the JSON of [key, field], so no
 * pair can be spelled like another pair or like a bare key.
 */
function associatedData(context: string, field: string | undefined): Buffer {
  return Buffer.from(field === undefined ? context : `\u0000${JSON.stringify([context, field])}`, "utf8");
}

/** Validates the keyring and copies its keys into KeyObjects, keyed by id. */
function readKeyring(keyring: AesGcmKeyring): Map<string, KeyObject> {
  if (typeof keyring !== "object" || keyring === null) {
    throw new InvalidConfigurationError("The encryption keyring must be an object { keys, activeKeyId }.");
  }
  const { keys, activeKeyId } = keyring;
  if (typeof keys !== "object" || keys === null || Array.isArray(keys)) {
    throw new InvalidConfigurationError(
      "The encryption keyring's keys must be an object mapping key ids to 32-byte keys.",
    );
  }
  const result = new Map<string, KeyObject>();
  for (const [id, material] of Object.entries(keys)) {
    if (!KEY_ID.test(id)) {
      throw new InvalidConfigurationError(
        `Encryption key id ${quote(id.slice(0, MAX_KEY_ID_LENGTH + 1))} is invalid: key ids must be 1 to ${MAX_KEY_ID_LENGTH} printable ASCII characters (0x20-0x7E).`,
      );
    }
    result.set(id, createSecretKey(keyBytes(id, material)));
  }
  if (typeof activeKeyId !== "string") {
    throw new InvalidConfigurationError("The encryption keyring's activeKeyId must be a string.");
  }
  if (!result.has(activeKeyId)) {
    throw new InvalidConfigurationError(
      `The active encryption key id ${quote(activeKeyId)} is not in the keyring (known: ${[...result.keys()].map(quote).join(", ") || "none"}).`,
    );
  }
  return result;
}

/** The 32 key bytes, in a new buffer (the caller may reuse or wipe theirs). */
function keyBytes(id: string, material: unknown): Buffer {
  let bytes: Buffer;
  if (typeof material === "string") {
    if (!BASE64.test(material)) {
      throw new InvalidConfigurationError(
        `Encryption key ${quote(id)} is not valid base64; give 32 bytes or the base64 of 32 bytes (see generateKey()).`,
      );
    }
    bytes = Buffer.from(material, "base64");
  } else if (material instanceof Uint8Array) {
    bytes = Buffer.from(material);
  } else {
    throw new InvalidConfigurationError(
      `Encryption key ${quote(id)} must be a Uint8Array of 32 bytes or the base64 of 32 bytes.`,
    );
  }
  if (bytes.length !== KEY_BYTES) {
    throw new InvalidConfigurationError(
      `Encryption key ${quote(id)} is ${bytes.length} bytes; AES-256 needs exactly ${KEY_BYTES} bytes.`,
    );
  }
  return bytes;
}

/** A base64 envelope field, decoded; only the canonical encoding is accepted (no malleable spelling). */
function binaryField(
  envelope: { [key: string]: JsonValue },
  field: "iv" | "tag" | "ct",
  expectedBytes: number | undefined,
  where: string,
): Buffer {
  const text = envelope[field];
  if (text === undefined) {
    throw new RecordCodecError(
      `Cannot decrypt the value of ${where}: malformed envelope, "${field}" is missing.`,
    );
  }
  const bytes = typeof text === "string" ? strictBase64(text) : undefined;
  if (bytes === undefined) {
    throw new RecordCodecError(
      `Cannot decrypt the value of ${where}: malformed envelope, "${field}" is not canonical base64.`,
    );
  }
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) {
    throw new RecordCodecError(
      `Cannot decrypt the value of ${where}: malformed envelope, "${field}" is ${bytes.length} bytes instead of ${expectedBytes}.`,
    );
  }
  return bytes;
}

function strictBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  // Rejects non-zero padding bits, so each byte string has exactly one accepted spelling.
  return bytes.toString("base64") === text ? bytes : undefined;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

/** The kind of a value, never its content (it may be plaintext). */
function describe(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
