/**
 * Tagged JSON for stored results: a replayed result must be deep-equal to the first one, so values
 * JSON cannot hold (undefined, Date, BigInt, Map, binary data, cycles...) are written as tagged
 * nodes `{ "$dt": "<Tag>", "v": ... }` and rebuilt by {@link decodeValue}.
 *
 * Unlike `canonicalize`, `encodeValue` is lenient: it runs after the side effect happened,
 * so it never throws; what it cannot keep it degrades as documented below.
 *
 * | Value                                               | Encoded as                                               | Decoded as                     |
 * | --------------------------------------------------- | -------------------------------------------------------- | ------------------------------ |
 * | null, booleans, strings, finite numbers             | themselves                                               | themselves                     |
 * | `-0`, `NaN`, `Infinity`, `-Infinity`                | `Number` `"-0"` / `"NaN"` / `"Infinity"` / `"-Infinity"` | the number                     |
 * | undefined (anywhere)                                | `Undefined` `null`                                       | undefined (property kept)      |
 * | BigInt                                              | `BigInt` decimal string                                  | the BigInt                     |
 * | Date (also invalid)                                 | `Date` ISO string, null for an invalid Date              | a Date                         |
 * | RegExp                                              | `RegExp` `{ source, flags }`                             | a RegExp (`lastIndex` 0)       |
 * | Map / Set (keys and values of any type)             | `Map` `[[key, value]...]` / `Set` `[value...]`           | a Map / Set, same order        |
 * | Buffer, typed arrays, DataView, (Shared)ArrayBuffer | `Bytes` `{ type, base64 }`                               | the same type (Buffer too)     |
 * | boxed String / Number / Boolean / BigInt            | `Boxed` encoded primitive                                | the boxed value                |
 * | Error (any subclass)                                | `Error` `{ name, message, cause?, errors?, props? }`     | built-in class named by `name` |
 * | plain object without a `$dt` key                    | itself, values encoded                                   | a plain object                 |
 * | plain object with a `$dt` key                       | `Object` `{...}` (escaped: never taken for a tag)        | a plain object                 |
 * | null-prototype object                               | `NullProtoObject` `{...}`                                | a null-prototype object        |
 * | dense array                                         | array, elements encoded                                  | an array                       |
 * | sparse array                                        | `SparseArray` `{ length, items: [[index, value]...] }`   | an array with the same holes   |
 * | object met before (shared or cyclic)                | `Ref` path of its first occurrence                       | the same object (identity)     |
 * | class instance with `toJSON()`                      | its encoded `toJSON()` result                            | that result                    |
 * | other class instance, WeakMap, Promise...           | own enumerable properties, as a plain object             | a plain object (no prototype)  |
 * | function / symbol (also a boxed symbol)             | `Function` name / `Symbol` description                   | undefined                      |
 * | deeper than {@link MAX_CODEC_DEPTH} levels          | `Truncated` `null`                                       | undefined                      |
 *
 * Also lost: symbol-keyed and non-enumerable properties, extra properties on arrays, Maps, Sets,
 * Dates, RegExps and binary views, the subclass of an Error / array / Map... (an Error decodes as
 * the built-in class its `name` names, else as `Error` with that `name`). A getter or proxy that
 * throws while being read is stored as undefined. `code` and any other own enumerable property of
 * an Error are kept in `props`; its stack is not kept (it would put file paths into stored records),
 * a decoded Error's stack is just `name: message`.
 *
 * `Ref` paths address the encoded JSON (so they go through tags' `v` members), in the
 * `childPath` syntax (value-path.ts): `$.items[2]`, `$.cache.v[0][1]`.
 */
import { Buffer } from "node:buffer";
import { types } from "node:util";
import { isPlainPrototype, typedArrayTag, unbox } from "./canonical.js";
import { InvalidPayloadError } from "./errors.js";
import { ownKeys, safeRead } from "./guarded-reads.js";
import { child, pathText, type ValuePath } from "./value-path.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The key that marks a tagged node. */
export const TAG_KEY = "$dt";

/** Deeper values are stored as `Truncated` (decoded as undefined) rather than overflowing the stack. */
export const MAX_CODEC_DEPTH = 500;

const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** Encodes any value as tagged JSON that {@link decodeValue} restores. Never throws. */
export function encodeValue(value: unknown): JsonValue {
  try {
    return encode(value, "$", 0, new Map());
  } catch {
    // Every read is already guarded; this is for engine failures (stack exhausted by the caller).
    return tag("Truncated", null);
  }
}

/** Every object encoded so far, mapped to the path of its first occurrence (for `Ref`). */
type Seen = Map<object, ValuePath>;

function tag(name: string, v: JsonValue): JsonValue {
  return { [TAG_KEY]: name, v };
}

function encode(value: unknown, path: ValuePath, depth: number, seen: Seen): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return encodeNumber(value);
    case "undefined":
      return tag("Undefined", null);
    case "bigint":
      return tag("BigInt", value.toString());
    case "symbol":
      return tag("Symbol", value.description ?? null);
    case "function":
      return tag("Function", functionName(value));
  }
  if (value === null) return null;
  return encodeObject(value as object, path, depth, seen);
}

/** JSON has no -0, NaN or infinities (JSON.stringify would turn them into 0 and null). */
function encodeNumber(value: number): JsonValue {
  if (Number.isNaN(value)) return tag("Number", "NaN");
  if (value === Number.POSITIVE_INFINITY) return tag("Number", "Infinity");
  if (value === Number.NEGATIVE_INFINITY) return tag("Number", "-Infinity");
  if (Object.is(value, -0)) return tag("Number", "-0");
  return value;
}

function encodeObject(value: object, path: ValuePath, depth: number, seen: Seen): JsonValue {
  const earlier = seen.get(value);
  if (earlier !== undefined) return tag("Ref", pathText(earlier));
  if (depth >= MAX_CODEC_DEPTH) return tag("Truncated", null);

  const builtIn = encodeBuiltIn(value, path, depth, seen);
  if (builtIn !== undefined) return builtIn;

  let isArray = false;
  let proto: object | null = null;
  try {
    isArray = Array.isArray(value);
    proto = Object.getPrototypeOf(value);
  } catch {
    // A revoked proxy: nothing can be read from it.
    return tag("Undefined", null);
  }
  if (isArray) {
    seen.set(value, path);
    return encodeArray(value as unknown[], path, depth, seen);
  }
  if (proto === null) {
    seen.set(value, path);
    return tag("NullProtoObject", encodeProperties(value, child(path, "v"), depth, seen));
  }
  if (!isPlainPrototype(proto)) {
    const replaced = encodeWithToJSON(value, path, depth, seen);
    if (replaced !== undefined) return replaced;
  }
  // A plain object, or a class instance kept as its own enumerable properties.
  seen.set(value, path);
  const keys = ownKeys(value);
  if (keys.includes(TAG_KEY)) {
    return tag("Object", encodeProperties(value, child(path, "v"), depth, seen, keys));
  }
  return encodeProperties(value, path, depth, seen, keys);
}

/** Types recognised by their internal slots (so across realms too); undefined for anything else. */
function encodeBuiltIn(value: object, path: ValuePath, depth: number, seen: Seen): JsonValue | undefined {
  if (types.isArrayBufferView(value) || types.isAnyArrayBuffer(value)) {
    seen.set(value, path);
    return tag("Bytes", encodeBytes(value));
  }
  if (types.isDate(value)) {
    seen.set(value, path);
    const time = Date.prototype.getTime.call(value);
    return tag("Date", Number.isNaN(time) ? null : Date.prototype.toISOString.call(value));
  }
  if (types.isRegExp(value)) {
    seen.set(value, path);
    return tag("RegExp", { source: regExpSource(value), flags: regExpFlags(value) });
  }
  if (types.isBoxedPrimitive(value)) {
    const primitive = unbox(value);
    // A boxed symbol cannot be rebuilt any better than a symbol: both decode as undefined.
    if (typeof primitive === "symbol") return encode(primitive, path, depth, seen);
    seen.set(value, path);
    return tag("Boxed", encode(primitive, child(path, "v"), depth, seen));
  }
  if (types.isMap(value)) {
    seen.set(value, path);
    const entries: JsonValue[] = [];
    const entriesPath = child(path, "v");
    for (const [key, item] of Map.prototype.entries.call(value) as IterableIterator<[unknown, unknown]>) {
      const entryPath = child(entriesPath, entries.length);
      entries.push([
        encode(key, child(entryPath, 0), depth + 1, seen),
        encode(item, child(entryPath, 1), depth + 1, seen),
      ]);
    }
    return tag("Map", entries);
  }
  if (types.isSet(value)) {
    seen.set(value, path);
    const items: JsonValue[] = [];
    const itemsPath = child(path, "v");
    for (const item of Set.prototype.values.call(value) as IterableIterator<unknown>) {
      items.push(encode(item, child(itemsPath, items.length), depth + 1, seen));
    }
    return tag("Set", items);
  }
  if (isError(value)) {
    seen.set(value, path);
    return tag("Error", encodeError(value, child(path, "v"), depth, seen));
  }
  return undefined;
}

/**
 * A class instance with a `toJSON()` method is stored as what that method returns. Undefined when
 * there is no usable `toJSON()` (none, it throws, or it returns the object itself).
 */
function encodeWithToJSON(value: object, path: ValuePath, depth: number, seen: Seen): JsonValue | undefined {
  let result: unknown;
  try {
    const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON !== "function") return undefined;
    result = toJSON.call(value, "");
  } catch {
    return undefined;
  }
  if (result === value) return undefined;
  if (typeof result !== "object" || result === null) return encode(result, path, depth + 1, seen);
  // References to `value` must point to wherever its replacement is stored: an earlier copy, or here.
  const earlier = seen.get(result);
  if (earlier !== undefined) {
    seen.set(value, earlier);
    return tag("Ref", pathText(earlier));
  }
  seen.set(value, path); // before encoding, so that a result containing `value` refers back here
  const encoded = encode(result, path, depth + 1, seen);
  // Truncated or unreadable results are not objects once decoded, so nothing may refer to them.
  if (seen.get(result) !== path) seen.delete(value);
  return encoded;
}

function encodeArray(array: unknown[], path: ValuePath, depth: number, seen: Seen): JsonValue {
  const length = arrayLength(safeRead(array, "length"));
  let dense = true;
  for (let index = 0; index < length && dense; index++) dense = safeHas(array, index);
  if (dense) {
    const items: JsonValue[] = [];
    for (let index = 0; index < length; index++) {
      items.push(encode(safeRead(array, index), child(path, index), depth + 1, seen));
    }
    return items;
  }
  // Only the present elements are visited, so `new Array(1e9)` stays small.
  const itemsPath = child(child(path, "v"), "items");
  const items: JsonValue[] = [];
  for (const key of ownKeys(array)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= length || String(index) !== key) continue;
    const entryPath = child(itemsPath, items.length);
    items.push([index, encode(safeRead(array, key), child(entryPath, 1), depth + 1, seen)]);
  }
  return tag("SparseArray", { length, items });
}

/** A real array's length is always valid; a proxy's may be anything, so it is read as 0 then. */
function arrayLength(length: unknown): number {
  return typeof length === "number" && Number.isInteger(length) && length >= 0 && length <= MAX_ARRAY_LENGTH
    ? length
    : 0;
}

/** Own enumerable string-keyed properties, encoded, as a JSON object whose members live under `path`. */
function encodeProperties(
  object: object,
  path: ValuePath,
  depth: number,
  seen: Seen,
  keys: string[] = ownKeys(object),
): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const key of keys) {
    setOwn(out, key, encode(safeRead(object, key), child(path, key), depth + 1, seen));
  }
  return out;
}

function encodeBytes(value: ArrayBufferView | ArrayBufferLike): JsonValue {
  return { type: binaryType(value), base64: bytesOf(value).toString("base64") };
}

function binaryType(value: ArrayBufferView | ArrayBufferLike): string {
  if (types.isSharedArrayBuffer(value)) return "SharedArrayBuffer";
  if (types.isArrayBuffer(value)) return "ArrayBuffer";
  if (Buffer.isBuffer(value)) return "Buffer";
  if (types.isDataView(value)) return "DataView";
  return typedArrayTag(value) ?? "Uint8Array";
}

/** The bytes a buffer or view covers; none for a detached buffer (whose views throw when read). */
function bytesOf(value: ArrayBufferView | ArrayBufferLike): Buffer {
  try {
    if (types.isAnyArrayBuffer(value)) return Buffer.from(value);
    const view = value as ArrayBufferView;
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * The parts of an Error that equality (and a reader) cares about: name, message, cause, the
 * `errors` of an AggregateError, and every own enumerable property (`code`, `status`...) in
 * `props`. cause and errors are stored on their own only when they are not own enumerable
 * properties already. The stack is not kept: it would leak file paths into stored records and
 * say nothing true about a replay.
 */
function encodeError(
  error: object,
  path: ValuePath,
  depth: number,
  seen: Seen,
): { [key: string]: JsonValue } {
  const keys = ownKeys(error);
  const name = safeRead(error, "name");
  const message = safeRead(error, "message");
  const out: { [key: string]: JsonValue } = {
    name: typeof name === "string" ? name : "Error",
    message: typeof message === "string" ? message : "",
  };
  if (safeHasOwn(error, "cause") && !keys.includes("cause")) {
    out.cause = encode(safeRead(error, "cause"), child(path, "cause"), depth + 1, seen);
  }
  const errors = isAggregateError(error) ? safeRead(error, "errors") : undefined;
  if (Array.isArray(errors) && !keys.includes("errors")) {
    out.errors = encode(errors, child(path, "errors"), depth + 1, seen);
  }
  if (keys.length > 0) out.props = encodeProperties(error, child(path, "props"), depth, seen, keys);
  return out;
}

function isError(value: object): boolean {
  try {
    return types.isNativeError(value) || value instanceof Error;
  } catch {
    return false;
  }
}

function isAggregateError(value: object): boolean {
  try {
    return value instanceof AggregateError;
  } catch {
    return false;
  }
}

const regExpSourceGetter = Object.getOwnPropertyDescriptor(RegExp.prototype, "source")?.get;
const regExpFlagsGetter = Object.getOwnPropertyDescriptor(RegExp.prototype, "flags")?.get;

function regExpSource(value: object): string {
  const source: unknown = regExpSourceGetter?.call(value);
  return typeof source === "string" ? source : "(?:)";
}

/** `flags` reads the individual flag getters, which a subclass could override to throw. */
function regExpFlags(value: object): string {
  try {
    const flags: unknown = regExpFlagsGetter?.call(value);
    return typeof flags === "string" ? flags : "";
  } catch {
    return "";
  }
}

function functionName(fn: unknown): string {
  const name = safeRead(fn as object, "name");
  return typeof name === "string" ? name : "";
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/**
 * Rebuilds a value from {@link encodeValue}'s output (after any number of JSON round trips).
 *
 * @throws InvalidPayloadError if `json` holds an unknown tag or a malformed tagged node (a record
 *   written by a newer version, or modified by hand); its `path` points at the node.
 */
export function decodeValue(json: JsonValue): unknown {
  return decode(json, "$", new Decoded());
}

/**
 * Every object decoded so far, by the location of its node in the encoded JSON (the targets of
 * `Ref`). Locations are written out as text only once a `Ref` asks for one: most values have none.
 */
class Decoded {
  readonly #pending: [ValuePath, unknown][] = [];
  #byText: Map<string, unknown> | undefined;

  set(path: ValuePath, value: unknown): void {
    if (this.#byText === undefined) this.#pending.push([path, value]);
    else this.#byText.set(pathText(path), value);
  }

  has(text: string): boolean {
    return this.#index().has(text);
  }

  get(text: string): unknown {
    return this.#index().get(text);
  }

  #index(): Map<string, unknown> {
    if (this.#byText === undefined) {
      this.#byText = new Map(this.#pending.map(([path, value]) => [pathText(path), value]));
      this.#pending.length = 0;
    }
    return this.#byText;
  }
}

function decode(json: unknown, path: ValuePath, decoded: Decoded): unknown {
  if (json === null || typeof json !== "object") {
    if (typeof json === "number" || typeof json === "string" || typeof json === "boolean" || json === null) {
      return json;
    }
    throw malformed(path, `${typeof json} is not JSON`);
  }
  if (Array.isArray(json)) {
    const array: unknown[] = [];
    decoded.set(path, array);
    json.forEach((item, index) => {
      array.push(decode(item, child(path, index), decoded));
    });
    return array;
  }
  const node = json as { [key: string]: unknown };
  if (Object.hasOwn(node, TAG_KEY)) return decodeTagged(node, path, decoded);
  const object: Record<string, unknown> = {};
  decoded.set(path, object);
  return decodeProperties(node, path, object, decoded);
}

function decodeTagged(node: { [key: string]: unknown }, path: ValuePath, decoded: Decoded): unknown {
  const name = node[TAG_KEY];
  const v = node.v;
  const vPath = child(path, "v");
  switch (name) {
    case "Undefined":
    case "Function":
    case "Symbol":
    case "Truncated":
      return undefined;
    case "Number":
      return decodeNumber(v, vPath);
    case "BigInt":
      return decodeBigInt(v, vPath);
    case "Ref": {
      if (typeof v !== "string" || !decoded.has(v))
        throw malformed(vPath, "a Ref to a path not decoded before it");
      return decoded.get(v);
    }
    case "Object":
    case "NullProtoObject": {
      const object: Record<string, unknown> = name === "Object" ? {} : Object.create(null);
      decoded.set(path, object);
      return decodeProperties(expectObject(v, vPath), vPath, object, decoded);
    }
    case "SparseArray":
      return decodeSparseArray(v, vPath, path, decoded);
    case "Date": {
      if (v !== null && typeof v !== "string")
        throw malformed(vPath, "a Date that is neither a string nor null");
      const date = new Date(v === null ? Number.NaN : v);
      decoded.set(path, date);
      return date;
    }
    case "RegExp":
      return register(decoded, path, decodeRegExp(v, vPath));
    case "Bytes":
      return register(decoded, path, decodeBytes(v, vPath));
    case "Boxed": {
      const primitive = decode(v, vPath, decoded);
      if (typeof primitive === "object" || typeof primitive === "undefined") {
        throw malformed(vPath, "a Boxed value that is not a primitive");
      }
      return register(decoded, path, Object(primitive));
    }
    case "Map": {
      const map = new Map<unknown, unknown>();
      decoded.set(path, map);
      expectArray(v, vPath).forEach((entry, index) => {
        const entryPath = child(vPath, index);
        const pair = expectArray(entry, entryPath);
        if (pair.length !== 2) throw malformed(entryPath, "a Map entry that is not a [key, value] pair");
        const key = decode(pair[0], child(entryPath, 0), decoded);
        map.set(key, decode(pair[1], child(entryPath, 1), decoded));
      });
      return map;
    }
    case "Set": {
      const set = new Set<unknown>();
      decoded.set(path, set);
      expectArray(v, vPath).forEach((item, index) => {
        set.add(decode(item, child(vPath, index), decoded));
      });
      return set;
    }
    case "Error":
      return decodeError(v, vPath, path, decoded);
    default:
      throw new InvalidPayloadError(
        pathText(child(path, TAG_KEY)),
        `unknown value tag ${JSON.stringify(name)}`,
        "The record was written by a newer version of durable-tools, or modified; upgrade, or repair the record.",
      );
  }
}

function register<T>(decoded: Decoded, path: ValuePath, value: T): T {
  decoded.set(path, value);
  return value;
}

/** Decodes the members of `json` (found under `path`) onto `target`. */
function decodeProperties(
  json: { [key: string]: unknown },
  path: ValuePath,
  target: Record<string, unknown>,
  decoded: Decoded,
): Record<string, unknown> {
  for (const key of Object.keys(json)) {
    setOwn(target, key, decode(json[key], child(path, key), decoded));
  }
  return target;
}

function decodeNumber(v: unknown, path: ValuePath): number {
  switch (v) {
    case "NaN":
      return Number.NaN;
    case "Infinity":
      return Number.POSITIVE_INFINITY;
    case "-Infinity":
      return Number.NEGATIVE_INFINITY;
    case "-0":
      return -0;
    default:
      throw malformed(path, "a Number tag that is not NaN, Infinity, -Infinity or -0");
  }
}

function decodeBigInt(v: unknown, path: ValuePath): bigint {
  if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
  throw malformed(path, "a BigInt that is not a decimal string");
}

function decodeSparseArray(v: unknown, vPath: ValuePath, path: ValuePath, decoded: Decoded): unknown[] {
  const { length, items } = expectObject(v, vPath);
  if (typeof length !== "number" || !Number.isInteger(length) || length < 0 || length > MAX_ARRAY_LENGTH) {
    throw malformed(child(vPath, "length"), "a SparseArray length that is not a valid array length");
  }
  const array: unknown[] = new Array(length);
  decoded.set(path, array);
  const itemsPath = child(vPath, "items");
  expectArray(items, itemsPath).forEach((entry, position) => {
    const entryPath = child(itemsPath, position);
    const pair = expectArray(entry, entryPath);
    const index = pair[0];
    if (
      pair.length !== 2 ||
      typeof index !== "number" ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= length
    ) {
      throw malformed(entryPath, "a SparseArray item that is not an [index, value] pair");
    }
    array[index] = decode(pair[1], child(entryPath, 1), decoded);
  });
  return array;
}

function decodeRegExp(v: unknown, path: ValuePath): RegExp {
  const { source, flags } = expectObject(v, path);
  if (typeof source !== "string" || typeof flags !== "string") {
    throw malformed(path, "a RegExp without a string source and flags");
  }
  try {
    return new RegExp(source, flags);
  } catch {
    throw malformed(path, "a RegExp that does not compile");
  }
}

const TYPED_ARRAYS: Record<string, (buffer: ArrayBuffer) => ArrayBufferView> = Object.fromEntries(
  [
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float16Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
  ]
    .map((name) => [name, (globalThis as unknown as Record<string, unknown>)[name]] as const)
    .filter(([, ctor]) => typeof ctor === "function")
    .map(([name, ctor]) => [
      name,
      (buffer: ArrayBuffer) => new (ctor as new (buffer: ArrayBuffer) => ArrayBufferView)(buffer),
    ]),
);

function decodeBytes(v: unknown, path: ValuePath): object {
  const { type, base64 } = expectObject(v, path);
  if (typeof type !== "string" || typeof base64 !== "string") {
    throw malformed(path, "a Bytes value without a string type and base64");
  }
  const bytes = Buffer.from(base64, "base64");
  if (type === "Buffer") return bytes;
  if (type === "SharedArrayBuffer") {
    const shared = new SharedArrayBuffer(bytes.length);
    new Uint8Array(shared).set(bytes);
    return shared;
  }
  // A fresh, exactly sized buffer: typed arrays need an aligned start and whole elements.
  const buffer = new ArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  if (type === "ArrayBuffer") return buffer;
  if (type === "DataView") return new DataView(buffer);
  const make = TYPED_ARRAYS[type];
  if (make === undefined) throw malformed(child(path, "type"), `unknown binary type ${JSON.stringify(type)}`);
  try {
    return make(buffer);
  } catch {
    throw malformed(path, `${bytes.length} bytes are not a whole number of ${type} elements`);
  }
}

const ERROR_CLASSES: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Rebuilds an Error with the built-in class its name names (else Error), then its stored parts. */
function decodeError(v: unknown, vPath: ValuePath, path: ValuePath, decoded: Decoded): Error {
  const parts = expectObject(v, vPath);
  const { name, message } = parts;
  if (typeof name !== "string" || typeof message !== "string") {
    throw malformed(vPath, "an Error without a string name and message");
  }
  const error =
    name === "AggregateError" ? new AggregateError([], message) : new (ERROR_CLASSES[name] ?? Error)(message);
  decoded.set(path, error);
  if (error.name !== name) defineHidden(error, "name", name);
  // Frames from this decoder would be misleading; the original ones were not stored.
  defineHidden(error, "stack", `${name}: ${message}`);
  if (Object.hasOwn(parts, "cause"))
    defineHidden(error, "cause", decode(parts.cause, child(vPath, "cause"), decoded));
  if (Object.hasOwn(parts, "errors")) {
    defineHidden(error, "errors", decode(parts.errors, child(vPath, "errors"), decoded));
  }
  if (Object.hasOwn(parts, "props")) {
    const propsPath = child(vPath, "props");
    decodeProperties(
      expectObject(parts.props, propsPath),
      propsPath,
      error as unknown as Record<string, unknown>,
      decoded,
    );
  }
  return error;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function safeHas(object: object, key: string | number): boolean {
  try {
    return key in object;
  } catch {
    return false;
  }
}

function safeHasOwn(object: object, key: string): boolean {
  try {
    return Object.hasOwn(object, key);
  } catch {
    return false;
  }
}

/**
 * Defines an ordinary (enumerable, writable) own property. Plain assignment would set the prototype
 * for "__proto__", and would keep an existing own property (an Error's `name`) non-enumerable.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__" || Object.hasOwn(target, key)) {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** An own non-enumerable property, as an Error's own stack/cause/errors are. */
function defineHidden(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: false, configurable: true });
}

function expectObject(v: unknown, path: ValuePath): { [key: string]: unknown } {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw malformed(path, "expected a JSON object");
  return v as { [key: string]: unknown };
}

function expectArray(v: unknown, path: ValuePath): unknown[] {
  if (!Array.isArray(v)) throw malformed(path, "expected a JSON array");
  return v;
}

function malformed(path: ValuePath, reason: string): InvalidPayloadError {
  return new InvalidPayloadError(
    pathText(path),
    `malformed encoded value: ${reason}`,
    "Pass the output of encodeValue() (after any JSON round trips), unmodified.",
  );
}
