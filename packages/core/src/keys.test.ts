import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isInvalidKeyError } from "./errors.js";
import { fingerprint } from "./fingerprint.js";
import { deriveKey, namespacedKey, validateKey } from "./keys.js";

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("validateKey", () => {
  it("accepts 1 to 255 printable ASCII characters", () => {
    expect(validateKey("a")).toBe("a");
    expect(validateKey("x".repeat(255))).toBe("x".repeat(255));
    expect(validateKey(" ~!order#42 ")).toBe(" ~!order#42 ");
  });

  it.each([
    ["", "is empty"],
    ["x".repeat(256), "is 256 characters long; the limit is 255"],
    ["caf\u00e9", "outside printable ASCII (0x20-0x7E) at position 3"],
    ["a\nb", "at position 1"],
  ])("rejects %j", (key, message) => {
    const error = errorOf(() => validateKey(key));
    expect(isInvalidKeyError(error)).toBe(true);
    expect(error.message).toContain(message);
  });

  it("rejects non-strings", () => {
    expect(errorOf(() => validateKey(42)).message).toBe("The idempotency key must be a string, got number.");
    expect(errorOf(() => validateKey(null)).message).toBe("The idempotency key must be a string, got null.");
  });
});

describe("namespacedKey", () => {
  it("puts tenant, tool and key source in the key", () => {
    expect(namespacedKey({ tool: "create_invoice" }, "explicit", "k1")).toBe("-/create_invoice/k:k1");
    expect(namespacedKey({ tool: "create_invoice", tenant: "acme" }, "business", "INV-1")).toBe(
      "t=acme/create_invoice/b:INV-1",
    );
    expect(namespacedKey({ tool: "t" }, "derived", "abc")).toBe("-/t/h:abc");
  });

  it("never lets two different namespaces share a key", () => {
    fc.assert(
      fc.property(
        fc.tuple(
          fc.option(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 20 }), { nil: undefined }),
        ),
        fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 20 }),
        fc.option(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 20 }), { nil: undefined }),
        fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 20 }),
        fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 20 }),
        ([tenantA], toolA, tenantB, toolB, local) => {
          fc.pre(tenantA !== tenantB || toolA !== toolB);
          const a = namespacedKey({ tool: toolA, tenant: tenantA }, "explicit", local);
          const b = namespacedKey({ tool: toolB, tenant: tenantB }, "explicit", local);
          expect(a).not.toBe(b);
        },
      ),
    );
  });

  it("rejects empty or non-ASCII tool and tenant names", () => {
    expect(isInvalidKeyError(errorOf(() => namespacedKey({ tool: "" }, "explicit", "k")))).toBe(true);
    expect(
      isInvalidKeyError(errorOf(() => namespacedKey({ tool: "t", tenant: "\u00e9" }, "explicit", "k"))),
    ).toBe(true);
  });
});

describe("deriveKey", () => {
  it("is stable under key order and differs by scope", () => {
    const a = deriveKey(fingerprint({ amount: 10, customer: "c1" }), "thread-1");
    expect(deriveKey(fingerprint({ customer: "c1", amount: 10 }), "thread-1")).toBe(a);
    expect(deriveKey(fingerprint({ customer: "c1", amount: 10 }), "thread-2")).not.toBe(a);
    expect(deriveKey(fingerprint({ customer: "c1", amount: 10 }), undefined)).not.toBe(a);
    expect(deriveKey(fingerprint({ customer: "c1", amount: 10 }), "null")).not.toBe(
      deriveKey(fingerprint({ customer: "c1", amount: 10 }), undefined),
    );
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});
