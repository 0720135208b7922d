import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, InvalidPayloadError, isInvalidPayloadError } from "./errors.js";
import { anythingOptions } from "./test-support.js";
import { decodeValue, encodeValue, type JsonValue, MAX_CODEC_DEPTH } from "./value-codec.js";

/** What a replay sees: the encoded value after a trip through a JSON store. */
function roundTrip(value: unknown): unknown {
  return decodeValue(JSON.parse(JSON.stringify(encodeValue(value))) as JsonValue);
}

function expectRoundTrip(value: unknown): unknown {
  const back = roundTrip(value);
  expect(back).toStrictEqual(value);
  return back;
}

describe("value codec: JSON values", () => {
  it("leaves JSON data untouched", () => {
    const value = { a: [1, "two", true, null, { b: 2.5 }], "odd key": "", é: "😀" };
    expect(encodeValue(value)).toStrictEqual(value);
    expectRoundTrip(value);
  });

  it("keeps own __proto__ keys as data, never as a prototype", () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    const back = expectRoundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(["__proto__", "a"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("value codec: values JSON cannot hold", () => {
  it.each([
    ["-0", -0],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
  ])("keeps %s", (tagValue, value) => {
    expect(encodeValue(value)).toStrictEqual({ $dt: "Number", v: tagValue });
    expect(Object.is(roundTrip(value), value)).toBe(true);
  });

  it("keeps undefined as a value, an object property and an array element", () => {
    expect(encodeValue(undefined)).toStrictEqual({ $dt: "Undefined", v: null });
    expect(roundTrip(undefined)).toBeUndefined();
    const back = expectRoundTrip({ a: undefined, list: [undefined, 1] }) as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(["a", "list"]);
  });

  it("keeps BigInt", () => {
    expect(encodeValue(-12345678901234567890n)).toStrictEqual({ $dt: "BigInt", v: "-12345678901234567890" });
    expectRoundTrip({ big: 2n ** 100n });
  });

  it("keeps Dates, invalid ones included", () => {
    expect(encodeValue(new Date(0))).toStrictEqual({ $dt: "Date", v: "1970-01-01T00:00:00.000Z" });
    expect(encodeValue(new Date(Number.NaN))).toStrictEqual({ $dt: "Date", v: null });
    expectRoundTrip([new Date(8.64e15), new Date(-8.64e15), new Date(Number.NaN)]);
    expect(roundTrip(new Date(Number.NaN))).toBeInstanceOf(Date);
  });

  it("keeps RegExps (source and flags)", () => {
    expect(encodeValue(/a+b/giu)).toStrictEqual({ $dt: "RegExp", v: { source: "a+b", flags: "giu" } });
    expectRoundTrip({ r: /^\d{3}\/x$/m });
  });

  it("keeps Maps with any keys, in order", () => {
    const key = { id: 1 };
    const map = new Map<unknown, unknown>([
      ["b", 1],
      [key, [undefined]],
      [1n, new Map([[Number.NaN, "nan"]])],
    ]);
    expect(encodeValue(new Map([["a", 1]]))).toStrictEqual({ $dt: "Map", v: [["a", 1]] });
    const back = expectRoundTrip(map) as Map<unknown, unknown>;
    expect([...back.keys()][0]).toBe("b");
  });

  it("keeps Sets", () => {
    expect(encodeValue(new Set([1, "1"]))).toStrictEqual({ $dt: "Set", v: [1, "1"] });
    expectRoundTrip(new Set([{ a: 1 }, -0, undefined]));
  });

  it("keeps binary data with its type, base64-encoded", () => {
    expect(encodeValue(Buffer.from("hi"))).toStrictEqual({
      $dt: "Bytes",
      v: { type: "Buffer", base64: "aGk=" },
    });
    expect(encodeValue(new Uint8Array([1, 2, 3]))).toStrictEqual({
      $dt: "Bytes",
      v: { type: "Uint8Array", base64: "AQID" },
    });
    const back = expectRoundTrip(Buffer.from("hello"));
    expect(Buffer.isBuffer(back)).toBe(true);
    expectRoundTrip(new Float64Array([1.5, Number.NaN, -0]));
    expectRoundTrip(new BigInt64Array([-1n, 2n ** 62n]));
    expectRoundTrip([new Int8Array([-1]), new Uint8ClampedArray([255]), new Uint16Array([65535])]);
    expectRoundTrip([
      new Int16Array([-2]),
      new Int32Array([-3]),
      new Uint32Array([4]),
      new Float32Array([0.5]),
    ]);
    expectRoundTrip(new BigUint64Array([2n ** 64n - 1n]));
    expectRoundTrip(new Uint8Array([9, 8, 7]).buffer);
    expectRoundTrip(new DataView(new Uint8Array([1, 2]).buffer));
    const shared = new SharedArrayBuffer(2);
    new Uint8Array(shared).set([5, 6]);
    expect(roundTrip(shared)).toBeInstanceOf(SharedArrayBuffer);
    expect([...new Uint8Array(roundTrip(shared) as SharedArrayBuffer)]).toEqual([5, 6]);
  });

  it("stores a detached buffer, and views on it, as empty", () => {
    const buffer = new ArrayBuffer(8);
    const view = new Float64Array(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    expect(encodeValue({ buffer, view })).toStrictEqual({
      buffer: { $dt: "Bytes", v: { type: "ArrayBuffer", base64: "" } },
      view: { $dt: "Bytes", v: { type: "Float64Array", base64: "" } },
    });
  });

  it("keeps only a view's own bytes", () => {
    const view = new Uint16Array([1, 2, 3, 4]).subarray(1, 3);
    expect(encodeValue(view)).toStrictEqual({ $dt: "Bytes", v: { type: "Uint16Array", base64: "AgADAA==" } });
    expectRoundTrip(view);
  });

  it("keeps boxed primitives", () => {
    expect(encodeValue(new String("s"))).toStrictEqual({ $dt: "Boxed", v: "s" });
    expectRoundTrip([new String("s"), new Number(-0), new Boolean(false), Object(5n)]);
  });

  it("keeps Errors: name, message, code, cause and other own enumerable properties", () => {
    const error = Object.assign(new TypeError("bad input", { cause: new Error("root") }), {
      code: "E_BAD",
      status: 400,
    });
    expect(encodeValue(error)).toStrictEqual({
      $dt: "Error",
      v: {
        name: "TypeError",
        message: "bad input",
        cause: {
          $dt: "Error",
          v: { name: "Error", message: "root" },
        },
        props: { code: "E_BAD", status: 400 },
      },
    });
    const back = expectRoundTrip(error) as TypeError & { code: string };
    expect(back).toBeInstanceOf(TypeError);
    expect(back.code).toBe("E_BAD");
    expect((back.cause as Error).message).toBe("root");
    expect(back.stack).toBe("TypeError: bad input");
  });

  it("keeps AggregateError.errors and a plain cause", () => {
    expectRoundTrip(new AggregateError([new RangeError("r"), "s"], "many", { cause: { why: 1 } }));
    expectRoundTrip({ e: new Error("no cause") });
  });

  it("decodes a custom Error class as Error with its name (the class is lost)", () => {
    class PaymentDeclined extends Error {
      override name = "PaymentDeclined";
      constructor(readonly reason: string) {
        super(`declined: ${reason}`);
      }
    }
    const back = roundTrip(new PaymentDeclined("funds")) as Error & { reason: string };
    expect(back).toBeInstanceOf(Error);
    expect(back).not.toBeInstanceOf(PaymentDeclined);
    expect(back).toEqual(new PaymentDeclined("funds"));
    expect(back.name).toBe("PaymentDeclined");
    expect(back.message).toBe("declined: funds");
    expect(back.reason).toBe("funds");
  });

  it("keeps a durable-tools error's name, message, code and fields", () => {
    const back = roundTrip(new InvalidPayloadError("$.a", "bad", "Fix it.")) as InvalidPayloadError;
    expect(back.name).toBe("InvalidPayloadError");
    expect(back.message).toBe("Invalid payload at $.a: bad. Fix it.");
    expect(back.code).toBe(ErrorCode.INVALID_PAYLOAD);
    expect(back.path).toBe("$.a");
    expect(back.retryable).toBe(false);
    expect(Object.keys(back)).toEqual(expect.arrayContaining(["name", "code", "path"]));
  });

  it("keeps null-prototype objects", () => {
    const value = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, $dt: "Date" });
    expect(encodeValue(value)).toStrictEqual({ $dt: "NullProtoObject", v: { a: 1, $dt: "Date" } });
    const back = expectRoundTrip(value);
    expect(Object.getPrototypeOf(back)).toBeNull();
  });
});

describe("value codec: user data that looks like a tag", () => {
  it("escapes plain objects with a $dt key, so they are never taken for tags", () => {
    const value = { $dt: "Date", v: "2020-01-01T00:00:00.000Z" };
    expect(encodeValue(value)).toStrictEqual({
      $dt: "Object",
      v: { $dt: "Date", v: "2020-01-01T00:00:00.000Z" },
    });
    expectRoundTrip(value);
    expectRoundTrip({ nested: [{ $dt: "Ref", v: "$" }], also: { $dt: "Object", v: { $dt: "Undefined" } } });
  });
});

describe("value codec: arrays", () => {
  it("keeps sparse arrays' holes, distinct from undefined", () => {
    // biome-ignore lint/suspicious/noSparseArray: the holes are the point
    const sparse = [1, , undefined, , 5, ,];
    expect(encodeValue(sparse)).toStrictEqual({
      $dt: "SparseArray",
      v: {
        length: 6,
        items: [
          [0, 1],
          [2, { $dt: "Undefined", v: null }],
          [4, 5],
        ],
      },
    });
    const back = expectRoundTrip(sparse) as unknown[];
    expect(back).toHaveLength(6);
    expect(1 in back).toBe(false);
    expect(2 in back).toBe(true);
  });

  it("encodes a huge empty array in constant space", () => {
    const huge = new Array(1e9);
    huge[5] = "x";
    expect(JSON.stringify(encodeValue(huge))).toBe(
      '{"$dt":"SparseArray","v":{"length":1000000000,"items":[[5,"x"]]}}',
    );
    const back = roundTrip(huge) as unknown[];
    expect(back).toHaveLength(1e9);
    expect(back[5]).toBe("x");
  });
});

describe("value codec: identity", () => {
  it("restores cycles", () => {
    const root: Record<string, unknown> = { name: "root", children: [] };
    (root.children as unknown[]).push({ parent: root });
    root.self = root;
    expect(encodeValue(root)).toStrictEqual({
      name: "root",
      children: [{ parent: { $dt: "Ref", v: "$" } }],
      self: { $dt: "Ref", v: "$" },
    });
    const back = expectRoundTrip(root) as { self: unknown; children: [{ parent: unknown }] };
    expect(back.self).toBe(back);
    expect(back.children[0].parent).toBe(back);
  });

  it("restores shared references as one object", () => {
    const shared = { id: 1 };
    const date = new Date(0);
    const value = { a: shared, b: [shared], when: date, again: date, m: new Map([["s", shared]]) };
    const encoded = encodeValue(value) as Record<string, JsonValue>;
    expect(encoded.b).toStrictEqual([{ $dt: "Ref", v: "$.a" }]);
    expect(encoded.again).toStrictEqual({ $dt: "Ref", v: "$.when" });
    const back = expectRoundTrip(value) as typeof value;
    expect(back.b[0]).toBe(back.a);
    expect(back.again).toBe(back.when);
    expect(back.m.get("s")).toBe(back.a);
  });

  it("addresses references through tags and quoted keys", () => {
    const shared = { id: 1 };
    const map = new Map<unknown, unknown>([[shared, "value"]]);
    const escaped = { $dt: "x", "odd key": shared };
    const value = { map, escaped, again: shared };
    expect((encodeValue(value) as Record<string, JsonValue>).again).toStrictEqual({
      $dt: "Ref",
      v: "$.map.v[0][0]",
    });
    const back = expectRoundTrip({ escaped, again: shared }) as {
      escaped: Record<string, unknown>;
      again: unknown;
    };
    expect(back.again).toBe(back.escaped["odd key"]);
    expect((encodeValue({ escaped, again: shared }) as Record<string, JsonValue>).again).toStrictEqual({
      $dt: "Ref",
      v: '$.escaped.v["odd key"]',
    });
  });

  it("restores cycles through Maps, Sets and Errors", () => {
    const map = new Map<string, unknown>();
    map.set("me", map);
    const set = new Set<unknown>();
    set.add(set);
    const error = new Error("loop") as Error & { self?: unknown };
    error.self = error;
    const back = expectRoundTrip({ map, set, error }) as {
      map: typeof map;
      set: typeof set;
      error: typeof error;
    };
    expect(back.map.get("me")).toBe(back.map);
    expect([...back.set][0]).toBe(back.set);
    expect(back.error.self).toBe(back.error);
  });
});

describe("value codec: lenient encoding", () => {
  it("stores class instances as plain objects of their own enumerable properties", () => {
    class Invoice {
      readonly id = "inv_1";
      total = 10;
      get doubled() {
        return this.total * 2;
      }
    }
    expect(encodeValue(new Invoice())).toStrictEqual({ id: "inv_1", total: 10 });
    const back = roundTrip(new Invoice());
    expect(back).toStrictEqual({ id: "inv_1", total: 10 });
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it("uses toJSON() of class instances", () => {
    class Money {
      toJSON() {
        return { amount: 5n, currency: "EUR" };
      }
    }
    expect(roundTrip({ price: new Money() })).toStrictEqual({ price: { amount: 5n, currency: "EUR" } });

    class Self {
      x = 1;
      toJSON() {
        return this;
      }
    }
    expect(roundTrip(new Self())).toStrictEqual({ x: 1 });

    class Throws {
      y = 2;
      toJSON(): never {
        throw new Error("no");
      }
    }
    expect(roundTrip(new Throws())).toStrictEqual({ y: 2 });

    const shared = { id: 1 };
    class Wrapper {
      toJSON() {
        return shared;
      }
    }
    const wrapper = new Wrapper();
    const back = roundTrip({ a: shared, w: wrapper, w2: wrapper }) as Record<string, unknown>;
    expect(back.w).toBe(back.a);
    expect(back.w2).toBe(back.a);

    class Parent {
      toJSON(): unknown {
        return { me: this };
      }
    }
    const parent = roundTrip(new Parent()) as { me: unknown };
    expect(parent.me).toBe(parent);
  });

  it("stores functions and symbols as tags that decode to undefined", () => {
    function namedFn() {}
    expect(encodeValue(namedFn)).toStrictEqual({ $dt: "Function", v: "namedFn" });
    expect(encodeValue(Symbol("s"))).toStrictEqual({ $dt: "Symbol", v: "s" });
    expect(roundTrip({ f: namedFn, s: Symbol.iterator, b: Object(Symbol("boxed")) })).toStrictEqual({
      f: undefined,
      s: undefined,
      b: undefined,
    });
    expect(encodeValue({ [Symbol("key")]: 1, a: 1 })).toStrictEqual({ a: 1 });
  });

  it("stores WeakMap, Promise and friends as empty plain objects", () => {
    expect(roundTrip([new WeakMap(), new WeakSet(), Promise.resolve(1)])).toStrictEqual([{}, {}, {}]);
  });

  it("never throws: throwing getters and proxies become undefined", () => {
    const object = {
      ok: 1,
      get bad(): never {
        throw new Error("no");
      },
    };
    expect(roundTrip(object)).toStrictEqual({ ok: 1, bad: undefined });

    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(roundTrip({ p: revoked.proxy })).toStrictEqual({ p: undefined });

    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("no keys");
        },
        getPrototypeOf() {
          throw new Error("no proto");
        },
      },
    );
    expect(() => encodeValue([hostile])).not.toThrow();
  });

  it("truncates nesting deeper than MAX_CODEC_DEPTH instead of overflowing the stack", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < MAX_CODEC_DEPTH + 10; i++) deep = { d: deep };
    let node = roundTrip(deep) as { d: unknown } | undefined;
    let levels = 0;
    while (node !== undefined && typeof node === "object") {
      node = node.d as { d: unknown } | undefined;
      levels++;
    }
    expect(levels).toBe(MAX_CODEC_DEPTH);
    expect(node).toBeUndefined();

    let shallow: unknown = "leaf";
    for (let i = 0; i < MAX_CODEC_DEPTH - 1; i++) shallow = [shallow];
    expectRoundTrip(shallow);
  });
});

describe("decodeValue: malformed input", () => {
  it.each([
    [{ $dt: "Nope", v: 1 }, "$.$dt", 'unknown value tag "Nope"'],
    [
      { a: { $dt: "Ref", v: "$.b" } },
      "$.a.v",
      "malformed encoded value: a Ref to a path not decoded before it",
    ],
    [{ $dt: "Number", v: "7" }, "$.v", /a Number tag/],
    [{ $dt: "BigInt", v: "1.5" }, "$.v", /a BigInt that is not a decimal string/],
    [
      { $dt: "Bytes", v: { type: "Float64Array", base64: "AQID" } },
      "$.v",
      /not a whole number of Float64Array/,
    ],
    [{ $dt: "Bytes", v: { type: "Int128Array", base64: "" } }, "$.v.type", /unknown binary type/],
    [{ $dt: "Map", v: [[1]] }, "$.v[0]", /not a \[key, value\] pair/],
    [{ $dt: "SparseArray", v: { length: -1, items: [] } }, "$.v.length", /not a valid array length/],
  ])("rejects %j", (json, path, reason) => {
    try {
      decodeValue(json as JsonValue);
      expect.unreachable();
    } catch (error) {
      expect(isInvalidPayloadError(error)).toBe(true);
      expect((error as InvalidPayloadError).path).toBe(path);
      if (typeof reason === "string") expect((error as InvalidPayloadError).reason).toBe(reason);
      else expect((error as InvalidPayloadError).reason).toMatch(reason);
    }
  });
});

describe("value codec: properties", () => {
  it("round-trips arbitrary values through JSON to a strictly equal value", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), (value) => {
        expect(roundTrip(value)).toStrictEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it("round-trips arbitrary values with shared references and cycles", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), fc.anything(anythingOptions), (a, b) => {
        const root: Record<string, unknown> = { a, b, again: a, list: [b, a] };
        root.self = root;
        const back = roundTrip(root) as Record<string, unknown>;
        expect(back).toStrictEqual(root);
        expect(back.self).toBe(back);
        expect(back.again).toBe(back.a);
      }),
      { numRuns: 200 },
    );
  });

  it("produces JSON that survives JSON.parse(JSON.stringify(x)) unchanged", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), (value) => {
        const encoded = encodeValue(value);
        expect(JSON.parse(JSON.stringify(encoded))).toStrictEqual(encoded);
      }),
      { numRuns: 500 },
    );
  });

  it("leaves JSON values without a $dt key exactly as they are", () => {
    const json = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as JsonValue);
    fc.assert(
      fc.property(json, (value) => {
        fc.pre(!JSON.stringify(value).includes('"$dt"'));
        expect(encodeValue(value)).toStrictEqual(value);
      }),
    );
  });
});
