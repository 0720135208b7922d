import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalize, childPath, DEFAULT_MAX_PAYLOAD_BYTES, MAX_CANONICAL_DEPTH } from "./canonical.js";
import { ErrorCode, type InvalidPayloadError, isInvalidPayloadError } from "./errors.js";
import { anythingOptions } from "./test-support.js";

/** The InvalidPayloadError `fn` throws (fails the test if it throws anything else, or nothing). */
function payloadError(fn: () => unknown): InvalidPayloadError {
  try {
    fn();
  } catch (error) {
    if (isInvalidPayloadError(error)) return error;
    throw error;
  }
  throw new Error("expected an InvalidPayloadError");
}

function expectInvalid(value: unknown, path: string, reason: string | RegExp): InvalidPayloadError {
  const error = payloadError(() => canonicalize(value));
  expect(error.code).toBe(ErrorCode.INVALID_PAYLOAD);
  expect(error.path).toBe(path);
  if (typeof reason === "string") expect(error.reason).toBe(reason);
  else expect(error.reason).toMatch(reason);
  return error;
}

/** A double from its IEEE 754 bits, as RFC 8785 Appendix B lists them. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe("canonicalize: RFC 8785 vectors", () => {
  it("serialises numbers as ECMAScript does (RFC 8785 section 3.2.2.3)", () => {
    const input = '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]}';
    expect(canonicalize(JSON.parse(input))).toBe('{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}');
  });

  it("canonicalises the RFC 8785 section 3.2.2 sample", () => {
    const input = `{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalize(JSON.parse(input))).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("sorts keys by UTF-16 code units, emoji and non-ASCII included (RFC 8785 section 3.2.3)", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it("orders by code units, not code points: an emoji (U+D83D...) sorts before U+FB33", () => {
    // By code point U+1F600 > U+FB33; by UTF-16 unit 0xD83D < 0xFB33.
    expect(canonicalize({ "\ufb33": 1, "\ud83d\ude00": 2 })).toBe('{"😀":2,"\ufb33":1}');
  });

  it.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ])("number with bits %s serialises as %s (RFC 8785 Appendix B)", (bits, expected) => {
    expect(canonicalize(fromBits(bits))).toBe(expected);
  });

  it("writes -0 as 0 and leaves no whitespace", () => {
    expect(canonicalize({ a: [-0, 0, 1.5] })).toBe('{"a":[0,0,1.5]}');
  });

  it("writes strings as JSON.stringify does, escaping lone surrogates", () => {
    expect(canonicalize("a\u0000\u001f\u007f\u2028😀")).toBe('"a\\u0000\\u001f\u007f\u2028😀"');
    expect(canonicalize("\ud800")).toBe('"\\ud800"');
    expect(canonicalize("x\udc00y")).toBe('"x\\udc00y"');
    expect(canonicalize('"\\/')).toBe('"\\"\\\\/"');
  });

  it("serialises literals, empty containers and nesting", () => {
    expect(canonicalize(null)).toBe("null");
    expect(canonicalize(true)).toBe("true");
    expect(canonicalize(false)).toBe("false");
    expect(canonicalize([])).toBe("[]");
    expect(canonicalize({})).toBe("{}");
    expect(canonicalize({ b: [{ d: 1, c: null }], a: "" })).toBe('{"a":"","b":[{"c":null,"d":1}]}');
  });
});

describe("canonicalize: values JSON cannot represent", () => {
  it("writes a Date as its ISO string, and rejects an invalid Date", () => {
    expect(canonicalize({ at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)) })).toBe(
      '{"at":"2024-01-02T03:04:05.006Z"}',
    );
    expectInvalid({ at: new Date(Number.NaN) }, "$.at", "invalid Date");
  });

  it("uses the intrinsic Date serialisation, not an overridden toJSON", () => {
    class LocalDate extends Date {
      override toJSON(): string {
        return "not this";
      }
    }
    expect(canonicalize(new LocalDate(0))).toBe('"1970-01-01T00:00:00.000Z"');
  });

  it("rejects a BigInt, hinting at a decimal string", () => {
    const error = expectInvalid({ amount: 10n }, "$.amount", "a BigInt is not JSON");
    expect(error.message).toContain("decimal string");
    expectInvalid(Object(10n), "$", "a BigInt is not JSON");
  });

  it("omits object properties that are undefined, as JSON.stringify does", () => {
    expect(canonicalize({ a: undefined, b: 1, c: undefined })).toBe('{"b":1}');
    expect(canonicalize({ a: undefined })).toBe("{}");
  });

  it("rejects undefined at top level and as an array element", () => {
    expectInvalid(undefined, "$", "undefined is not JSON");
    expectInvalid({ items: [1, undefined] }, "$.items[1]", "undefined is not JSON (in an array)");
  });

  it("rejects sparse array holes", () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    expectInvalid({ items: [1, , 3] }, "$.items[1]", "sparse array hole");
    expectInvalid(new Array(1e9), "$[0]", "sparse array hole");
  });

  it.each([
    [Number.NaN, "NaN is not JSON"],
    [Number.POSITIVE_INFINITY, "Infinity is not JSON"],
    [Number.NEGATIVE_INFINITY, "-Infinity is not JSON"],
  ])("rejects %s", (value, reason) => {
    expectInvalid({ n: [value] }, "$.n[0]", reason);
  });

  it.each([
    [new Map([["a", 1]]), "a Map is not JSON"],
    [new Set([1]), "a Set is not JSON"],
    [new WeakMap(), "a WeakMap is not JSON"],
    [new WeakSet(), "a WeakSet is not JSON"],
  ])("rejects %o", (value, reason) => {
    const error = expectInvalid({ c: value }, "$.c", reason);
    expect(error.message).toMatch(/Convert it to/);
  });

  it.each([
    [new Uint8Array([1]), "a Uint8Array is binary data, not JSON"],
    [new Float64Array(1), "a Float64Array is binary data, not JSON"],
    [new BigInt64Array(1), "a BigInt64Array is binary data, not JSON"],
    [new ArrayBuffer(1), "an ArrayBuffer is binary data, not JSON"],
    [new SharedArrayBuffer(1), "a SharedArrayBuffer is binary data, not JSON"],
    [new DataView(new ArrayBuffer(1)), "a DataView is binary data, not JSON"],
    [Buffer.from("hi"), "a Buffer is binary data, not JSON"],
  ])("rejects binary data %o, before toJSON (Buffer has one)", (value, reason) => {
    const error = expectInvalid({ file: value }, "$.file", reason);
    expect(error.message).toContain("Base64-encode");
  });

  it("rejects functions and symbols as values, ignores symbol keys", () => {
    expectInvalid({ f: () => 1 }, "$.f", "a function is not JSON");
    expectInvalid([Symbol("s")], "$[0]", "a symbol is not JSON");
    expectInvalid({ toJSON: () => 1 }, "$.toJSON", "a function is not JSON");
    expect(canonicalize({ [Symbol("hidden")]: 1, a: 1 })).toBe('{"a":1}');
  });

  it("ignores non-enumerable properties and array extras, as JSON.stringify does", () => {
    const object = Object.defineProperty({ a: 1 }, "hidden", { value: 2, enumerable: false });
    expect(canonicalize(object)).toBe('{"a":1}');
    expect(canonicalize(Object.assign([1, 2], { extra: true }))).toBe("[1,2]");
  });

  it("treats null-prototype objects as plain objects", () => {
    const object = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 });
    expect(canonicalize(object)).toBe('{"a":2,"b":1}');
  });

  it("uses toJSON() of class instances, canonicalised with the same rules", () => {
    class Money {
      constructor(
        readonly amount: number,
        readonly currency: string,
      ) {}
      toJSON(key: string) {
        return { key, currency: this.currency, amount: this.amount };
      }
    }
    expect(canonicalize({ price: new Money(5, "EUR") })).toBe(
      '{"price":{"amount":5,"currency":"EUR","key":"price"}}',
    );
    expect(canonicalize([new Money(1, "USD")])).toBe('[{"amount":1,"currency":"USD","key":"0"}]');

    class Broken {
      toJSON() {
        return { when: 1n };
      }
    }
    expectInvalid({ b: new Broken() }, "$.b.when", "a BigInt is not JSON");
  });

  it("rejects class instances without toJSON(), naming the class", () => {
    class Customer {
      name = "Ada";
    }
    const error = expectInvalid(
      { customer: new Customer() },
      "$.customer",
      "an instance of Customer is not JSON (it has no toJSON() method)",
    );
    expect(error.message).toContain("give Customer a toJSON() method");
    expectInvalid([new Error("x")], "$[0]", /an instance of Error/);
    expectInvalid({ r: /x/ }, "$.r", /an instance of RegExp/);
    expectInvalid({ p: Promise.resolve() }, "$.p", /an instance of Promise/);
    expectInvalid({ o: Object.create({ inherited: 1 }) }, "$.o", /an instance of Object/);
  });

  it("reports toJSON() failures at the instance's path", () => {
    class Throws {
      toJSON(): never {
        throw new Error("boom");
      }
    }
    class ReturnsUndefined {
      toJSON() {
        return undefined;
      }
    }
    class ReturnsItself {
      toJSON() {
        return this;
      }
    }
    expectInvalid({ a: [new Throws()] }, "$.a[0]", "toJSON() threw: boom");
    expectInvalid({ a: new ReturnsUndefined() }, "$.a", "toJSON() returned undefined");
    expectInvalid({ a: new ReturnsItself() }, "$.a", "circular reference back to $.a");
  });

  it("unboxes boxed primitives with their intrinsic value", () => {
    const sneaky = Object.assign(new Number(2), { valueOf: () => 3 });
    expect(canonicalize([new String("s"), new Number(1.5), new Boolean(false), sneaky])).toBe(
      '["s",1.5,false,2]',
    );
    expectInvalid([new Number(Number.NaN)], "$[0]", "NaN is not JSON");
  });

  it("rejects cycles at the path where the cycle re-enters", () => {
    const root: Record<string, unknown> = { a: { b: {} } };
    (root.a as { b: Record<string, unknown> }).b.back = root;
    expectInvalid(root, "$.a.b.back", "circular reference back to $");

    const list: unknown[] = [1];
    list.push({ list });
    expectInvalid({ list }, "$.list[1].list", "circular reference back to $.list");

    const self: Record<string, unknown> = {};
    self.self = self;
    expectInvalid(self, "$.self", "circular reference back to $");
  });

  it("accepts shared (non-cyclic) references, serialising each occurrence", () => {
    const shared = { id: 1 };
    expect(canonicalize({ a: shared, b: [shared, shared] })).toBe('{"a":{"id":1},"b":[{"id":1},{"id":1}]}');
  });

  it("reports throwing getters and proxy traps at their path", () => {
    const object = {
      get secret(): string {
        throw new Error("no access");
      },
    };
    expectInvalid({ o: object }, "$.o.secret", "threw while reading it: no access");

    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expectInvalid({ p: revoked.proxy }, "$.p", /^threw while inspecting it/);

    const noKeys = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("no keys");
        },
      },
    );
    expectInvalid([noKeys], "$[0]", "threw while listing its keys: no keys");

    // Even a thrown value that cannot be printed stays an InvalidPayloadError.
    const weird = {
      get x(): never {
        throw Object.create(null);
      },
    };
    expectInvalid(weird, "$.x", /^threw while reading it/);
  });

  it("rejects nesting deeper than MAX_CANONICAL_DEPTH without overflowing the stack", () => {
    let ok: unknown = 1;
    for (let i = 0; i < MAX_CANONICAL_DEPTH; i++) ok = [ok];
    expect(canonicalize(ok)).toBe(`${"[".repeat(MAX_CANONICAL_DEPTH)}1${"]".repeat(MAX_CANONICAL_DEPTH)}`);
    let tooDeep: unknown = 1;
    for (let i = 0; i < MAX_CANONICAL_DEPTH + 1; i++) tooDeep = [tooDeep];
    expectInvalid(tooDeep, `$${"[0]".repeat(MAX_CANONICAL_DEPTH)}`, /^nested more than 1000 levels deep$/);

    class Endless {
      toJSON() {
        return new Endless();
      }
    }
    expectInvalid(new Endless(), "$", /^nested more than/);
  });
});

describe("canonicalize: paths", () => {
  it("formats JSONPath-like paths", () => {
    expect(childPath("$", "card")).toBe("$.card");
    expect(childPath("$.card", "number")).toBe("$.card.number");
    expect(childPath("$", 3)).toBe("$[3]");
    expect(childPath("$", "_a$1")).toBe("$._a$1");
    expect(childPath("$", "odd key")).toBe('$["odd key"]');
    expect(childPath("$", "0")).toBe('$["0"]');
    expect(childPath("$", "")).toBe('$[""]');
    expect(childPath("$", 'q"uote')).toBe('$["q\\"uote"]');
    expect(childPath("$", "é")).toBe('$["é"]');
  });

  it("uses them in errors", () => {
    expectInvalid({ "odd key": { items: [0, 0, 0, 1n] } }, '$["odd key"].items[3]', "a BigInt is not JSON");
    expectInvalid({ card: { number: Number.NaN } }, "$.card.number", "NaN is not JSON");
  });
});

describe("canonicalize: size limit", () => {
  /** A string whose canonical form (with its two quotes) is exactly `bytes` long. */
  const ofBytes = (bytes: number) => "x".repeat(bytes - 2);

  it("accepts exactly DEFAULT_MAX_PAYLOAD_BYTES and rejects one byte more", () => {
    expect(DEFAULT_MAX_PAYLOAD_BYTES).toBe(1048576);
    expect(canonicalize(ofBytes(DEFAULT_MAX_PAYLOAD_BYTES))).toHaveLength(DEFAULT_MAX_PAYLOAD_BYTES);
    const error = expectInvalid(
      ofBytes(DEFAULT_MAX_PAYLOAD_BYTES + 1),
      "$",
      "payload is 1048577 bytes, over the limit of 1048576 bytes",
    );
    expect(error.message).toContain("Raise maxPayloadBytes, or pass a reference");
  });

  it("counts UTF-8 bytes, not characters, against maxBytes", () => {
    // "é" is 2 bytes and "😀" 4 in UTF-8: ["é","😀"] is 2 + 4 + 2 + 5 = 13 bytes.
    expect(canonicalize(["é", "😀"], { maxBytes: 13 })).toBe('["é","😀"]');
    const error = payloadError(() => canonicalize(["é", "😀"], { maxBytes: 12 }));
    expect(error.path).toBe("$");
    expect(error.reason).toBe("payload is 13 bytes, over the limit of 12 bytes");
    expect(canonicalize({ é: 1 }, { maxBytes: 8 })).toBe('{"é":1}');
    expect(() => canonicalize({ é: 1 }, { maxBytes: 7 })).toThrow("payload is 8 bytes");
  });

  it("stops building far over the limit, even when shared references fan out exponentially", () => {
    let value: unknown = "x".repeat(100);
    for (let i = 0; i < 60; i++) value = [value, value]; // 2^60 leaves if expanded
    const error = payloadError(() => canonicalize(value, { maxBytes: 1000 }));
    expect(error.path).toBe("$");
    expect(error.reason).toMatch(/^payload is at least \d+ bytes, over the limit of 1000 bytes$/);
  });

  it("reports a value error that comes before the limit is reached in traversal order", () => {
    expectInvalid({ a: 1n, b: "x".repeat(100) }, "$.a", "a BigInt is not JSON");
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "10"])("rejects maxBytes %o", (maxBytes) => {
    try {
      canonicalize({}, { maxBytes: maxBytes as number });
      expect.unreachable();
    } catch (error) {
      expect((error as { code?: string }).code).toBe(ErrorCode.INVALID_CONFIGURATION);
      expect((error as Error).message).toContain("maxBytes must be a positive integer");
    }
  });
});

/** Any JSON value, with -0 normalised away (JSON has no -0). */
const json = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown);

describe("canonicalize: properties", () => {
  it("is idempotent through JSON.parse: canonicalize(JSON.parse(canonicalize(x))) === canonicalize(x)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const canonical = canonicalize(value);
        expect(canonicalize(JSON.parse(canonical))).toBe(canonical);
      }),
    );
  });

  it("keeps the data of JSON values: JSON.parse(canonicalize(x)) deep-equals x", () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(JSON.parse(canonicalize(value))).toStrictEqual(value);
      }),
    );
  });

  it("returns a string or throws InvalidPayloadError, nothing else, on arbitrary input", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), (value) => {
        expectStringOrPayloadError(value);
      }),
      { numRuns: 500 },
    );
  });

  it("throws InvalidPayloadError on arbitrary input with a cycle added", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), fc.nat(), (value, choice) => {
        const cyclic = withCycle(value, choice);
        const error = payloadError(() => canonicalize(cyclic));
        expect(error.path.startsWith("$")).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

function expectStringOrPayloadError(value: unknown): void {
  let result: unknown;
  try {
    result = canonicalize(value);
  } catch (error) {
    expect(isInvalidPayloadError(error)).toBe(true);
    return;
  }
  expect(typeof result).toBe("string");
  expect(() => JSON.parse(result as string)).not.toThrow();
}

/**
 * A copy of `value` inside a root object, with one container (picked by `choice`) pointing back
 * to the root. The generated value itself is not mutated (fast-check may reuse it when shrinking).
 */
function withCycle(value: unknown, choice: number): unknown {
  const root: Record<string, unknown> = { value: structuredClone(value) };
  const containers: object[] = [];
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null || containers.includes(node)) return;
    if (Array.isArray(node) || node instanceof Map || Object.getPrototypeOf(node) === Object.prototype) {
      containers.push(node);
      const children = node instanceof Map ? [...node.values()] : Object.values(node);
      for (const child of children) visit(child);
    }
  };
  visit(root.value);
  const target = containers[choice % Math.max(containers.length, 1)];
  if (target === undefined) root.self = root;
  else if (Array.isArray(target)) target.push(root);
  else if (target instanceof Map) target.set("cycle", root);
  else (target as Record<string, unknown>).cycle = root;
  return root;
}
