import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalize, DEFAULT_MAX_PAYLOAD_BYTES, exactCanonical } from "./canonical.js";
import { plainCanonical } from "./canonical-plain.js";
import { anythingOptions } from "./test-support.js";

/** The fast path either gives up or writes exactly what the exact writer writes (or would refuse nothing). */
function expectSameAsExact(value: unknown, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): string | undefined {
  const fast = plainCanonical(value, maxBytes);
  if (fast !== undefined) expect(fast).toBe(exactCanonical(value, maxBytes));
  return fast;
}

/** Strings of any UTF-16 code units (lone surrogates included), and short ASCII ones. */
const anyString = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "binary-ascii" }));
const plainKey = anyString.filter((key) => !/^[0-9]/.test(key) && key !== "__proto__");
/** Plain JSON data without integer-like keys: what the fast path must take. */
const plainJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    anyString,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value")),
    fc.dictionary(plainKey, tie("value")),
  ),
})).value;

describe("plainCanonical (the fast path of canonicalize)", () => {
  afterEach(() => {
    delete (Object.prototype as { toJSON?: unknown }).toJSON;
  });

  it("writes plain JSON data exactly as the exact writer does, and does not give up on it (property)", () => {
    fc.assert(
      fc.property(plainJson, (value) => {
        expect(expectSameAsExact(value)).toBeTypeOf("string");
      }),
      { numRuns: 500 },
    );
  });

  it("on arbitrary values either gives up or matches the exact writer (property)", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), (value) => {
        let exact: string | undefined;
        try {
          exact = exactCanonical(value, DEFAULT_MAX_PAYLOAD_BYTES);
        } catch {
          // The exact writer refuses it: the fast path must have given up.
          expect(plainCanonical(value, DEFAULT_MAX_PAYLOAD_BYTES)).toBeUndefined();
          return;
        }
        const fast = plainCanonical(value, DEFAULT_MAX_PAYLOAD_BYTES);
        if (fast !== undefined) expect(fast).toBe(exact);
      }),
      { numRuns: 1000 },
    );
  });

  it("matches the exact writer at and around the size limit (property)", () => {
    fc.assert(
      fc.property(plainJson, fc.integer({ min: -3, max: 3 }), (value, delta) => {
        const size = Buffer.byteLength(exactCanonical(value, DEFAULT_MAX_PAYLOAD_BYTES), "utf8");
        const maxBytes = Math.max(1, size + delta);
        const fast = plainCanonical(value, maxBytes);
        if (size > maxBytes) expect(fast).toBeUndefined();
        else expect(fast).toBe(exactCanonical(value, maxBytes));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ["integer-like keys (engines enumerate them first)", { b: 1, 10: 2, 2: 3 }],
    ["a __proto__ key", JSON.parse('{"__proto__": 1, "a": 2}')],
    ["a Date", { at: new Date(0) }],
    ["a Map whose prototype was replaced", Object.setPrototypeOf(new Map([["a", 1]]), Object.prototype)],
    ["a class instance", { value: new (class Amount {})() }],
    ["an undefined array element", [1, undefined]],
    ["a hole", Object.assign(new Array(3), { 0: 1, 2: 3 })],
    ["a non-finite number", { n: Number.POSITIVE_INFINITY }],
    ["a function", { f: () => 1 }],
    [
      "a getter that throws",
      Object.defineProperty({}, "x", {
        enumerable: true,
        get: () => {
          throw new Error("no");
        },
      }),
    ],
    [
      "a cycle",
      (() => {
        const a: Record<string, unknown> = {};
        a.self = a;
        return a;
      })(),
    ],
  ])("gives up on %s", (_, value) => {
    expect(plainCanonical(value, DEFAULT_MAX_PAYLOAD_BYTES)).toBeUndefined();
  });

  it("sorts keys by UTF-16 code units, -0 is 0, and strings are escaped like JSON.stringify", () => {
    const value = { "\u{1F600}": 1, "\uFFFF": 2, é: -0, a: "lone \uD800 surrogate", B: [true, null] };
    expect(expectSameAsExact(value)).toBe(
      '{"B":[true,null],"a":"lone \\ud800 surrogate","é":0,"\u{1F600}":1,"\uFFFF":2}',
    );
  });

  it("gives up while a built-in prototype has a toJSON, which JSON.stringify would call", () => {
    const value = { a: 1 };
    (Object.prototype as { toJSON?: unknown }).toJSON = () => "patched";
    expect(plainCanonical(value, DEFAULT_MAX_PAYLOAD_BYTES)).toBeUndefined();
    expect(canonicalize(value)).toBe('{"a":1}');
  });

  it("stops early on shared references that fan out past the limit", () => {
    let value: unknown = "x".repeat(100);
    for (let level = 0; level < 40; level++) value = [value, value]; // 2^40 leaves if written out
    expect(plainCanonical(value, 10_000)).toBeUndefined();
  });
});
