import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../test/support/seeded-random.js";
import { canonicalize } from "./canonical.js";
import { ErrorCode, isInvalidPayloadError } from "./errors.js";
import { fingerprint, hmacSha256Hex, sha256Hex } from "./fingerprint.js";

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 vectors", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("hashes the UTF-8 bytes", () => {
    // printf '\xc3\xa9' | sha256sum
    expect(sha256Hex("\u00e9")).toBe("4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c");
  });
});

describe("hmacSha256Hex", () => {
  it("matches RFC 4231 test case 2", () => {
    expect(hmacSha256Hex("Jefe", "what do ya want for nothing?")).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });

  it("uses a string secret as its UTF-8 bytes", () => {
    const bytes = new TextEncoder().encode("s3cr\u00e9t");
    expect(hmacSha256Hex(bytes, "data")).toBe(hmacSha256Hex("s3cr\u00e9t", "data"));
  });

  it("rejects an empty secret", () => {
    for (const secret of ["", new Uint8Array(0)]) {
      try {
        hmacSha256Hex(secret, "data");
        expect.unreachable();
      } catch (error) {
        expect((error as { code?: string }).code).toBe(ErrorCode.INVALID_CONFIGURATION);
      }
    }
  });
});

describe("fingerprint", () => {
  it('is "sha256:" + the hex SHA-256 of the canonical JSON', () => {
    expect(fingerprint({})).toBe("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    const args = { to: "ada@example.com", amount: 12.5, items: [1, 2] };
    expect(fingerprint(args)).toBe(`sha256:${sha256Hex(canonicalize(args))}`);
    expect(fingerprint(args)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("ignores key order and -0, but not values, array order or types", () => {
    expect(fingerprint({ a: 1, b: { c: 2, d: 3 } })).toBe(fingerprint({ b: { d: 3, c: 2 }, a: 1 }));
    expect(fingerprint({ n: -0 })).toBe(fingerprint({ n: 0 }));
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: 2 }));
    expect(fingerprint([1, 2])).not.toBe(fingerprint([2, 1]));
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: "1" }));
  });

  it("fingerprints a Date like its ISO string, and omits undefined properties", () => {
    expect(fingerprint({ at: new Date(0) })).toBe(fingerprint({ at: "1970-01-01T00:00:00.000Z" }));
    expect(fingerprint({ a: 1, b: undefined })).toBe(fingerprint({ a: 1 }));
  });

  it("passes maxBytes on and lets InvalidPayloadError through", () => {
    expect(() => fingerprint("xx", { maxBytes: 3 })).toThrow("payload is 4 bytes, over the limit of 3 bytes");
    try {
      fingerprint({ amount: 1n });
      expect.unreachable();
    } catch (error) {
      expect(isInvalidPayloadError(error)).toBe(true);
      expect((error as { path?: string }).path).toBe("$.amount");
    }
  });

  it("is stable under a deep shuffle of object keys", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        expect(fingerprint(deepShuffle(value, seededRandom(seed)))).toBe(fingerprint(value));
      }),
    );
  });

  it("is stable under a deep shuffle of object keys, with Dates and boxed values", () => {
    const value = fc.anything({ withDate: true, withBoxedValues: true, withNullPrototype: true });
    fc.assert(
      fc.property(value, fc.integer(), (input, seed) => {
        let expected: string;
        try {
          expected = fingerprint(input);
        } catch (error) {
          expect(isInvalidPayloadError(error)).toBe(true);
          return;
        }
        expect(fingerprint(deepShuffle(input, seededRandom(seed)))).toBe(expected);
      }),
    );
  });
});

/** A copy of `value` where every plain object has its keys inserted in a random order. */
function deepShuffle(value: unknown, next: () => number): unknown {
  if (Array.isArray(value)) return value.map((item) => deepShuffle(item, next));
  if (typeof value !== "object" || value === null) return value;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value; // Dates, boxed values: no keys to shuffle
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
  }
  const copy: Record<string, unknown> = Object.create(proto);
  for (const key of keys) {
    Object.defineProperty(copy, key, {
      value: deepShuffle((value as Record<string, unknown>)[key], next),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}
