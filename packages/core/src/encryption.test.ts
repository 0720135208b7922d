import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AES_GCM_ALGORITHM,
  AES_GCM_FIELD_BOUND_VERSION,
  type AesGcmKeyring,
  aesGcmCodec,
  generateKey,
} from "./encryption.js";
import { ErrorCode, isDurableToolsError, isRecordCodecError } from "./errors.js";
import type { LedgerEventInput } from "./events.js";
import type { OperationRecord } from "./record.js";
import { codeEvent, codeRecord, type RecordCodec } from "./record-codec.js";
import type { JsonValue } from "./value-codec.js";

const K1 = generateKey();
const K2 = generateKey();
const SECRET = "card 4242-4242-4242-4242 cvc 123";
const CONTEXT = "tenant-a:payments.charge:order-17";

type Envelope = { $enc: string; kid: string; iv: string; tag: string; ct: string };

function codec(keys: AesGcmKeyring["keys"] = { k1: K1 }, activeKeyId = "k1"): RecordCodec {
  return aesGcmCodec({ keys, activeKeyId });
}

function envelope(value: JsonValue): Envelope {
  return value as unknown as Envelope;
}

/** What a store keeps: the encoded value after a trip through JSON. */
function stored(c: RecordCodec, value: JsonValue, context = CONTEXT): Envelope {
  return JSON.parse(JSON.stringify(c.encode(value, context))) as Envelope;
}

function flipBit(base64: string, bit: number): string {
  const bytes = Buffer.from(base64, "base64");
  bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7));
  return bytes.toString("base64");
}

/** The RecordCodecError `fn` throws (fails the test if it returns or throws anything else). */
function codecError(fn: () => unknown): Error {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isRecordCodecError(thrown), `expected a RecordCodecError, got ${String(thrown)}`).toBe(true);
  const error = thrown as Error;
  expect(error.message).not.toContain(SECRET);
  expect(error.message).not.toContain("4242");
  return error;
}

function configError(fn: () => unknown): string {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isDurableToolsError(thrown) && thrown.code === ErrorCode.INVALID_CONFIGURATION).toBe(true);
  return (thrown as Error).message;
}

/**
 * `fc.jsonValue()` can hold -0, which JSON (hence every store) writes as 0; a stored result never
 * holds it (`encodeValue` tags -0), so the property is over what JSON can represent.
 */
const jsonValue = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as JsonValue);

describe("generateKey", () => {
  it("returns the base64 of 32 random bytes", () => {
    const key = generateKey();
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    expect(Buffer.from(key, "base64").toString("base64")).toBe(key);
    expect(generateKey()).not.toBe(key);
  });
});

describe("aesGcmCodec: round trip", () => {
  it.each<[string, JsonValue]>([
    ["null", null],
    ["true", true],
    ["false", false],
    ["zero", 0],
    ["a number", -12.5e-7],
    ["the empty string", ""],
    ["a string", SECRET],
    ["unicode", "é😀\u2028\u0000"],
    ["an empty array", []],
    ["an empty object", {}],
    ["a nested value", { a: [1, "two", true, null, { b: 2.5 }], "odd key": "", é: "😀" }],
    ["a plain object that looks like an envelope", { $enc: "A256GCM", kid: "k1", iv: "", tag: "", ct: "" }],
  ])("keeps %s", (_, value) => {
    const c = codec();
    expect(c.decode(stored(c, value), CONTEXT)).toStrictEqual(value);
  });

  it("keeps own __proto__ keys as data", () => {
    const c = codec();
    const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as JsonValue;
    const back = c.decode(stored(c, value), CONTEXT) as Record<string, unknown>;
    expect(back).toStrictEqual(value);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it("property: decode(encode(x)) deep-equals x, and two encodes differ", () => {
    const c = codec({ k1: K1, k2: K2 }, "k2");
    fc.assert(
      fc.property(jsonValue, fc.string({ minLength: 1 }), (value, context) => {
        const a = stored(c, value, context);
        const b = stored(c, value, context);
        expect(c.decode(a, context)).toStrictEqual(value);
        expect(c.decode(b, context)).toStrictEqual(value);
        expect(a.iv).not.toBe(b.iv);
        expect(a.ct === b.ct && a.tag === b.tag).toBe(false);
      }),
    );
  });

  it("stores a JSON-safe envelope with the active key id and no plaintext", () => {
    const c = codec({ k1: K1, k2: K2 }, "k2");
    const value = { note: SECRET, nested: [SECRET, { also: SECRET }] };
    const encoded = c.encode(value, CONTEXT);
    expect(JSON.parse(JSON.stringify(encoded))).toStrictEqual(encoded);
    const env = envelope(encoded);
    expect(Object.keys(env)).toEqual(["$enc", "kid", "iv", "tag", "ct"]);
    expect(env.$enc).toBe(AES_GCM_ALGORITHM);
    expect(env.$enc).toBe("A256GCM");
    expect(env.kid).toBe("k2");
    expect(Buffer.from(env.iv, "base64")).toHaveLength(12);
    expect(Buffer.from(env.tag, "base64")).toHaveLength(16);
    const text = JSON.stringify(encoded);
    for (const needle of [SECRET, "4242-4242", '"note"', '"nested"', '"also"']) {
      expect(text).not.toContain(needle);
    }
    const raw = Buffer.from(env.ct, "base64").toString("latin1");
    for (const needle of ["card", "4242", "note"]) expect(raw).not.toContain(needle);
  });

  it("property: the ciphertext holds no substring of the plaintext", () => {
    const c = codec();
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{12,64}$/), (secret) => {
        const env = stored(c, { secret }, CONTEXT);
        const text = JSON.stringify(env) + Buffer.from(env.ct, "base64").toString("latin1");
        expect(text).not.toContain(secret.slice(0, 12));
      }),
    );
  });
});

describe("aesGcmCodec: tampering and foreign values throw RecordCodecError", () => {
  const c = codec({ k1: K1, k2: K2 }, "k1");
  const good = stored(c, { note: SECRET });

  it("decodes the untouched envelope", () => {
    expect(c.decode({ ...good }, CONTEXT)).toStrictEqual({ note: SECRET });
  });

  it.each<[string, (env: Envelope) => Envelope]>([
    ["a bit flipped in ct", (env) => ({ ...env, ct: flipBit(env.ct, 0) })],
    [
      "a bit flipped in the last byte of ct",
      (env) => ({ ...env, ct: flipBit(env.ct, 8 * Buffer.from(env.ct, "base64").length - 1) }),
    ],
    ["a bit flipped in iv", (env) => ({ ...env, iv: flipBit(env.iv, 37) })],
    ["a bit flipped in tag", (env) => ({ ...env, tag: flipBit(env.tag, 127) })],
    [
      "ct truncated",
      (env) => ({ ...env, ct: Buffer.from(env.ct, "base64").subarray(0, -1).toString("base64") }),
    ],
    [
      "ct extended",
      (env) => ({
        ...env,
        ct: Buffer.concat([Buffer.from(env.ct, "base64"), Buffer.of(0)]).toString("base64"),
      }),
    ],
    ["ct emptied", (env) => ({ ...env, ct: "" })],
    ["kid swapped to another listed key", (env) => ({ ...env, kid: "k2" })],
    ["iv and tag of another encryption", (env) => ({ ...stored(c, { note: SECRET }), ct: env.ct })],
  ])("%s: authentication fails, naming the key id", (_, tamper) => {
    const error = codecError(() => c.decode(tamper(good) as unknown as JsonValue, CONTEXT));
    expect(error.message).toMatch(/authentication failed/);
    expect(error.message).toContain(`with key id "${tamper(good).kid}"`);
    expect(error.message).toContain(CONTEXT);
  });

  it("property: flipping any single bit of ct, iv or tag always throws", () => {
    const value = { note: SECRET };
    fc.assert(
      fc.property(fc.constantFrom("ct", "iv", "tag"), fc.nat(), jsonValue, (field, n, extra) => {
        const env = stored(c, [value, extra]);
        const bits = Buffer.from(env[field as "ct"], "base64").length * 8;
        const tampered = { ...env, [field]: flipBit(env[field as "ct"], n % bits) };
        codecError(() => c.decode(tampered, CONTEXT));
      }),
    );
  });

  it("a value moved to another record fails (the record key is the AAD)", () => {
    const error = codecError(() => c.decode({ ...good }, `${CONTEXT}x`));
    expect(error.message).toMatch(/authentication failed/);
    expect(error.message).toMatch(/moved from another record/);
    codecError(() => c.decode({ ...good }, ""));
  });

  it("property: any other context fails", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        codecError(() => c.decode(stored(c, 1, a), b));
      }),
    );
  });

  it.each(["$enc", "kid", "iv", "tag", "ct"] as const)("a stripped %s is reported as missing", (field) => {
    const env: Record<string, string> = { ...good };
    delete env[field];
    const error = codecError(() => c.decode(env, CONTEXT));
    expect(error.message).toContain(field === "$enc" ? 'without "$enc"' : `"${field}" is missing`);
  });

  it.each<[string, (env: Envelope) => JsonValue, RegExp]>([
    [
      "iv too short",
      (env) => ({ ...env, iv: Buffer.alloc(8).toString("base64") }),
      /"iv" is 8 bytes instead of 12/,
    ],
    [
      "tag truncated",
      (env) => ({ ...env, tag: Buffer.from(env.tag, "base64").subarray(0, 12).toString("base64") }),
      /"tag" is 12 bytes instead of 16/,
    ],
    [
      "ct not base64",
      (env) => ({ ...env, ct: `${env.ct.slice(0, -4)}!!!!` }),
      /"ct" is not canonical base64/,
    ],
    [
      "ct unpadded",
      () => ({ ...stored(c, 1), ct: stored(c, 1).ct.replace(/=+$/, "") }),
      /"ct" is not canonical base64/,
    ],
    [
      "tag base64url",
      (env) => ({ ...env, tag: Buffer.from(env.tag, "base64").toString("base64url") }),
      /"tag" is not canonical base64/,
    ],
    ["iv a number", (env) => ({ ...env, iv: 12 }), /"iv" is not canonical base64/],
    ["kid a number", (env) => ({ ...env, kid: 1 }), /"kid" is not 1 to 64 printable ASCII/],
    ["kid empty", (env) => ({ ...env, kid: "" }), /"kid" is not 1 to 64 printable ASCII/],
    ["an unexpected field", (env) => ({ ...env, extra: 1 }), /unexpected field "extra"/],
    ["another algorithm", (env) => ({ ...env, $enc: "A128GCM" }), /"\$enc" marker is not "A256GCM"/],
  ])("a malformed envelope (%s) is rejected", (_, malform, message) => {
    const error = codecError(() => c.decode(malform(good), CONTEXT));
    expect(error.message).toMatch(message);
  });

  it("rejects a non-canonical base64 spelling of the same bytes", () => {
    // One byte of ct ("1"): two base64 characters, the second with 4 padding bits that must be zero.
    const env = stored(c, 1);
    expect(env.ct).toMatch(/^[A-Za-z0-9+/]{2}==$/);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const second = alphabet[alphabet.indexOf(env.ct[1] as string) ^ 1] as string;
    const spelled = `${env.ct[0]}${second}==`;
    expect(Buffer.from(spelled, "base64")).toStrictEqual(Buffer.from(env.ct, "base64"));
    expect(c.decode(env, CONTEXT)).toBe(1);
    const error = codecError(() => c.decode({ ...env, ct: spelled }, CONTEXT));
    expect(error.message).toMatch(/"ct" is not canonical base64/);
  });

  it.each<[string, JsonValue, RegExp]>([
    ["a string", SECRET, /found a string/],
    ["a number", 4242, /found a number/],
    ["a boolean", true, /found a boolean/],
    ["null", null, /found null/],
    ["an array", [SECRET], /found an array/],
    ["a plain object", { note: SECRET }, /plain object without "\$enc"/],
    ["an object with another $enc", { $enc: SECRET }, /"\$enc" marker is not "A256GCM"/],
  ])(
    "a clear value (%s) where ciphertext was expected is rejected without echoing it",
    (_, value, message) => {
      const error = codecError(() => c.decode(value, CONTEXT));
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/expected an encrypted envelope|marker/);
    },
  );

  it("an unknown kid is reported with its id, also for names on Object.prototype", () => {
    for (const kid of ["k9", "constructor", "__proto__", "toString"]) {
      const error = codecError(() => c.decode({ ...good, kid }, CONTEXT));
      expect(error.message).toContain(`key id ${JSON.stringify(kid)} is not in the keyring`);
      expect(error.message).toContain('(known: "k1", "k2")');
    }
  });

  it("carries the RECORD_CODEC code and is not retryable", () => {
    const error = codecError(() => c.decode({ ...good, ct: flipBit(good.ct, 3) }, CONTEXT));
    expect(error).toMatchObject({ code: ErrorCode.RECORD_CODEC, retryable: false, name: "RecordCodecError" });
  });
});

describe("aesGcmCodec: key rotation", () => {
  it("reads values written with a retired key while it stays listed", () => {
    const before = codec({ k1: K1 }, "k1");
    const old = stored(before, { v: SECRET });
    expect(old.kid).toBe("k1");

    const after = codec({ k1: K1, k2: K2 }, "k2");
    const fresh = stored(after, { v: "new" });
    expect(fresh.kid).toBe("k2");
    expect(after.decode(old, CONTEXT)).toStrictEqual({ v: SECRET });
    expect(after.decode(fresh, CONTEXT)).toStrictEqual({ v: "new" });
    // A reader not yet rotated cannot read the new key's values, and says so.
    expect(codecError(() => before.decode(fresh, CONTEXT)).message).toContain(
      'key id "k2" is not in the keyring',
    );

    const dropped = codec({ k2: K2 }, "k2");
    expect(dropped.decode(fresh, CONTEXT)).toStrictEqual({ v: "new" });
    const error = codecError(() => dropped.decode(old, CONTEXT));
    expect(error.message).toContain('with key id "k1"');
    expect(error.message).toContain('key id "k1" is not in the keyring (known: "k2")');
  });

  it("re-encrypting an old value moves it to the active key", () => {
    const ring = codec({ k1: K1, k2: K2 }, "k2");
    const old = stored(codec({ k1: K1 }, "k1"), [1, 2, 3]);
    const moved = stored(ring, ring.decode(old, CONTEXT));
    expect(moved.kid).toBe("k2");
    expect(codec({ k2: K2 }, "k2").decode(moved, CONTEXT)).toStrictEqual([1, 2, 3]);
  });

  it("accepts the same key as bytes or base64", () => {
    const bytes = randomBytes(32);
    const a = codec({ k: bytes }, "k");
    const b = codec({ k: bytes.toString("base64") }, "k");
    const c = codec({ k: new Uint8Array(bytes) }, "k");
    expect(b.decode(stored(a, "x"), CONTEXT)).toBe("x");
    expect(a.decode(stored(c, "y"), CONTEXT)).toBe("y");
  });

  it("copies the keyring: later mutation of the caller's buffers or object has no effect", () => {
    const bytes = new Uint8Array(randomBytes(32));
    const original = new Uint8Array(bytes);
    const keyring: AesGcmKeyring = { keys: { a: bytes, b: K2 }, activeKeyId: "a" };
    const c = aesGcmCodec(keyring);
    const before = stored(c, "v");
    bytes.fill(0);
    keyring.activeKeyId = "b";
    keyring.keys.a = K1;
    delete keyring.keys.b;
    const after = stored(c, "w");
    expect(after.kid).toBe("a");
    expect(c.decode(before, CONTEXT)).toBe("v");
    expect(aesGcmCodec({ keys: { a: original }, activeKeyId: "a" }).decode(after, CONTEXT)).toBe("w");
  });
});

describe("aesGcmCodec: keyring validation", () => {
  it.each<[string, AesGcmKeyring, string]>([
    [
      "a short byte key",
      { keys: { k1: new Uint8Array(16) }, activeKeyId: "k1" },
      'Encryption key "k1" is 16 bytes; AES-256 needs exactly 32 bytes.',
    ],
    [
      "a long byte key",
      { keys: { k1: K1, k2: new Uint8Array(33) }, activeKeyId: "k1" },
      'Encryption key "k2" is 33 bytes; AES-256 needs exactly 32 bytes.',
    ],
    [
      "a base64 key of 24 bytes",
      { keys: { k1: randomBytes(24).toString("base64") }, activeKeyId: "k1" },
      'Encryption key "k1" is 24 bytes; AES-256 needs exactly 32 bytes.',
    ],
    [
      "an empty key",
      { keys: { k1: "" }, activeKeyId: "k1" },
      'Encryption key "k1" is 0 bytes; AES-256 needs exactly 32 bytes.',
    ],
    [
      "a key that is not base64",
      { keys: { k1: "this is not a base64 key at all!!!!!!!!!!!!" }, activeKeyId: "k1" },
      'Encryption key "k1" is not valid base64; give 32 bytes or the base64 of 32 bytes (see generateKey()).',
    ],
    [
      "a 32-character passphrase",
      { keys: { k1: "correct horse battery staple 123" }, activeKeyId: "k1" },
      'Encryption key "k1" is not valid base64; give 32 bytes or the base64 of 32 bytes (see generateKey()).',
    ],
    [
      "a key of another type",
      { keys: { k1: 42 as unknown as string }, activeKeyId: "k1" },
      'Encryption key "k1" must be a Uint8Array of 32 bytes or the base64 of 32 bytes.',
    ],
    [
      "an active key id not in keys",
      { keys: { k1: K1, k2: K2 }, activeKeyId: "k3" },
      'The active encryption key id "k3" is not in the keyring (known: "k1", "k2").',
    ],
    [
      "no keys",
      { keys: {}, activeKeyId: "k1" },
      'The active encryption key id "k1" is not in the keyring (known: none).',
    ],
    [
      "an active key id named like a prototype property",
      { keys: { k1: K1 }, activeKeyId: "constructor" },
      'The active encryption key id "constructor" is not in the keyring (known: "k1").',
    ],
    [
      "an empty key id",
      { keys: { "": K1 }, activeKeyId: "" },
      'Encryption key id "" is invalid: key ids must be 1 to 64 printable ASCII characters (0x20-0x7E).',
    ],
    [
      "a key id of 65 characters",
      { keys: { ["k".repeat(65)]: K1 }, activeKeyId: "k".repeat(65) },
      `Encryption key id "${"k".repeat(65)}" is invalid: key ids must be 1 to 64 printable ASCII characters (0x20-0x7E).`,
    ],
    [
      "a key id with a non-ASCII character",
      { keys: { clé: K1 }, activeKeyId: "clé" },
      'Encryption key id "clé" is invalid: key ids must be 1 to 64 printable ASCII characters (0x20-0x7E).',
    ],
    [
      "a key id with a newline",
      { keys: { "k\n1": K1 }, activeKeyId: "k\n1" },
      'Encryption key id "k\\n1" is invalid: key ids must be 1 to 64 printable ASCII characters (0x20-0x7E).',
    ],
    [
      "an active key id that is not a string",
      { keys: { k1: K1 }, activeKeyId: 1 as unknown as string },
      "The encryption keyring's activeKeyId must be a string.",
    ],
    [
      "keys that are not an object",
      { keys: null as unknown as AesGcmKeyring["keys"], activeKeyId: "k1" },
      "The encryption keyring's keys must be an object mapping key ids to 32-byte keys.",
    ],
  ])("rejects %s", (_, keyring, message) => {
    expect(configError(() => aesGcmCodec(keyring))).toBe(message);
  });

  it("rejects a keyring that is not an object", () => {
    expect(configError(() => aesGcmCodec(undefined as unknown as AesGcmKeyring))).toBe(
      "The encryption keyring must be an object { keys, activeKeyId }.",
    );
  });

  it("accepts key ids of 1 and 64 printable characters, spaces included", () => {
    const long = "~".repeat(64);
    const c = aesGcmCodec({ keys: { a: K1, [long]: K2, "key 2024-01": K1 }, activeKeyId: long });
    expect(stored(c, 1).kid).toBe(long);
    expect(c.decode(stored(c, 1), CONTEXT)).toBe(1);
  });

  it("requires padded base64 for a string key", () => {
    const padded = generateKey();
    expect(padded.endsWith("=")).toBe(true);
    expect(() => codec({ k1: padded })).not.toThrow();
    expect(configError(() => codec({ k1: padded.slice(0, -1) }))).toMatch(/not valid base64/);
  });
});

describe("aesGcmCodec: values are bound to their field as well as their record", () => {
  const c = codec({ k1: K1, k2: K2 }, "k1");
  const boundStored = (value: JsonValue, context: string, field: string) =>
    JSON.parse(JSON.stringify(c.encode(value, context, field))) as Envelope & { v: number };

  it("writes a versioned envelope that decodes only in its own field", () => {
    const env = boundStored({ note: SECRET }, CONTEXT, "result");
    expect(Object.keys(env)).toEqual(["$enc", "v", "kid", "iv", "tag", "ct"]);
    expect(env.v).toBe(AES_GCM_FIELD_BOUND_VERSION);
    expect(env.v).toBe(2);
    expect(c.decode(env, CONTEXT, "result")).toStrictEqual({ note: SECRET });
    const error = codecError(() => c.decode(env, CONTEXT, "args"));
    expect(error.message).toBe(
      `Cannot decrypt the value of record "${CONTEXT}" with key id "k1" in "args": authentication failed. The ciphertext, IV or tag was altered or truncated, the value was moved from another record or from another field or event, its version marker was changed, or key "k1" is not the key it was written with.`,
    );
    codecError(() => c.decode(env, `${CONTEXT}x`, "result"));
  });

  it("property: a value decodes under exactly the (record key, field) it was written for", () => {
    const pair = fc.tuple(fc.string(), fc.string());
    fc.assert(
      fc.property(jsonValue, pair, pair, (value, [key, field], [otherKey, otherField]) => {
        const env = boundStored(value, key, field);
        expect(c.decode(env, key, field)).toStrictEqual(value);
        if (key !== otherKey || field !== otherField) codecError(() => c.decode(env, otherKey, otherField));
      }),
    );
  });

  it("property: no field-bound envelope passes for a key-bound one or the reverse", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (key, field) => {
        const { v: _v, ...stripped } = boundStored(1, key, field);
        codecError(() => c.decode(stripped, key, field));
        codecError(() => c.decode(stripped, key));
        const legacy = stored(c, 1, key);
        codecError(() => c.decode({ ...legacy, v: 2 }, key, field));
        // A key-bound envelope whose record key spells the pair: the leading NUL keeps them apart.
        const spelled = stored(c, 1, JSON.stringify([key, field]));
        codecError(() => c.decode({ ...spelled, v: 2 }, key, field));
      }),
    );
  });

  it("still reads envelopes written before fields were bound (no `v`), in any field of their record", () => {
    const legacy = stored(c, { note: SECRET }, CONTEXT);
    expect(Object.keys(legacy)).toEqual(["$enc", "kid", "iv", "tag", "ct"]);
    expect(c.decode(legacy, CONTEXT, "args")).toStrictEqual({ note: SECRET });
    expect(c.decode(legacy, CONTEXT, "result")).toStrictEqual({ note: SECRET });
    expect(c.decode(legacy, CONTEXT)).toStrictEqual({ note: SECRET });
    codecError(() => c.decode(legacy, `${CONTEXT}x`, "args"));
  });

  it.each<[string, JsonValue, string | undefined, string]>([
    ["a version it does not know", 3, "result", 'unsupported envelope version "v"'],
    ["a version that is not a number", "2", "result", 'unsupported envelope version "v"'],
    [
      "a field-bound envelope read without a field",
      2,
      undefined,
      "the envelope is bound to the field it was stored in, and the caller did not say which field it read",
    ],
  ])("rejects %s", (_, v, field, message) => {
    const env = { ...boundStored(1, CONTEXT, "result"), v };
    expect(codecError(() => c.decode(env, CONTEXT, field)).message).toContain(message);
  });
});

describe("codeRecord / codeEvent with aesGcmCodec", () => {
  const c = codec();
  const KEY = "-/transfer/k:t-1";
  const record: OperationRecord = {
    key: KEY,
    tool: "transfer",
    fingerprint: "sha256:00",
    state: "CONFIRMED",
    attempt: 1,
    owner: null,
    fencingToken: 1,
    leaseExpiresAt: null,
    createdAt: 1,
    updatedAt: 2,
    expiresAt: null,
    args: { to: "attacker-iban", amount: 1 },
    result: { transferId: "tr_real" },
  };
  const event = (id: string, data: { [key: string]: JsonValue }): LedgerEventInput => ({
    id,
    type: "transition",
    key: KEY,
    tool: "transfer",
    attempt: 1,
    at: 2,
    data,
  });
  const atRest = codeRecord(record, c, "encode");
  const claimed = codeEvent(event("w/1#1", { args: record.args as JsonValue }), c, "encode");
  const confirmed = codeEvent(event("w/1#4", { result: record.result as JsonValue }), c, "encode");

  it("round-trips a record and events, each value in a field-bound envelope", () => {
    expect(codeRecord(atRest, c, "decode")).toStrictEqual(record);
    expect(codeEvent(claimed, c, "decode").data).toStrictEqual({ args: record.args });
    for (const value of [atRest.args, atRest.result, claimed.data, confirmed.data]) {
      expect((value as { v?: unknown }).v).toBe(2);
    }
  });

  it.each<[string, () => JsonValue | undefined]>([
    ["the record's args", () => atRest.args],
    ["an event's data", () => claimed.data as JsonValue],
    ["the result of an event", () => confirmed.data as JsonValue],
  ])("refuses %s copied over the record's result", (_, source) => {
    const swapped = { ...atRest, result: source() as JsonValue };
    const error = codecError(() => codeRecord(swapped, c, "decode"));
    expect(error.message).toContain(`in "result": authentication failed`);
  });

  it("refuses one event's data copied into another event, and a result copied into args", () => {
    codecError(() => codeEvent({ ...confirmed, data: claimed.data }, c, "decode"));
    codecError(() => codeRecord({ ...atRest, args: atRest.result }, c, "decode"));
  });

  it("decodes a record and events stored before fields were bound", () => {
    const old = {
      ...record,
      args: c.encode(record.args as JsonValue, KEY),
      result: c.encode(record.result as JsonValue, KEY),
    };
    const oldEvent = {
      ...claimed,
      data: c.encode({ args: record.args as JsonValue }, KEY) as { [key: string]: JsonValue },
    };
    expect(codeRecord(old, c, "decode")).toStrictEqual(record);
    expect(codeEvent(oldEvent, c, "decode").data).toStrictEqual({ args: record.args });
  });
});
