/**
 * RFC 8785 (JSON Canonicalization Scheme, "JCS") canonical JSON.
 *
 * The same arguments must always produce the same bytes, so that they fingerprint the same way on
 * every call, machine and Node version. JCS fixes the two things plain `JSON.stringify` leaves
 * open: object keys are sorted by UTF-16 code units and numbers are written the way ECMAScript
 * writes them (`-0` becomes `0`). Strings are written as `JSON.stringify` writes them (well-formed:
 * lone surrogates are escaped as `\udXXX`).
 *
 * Values JSON cannot represent are never guessed at: either they have one documented meaning or
 * they throw an {@link InvalidPayloadError} whose `path` points at them (`$`, `$.card.number`,
 * `$.items[3]`, `$["odd key"]`).
 *
 * | Value                                              | Canonical form                                          |
 * | -------------------------------------------------- | ------------------------------------------------------- |
 * | `null`, booleans, strings, finite numbers          | JCS (`-0` → `0`)                                        |
 * | plain objects (`Object.prototype` / `null` proto)  | own enumerable string keys, sorted; symbol keys ignored |
 * | arrays                                             | elements in order; extra non-index properties ignored   |
 * | object property whose value is `undefined`         | omitted (as `JSON.stringify` does)                      |
 * | `undefined` at top level or as an array element    | InvalidPayloadError                                     |
 * | sparse array hole                                  | InvalidPayloadError                                     |
 * | `NaN`, `Infinity`, `-Infinity`                     | InvalidPayloadError                                     |
 * | BigInt                                             | InvalidPayloadError (pass it as a decimal string)       |
 * | Date                                               | `toISOString()`; an invalid Date → InvalidPayloadError  |
 * | boxed primitives (`new String/Number/Boolean`)     | their primitive value (boxed BigInt/Symbol: as above)   |
 * | Map, Set, WeakMap, WeakSet                         | InvalidPayloadError (convert to object / sorted array)  |
 * | typed arrays, ArrayBuffer, DataView, Buffer        | InvalidPayloadError (base64-encode), even with toJSON   |
 * | functions, symbols (as values)                     | InvalidPayloadError                                     |
 * | class instance with a `toJSON()` method            | `toJSON(key)`'s result, canonicalised the same way      |
 * | class instance without `toJSON()` (Error, RegExp…) | InvalidPayloadError naming the class                    |
 * | cycles                                             | InvalidPayloadError where the cycle re-enters           |
 * | shared (non-cyclic) references                     | serialised at each place they appear                    |
 * | getters, proxies or `toJSON()` that throw          | InvalidPayloadError at that path                        |
 * | nesting deeper than {@link MAX_CANONICAL_DEPTH}    | InvalidPayloadError                                     |
 * | output over `maxBytes` UTF-8 bytes                 | InvalidPayloadError at `$`                              |
 *
 * A class instance is an object whose prototype is neither `Object.prototype` nor `null` (arrays
 * excepted); a plain object from another realm (`vm`) still counts as plain.
 *
 * Built-in types (Date, boxed primitives, Map, Set, binary data) are recognised by their internal
 * slots (`node:util` `types`), so they are detected across realms and cannot be spoofed, and they
 * are handled before any `toJSON` method: a patched `Date.prototype.toJSON` cannot change a
 * fingerprint. A plain object's own `toJSON` function is just a function-valued property (an error).
 *
 * Nothing but {@link InvalidPayloadError} (or {@link InvalidConfigurationError} for bad options)
 * ever escapes `canonicalize`.
 */
import { Buffer } from "node:buffer";
import { types } from "node:util";
import { hasBuiltInSlots, plainCanonical } from "./canonical-plain.js";
import { InvalidConfigurationError, InvalidPayloadError, messageOf } from "./errors.js";
import { child, pathText, type ValuePath } from "./value-path.js";

export { childPath } from "./value-path.js";

/** Default limit on the canonical JSON's size: 1 MiB of UTF-8. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Deeper nesting is refused rather than risking a stack overflow. */
export const MAX_CANONICAL_DEPTH = 1000;

export interface CanonicalizeOptions {
  /** Largest accepted canonical output, in UTF-8 bytes. Default {@link DEFAULT_MAX_PAYLOAD_BYTES}. */
  maxBytes?: number;
}

/**
 * Serialises `value` as RFC 8785 canonical JSON.
 *
 * @throws InvalidPayloadError if `value` (or anything inside it) has no canonical JSON form, or the
 *   output is over `maxBytes`.
 * @throws InvalidConfigurationError if `options.maxBytes` is not a positive integer.
 */
export function canonicalize(value: unknown, options?: CanonicalizeOptions): string {
  const maxBytes = resolveMaxBytes(options?.maxBytes);
  return plainCanonical(value, maxBytes) ?? exactCanonical(value, maxBytes);
}

/**
 * The exact writer: every value and every error of the table above. `canonicalize` tries the fast
 * path for plain data first (canonical-plain.ts), which gives the same output or gives up. @internal
 */
export function exactCanonical(value: unknown, maxBytes: number): string {
  const output = new Output(maxBytes);
  try {
    writeValue(value, "$", "", output, new Map(), 0);
  } catch (error) {
    if (error instanceof InvalidPayloadError) throw error;
    // Only an engine failure (such as running out of stack) can get here: still report it as a payload problem.
    throw new InvalidPayloadError(
      "$",
      `could not be serialised (${describe(error)})`,
      "Pass plain JSON data: objects, arrays, strings, finite numbers, booleans and null.",
    );
  }
  return output.finish();
}

function resolveMaxBytes(maxBytes: unknown): number {
  if (maxBytes === undefined) return DEFAULT_MAX_PAYLOAD_BYTES;
  if (typeof maxBytes !== "number" || !Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new InvalidConfigurationError(
      `maxBytes must be a positive integer number of bytes, got ${typeof maxBytes === "number" ? maxBytes : typeof maxBytes}.`,
    );
  }
  return maxBytes;
}

/**
 * Accumulates the output. Its UTF-8 size is measured once, at the end: characters never outnumber
 * UTF-8 bytes, so while the text has at most `maxBytes` characters nothing can be over the limit yet.
 * Past that it stops keeping text (the result is an error anyway) and counts bytes instead, so the
 * error can give the real size; it gives up counting at twice the limit, so shared references that
 * fan out exponentially cannot run for ever.
 */
class Output {
  private text = "";
  /** UTF-8 bytes written, once counting (the text is over the limit in characters alone). */
  private bytes = -1;
  private readonly countLimit: number;

  constructor(private readonly maxBytes: number) {
    this.countLimit = maxBytes * 2;
  }

  write(chunk: string): void {
    if (this.bytes < 0) {
      this.text += chunk;
      if (this.text.length <= this.maxBytes) return;
      this.bytes = Buffer.byteLength(this.text, "utf8");
      this.text = "";
    } else {
      this.bytes += Buffer.byteLength(chunk, "utf8");
    }
    if (this.bytes > this.countLimit) throw this.tooLarge(`is at least ${this.bytes} bytes`);
  }

  finish(): string {
    const bytes = this.bytes < 0 ? Buffer.byteLength(this.text, "utf8") : this.bytes;
    if (bytes > this.maxBytes) throw this.tooLarge(`is ${bytes} bytes`);
    return this.text;
  }

  private tooLarge(size: string): InvalidPayloadError {
    return new InvalidPayloadError(
      "$",
      `payload ${size}, over the limit of ${this.maxBytes} bytes`,
      "Raise maxPayloadBytes, or pass a reference (an id or URL) to the data instead of the data itself.",
    );
  }
}

/** Objects currently being serialised (the path from the root), each mapped to its path. */
type Ancestors = Map<object, ValuePath>;

function writeValue(
  value: unknown,
  path: ValuePath,
  key: string,
  output: Output,
  ancestors: Ancestors,
  depth: number,
): void {
  switch (typeof value) {
    case "string":
      output.write(JSON.stringify(value));
      return;
    case "number":
      output.write(formatNumber(value, path));
      return;
    case "boolean":
      output.write(value ? "true" : "false");
      return;
    case "undefined":
      throw new InvalidPayloadError(
        pathText(path),
        "undefined is not JSON",
        "Use null, or leave the property out of its object.",
      );
    case "bigint":
      throw new InvalidPayloadError(
        pathText(path),
        "a BigInt is not JSON",
        "Pass it as a decimal string, e.g. value.toString().",
      );
    case "symbol":
      throw new InvalidPayloadError(pathText(path), "a symbol is not JSON", "Pass a string instead.");
    case "function":
      throw new InvalidPayloadError(
        pathText(path),
        "a function is not JSON",
        "Pass data only; call the function first and pass its result.",
      );
  }
  if (value === null) {
    output.write("null");
    return;
  }
  writeObject(value as object, path, key, output, ancestors, depth);
}

/** JCS number serialisation is exactly ECMAScript's Number::toString, which also turns -0 into "0". */
function formatNumber(value: number, path: ValuePath): string {
  if (!Number.isFinite(value)) {
    throw new InvalidPayloadError(
      pathText(path),
      `${value} is not JSON`,
      "Pass a finite number, or null / a string if the value is really missing or unbounded.",
    );
  }
  return String(value);
}

function writeObject(
  value: object,
  path: ValuePath,
  key: string,
  output: Output,
  ancestors: Ancestors,
  depth: number,
): void {
  const cycleStart = ancestors.get(value);
  if (cycleStart !== undefined) {
    throw new InvalidPayloadError(
      pathText(path),
      `circular reference back to ${pathText(cycleStart)}`,
      "Remove the cycle, e.g. refer to the parent by an id.",
    );
  }
  if (depth >= MAX_CANONICAL_DEPTH) {
    throw new InvalidPayloadError(
      pathText(path),
      `nested more than ${MAX_CANONICAL_DEPTH} levels deep`,
      "Flatten the payload.",
    );
  }
  const shape = inspectObject(value, path, key);
  ancestors.set(value, path);
  if (shape.kind === "array") {
    writeArray(value as unknown[], path, output, ancestors, depth);
  } else if (shape.kind === "object") {
    writePlainObject(value, path, output, ancestors, depth);
  } else {
    if (shape.value === undefined) {
      throw new InvalidPayloadError(
        pathText(path),
        "toJSON() returned undefined",
        "Make toJSON() return JSON data (null if there is nothing to send).",
      );
    }
    // Still inside `value`, so a toJSON() that returns `this` (or contains it) is reported as a cycle.
    writeValue(shape.value, path, key, output, ancestors, depth + 1);
  }
  ancestors.delete(value);
}

function writeArray(
  array: unknown[],
  path: ValuePath,
  output: Output,
  ancestors: Ancestors,
  depth: number,
): void {
  const length = readProperty(array, "length", path) as number;
  output.write("[");
  for (let index = 0; index < length; index++) {
    const itemPath = child(path, index);
    if (index > 0) output.write(",");
    if (!hasIndex(array, index, itemPath)) {
      throw new InvalidPayloadError(
        pathText(itemPath),
        "sparse array hole",
        "Fill the hole with null, or pass a dense array.",
      );
    }
    const item = readProperty(array, index, itemPath);
    if (item === undefined) {
      throw new InvalidPayloadError(
        pathText(itemPath),
        "undefined is not JSON (in an array)",
        "Use null, or remove the element.",
      );
    }
    writeValue(item, itemPath, String(index), output, ancestors, depth + 1);
  }
  output.write("]");
}

function writePlainObject(
  object: object,
  path: ValuePath,
  output: Output,
  ancestors: Ancestors,
  depth: number,
): void {
  let keys: string[];
  try {
    keys = Object.keys(object);
  } catch (error) {
    throw unreadable(path, "listing its keys", error);
  }
  keys.sort(compareUtf16);
  output.write("{");
  let first = true;
  for (const key of keys) {
    const propertyPath = child(path, key);
    const item = readProperty(object, key, propertyPath);
    if (item === undefined) continue; // as JSON.stringify does
    if (!first) output.write(",");
    first = false;
    output.write(JSON.stringify(key));
    output.write(":");
    writeValue(item, propertyPath, key, output, ancestors, depth + 1);
  }
  output.write("}");
}

/** JCS orders keys by UTF-16 code units, which is exactly what `<` on strings compares. */
function compareUtf16(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/**
 * How an object is serialised: as an array, as a plain object, or replaced by another value (a
 * Date's ISO string, a boxed primitive's value, a `toJSON()` result). Throws for types with no
 * canonical form.
 */
export type Shape = { kind: "array" } | { kind: "object" } | { kind: "replaced"; value: unknown };

export function inspectObject(value: object, path: ValuePath, key: string): Shape {
  let isArray: boolean;
  let proto: object | null;
  try {
    isArray = Array.isArray(value);
    proto = Object.getPrototypeOf(value);
  } catch (error) {
    // A revoked proxy, or a proxy whose getPrototypeOf trap throws.
    throw unreadable(path, "inspecting it", error);
  }
  if (isArray) return { kind: "array" };
  if (hasBuiltInSlots(value)) return builtInShape(value, path);
  if (isPlainPrototype(proto)) return { kind: "object" };
  return { kind: "replaced", value: callToJSON(value, proto, path, key) };
}

/** A built-in (`hasBuiltInSlots`): what replaces it, or the error that says how to pass it instead. */
function builtInShape(value: object, path: ValuePath): Shape {
  if (types.isDate(value)) return { kind: "replaced", value: dateToIso(value, path) };
  if (types.isBoxedPrimitive(value)) return { kind: "replaced", value: unbox(value) };
  if (types.isMap(value) || types.isWeakMap(value)) {
    throw new InvalidPayloadError(
      pathText(path),
      `a ${types.isMap(value) ? "Map" : "WeakMap"} is not JSON`,
      "Convert it to a plain object (Object.fromEntries(map)) or to an array of [key, value] pairs sorted by key.",
    );
  }
  if (types.isSet(value) || types.isWeakSet(value)) {
    throw new InvalidPayloadError(
      pathText(path),
      `a ${types.isSet(value) ? "Set" : "WeakSet"} is not JSON`,
      "Convert it to a sorted array.",
    );
  }
  // What is left of hasBuiltInSlots: binary data.
  throw new InvalidPayloadError(
    pathText(path),
    `${binaryTypeName(value)} is binary data, not JSON`,
    "Base64-encode it into a string.",
  );
}

function binaryTypeName(value: object): string {
  if (Buffer.isBuffer(value)) return "a Buffer";
  if (types.isDataView(value)) return "a DataView";
  if (types.isSharedArrayBuffer(value)) return "a SharedArrayBuffer";
  if (types.isArrayBuffer(value)) return "an ArrayBuffer";
  return `a ${typedArrayTag(value) ?? "typed array"}`;
}

const typedArrayToStringTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  Symbol.toStringTag,
)?.get;

/**
 * The real element type of a typed array ("Float64Array"...), read from its internal slot; undefined
 * for anything else. @internal
 */
export function typedArrayTag(value: object): string | undefined {
  const tag: unknown = typedArrayToStringTag?.call(value);
  return typeof tag === "string" ? tag : undefined;
}

function dateToIso(date: Date, path: ValuePath): string {
  // The intrinsic methods, so that a Date subclass or a patched prototype cannot change the output.
  if (Number.isNaN(Date.prototype.getTime.call(date))) {
    throw new InvalidPayloadError(
      pathText(path),
      "invalid Date",
      "Pass a valid Date, or null if there is no date.",
    );
  }
  return Date.prototype.toISOString.call(date);
}

/**
 * The primitive inside a boxed value, read with the intrinsic `valueOf` (user overrides are
 * ignored). `value` must be a boxed primitive (`types.isBoxedPrimitive`). @internal
 */
export function unbox(value: object): unknown {
  if (types.isNumberObject(value)) return Number.prototype.valueOf.call(value);
  if (types.isStringObject(value)) return String.prototype.valueOf.call(value);
  if (types.isBooleanObject(value)) return Boolean.prototype.valueOf.call(value);
  if (types.isBigIntObject(value)) return BigInt.prototype.valueOf.call(value);
  return Symbol.prototype.valueOf.call(value);
}

/**
 * Plain objects have `Object.prototype` or `null` as prototype. `Object.prototype` of another realm
 * (a `vm` context, an iframe) counts too: it is the only null-prototype object whose constructor
 * is a function named "Object" pointing back at it. @internal
 */
export function isPlainPrototype(proto: object | null): boolean {
  if (proto === null || proto === Object.prototype) return true;
  try {
    if (Object.getPrototypeOf(proto) !== null) return false;
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    return typeof ctor === "function" && ctor.name === "Object" && ctor.prototype === proto;
  } catch {
    return false;
  }
}

function callToJSON(value: object, proto: object | null, path: ValuePath, key: string): unknown {
  const toJSON = readProperty(value, "toJSON", path);
  if (typeof toJSON !== "function") {
    const name = className(proto);
    throw new InvalidPayloadError(
      pathText(path),
      `an instance of ${name} is not JSON (it has no toJSON() method)`,
      `Pass a plain object, or give ${name} a toJSON() method.`,
    );
  }
  try {
    return toJSON.call(value, key);
  } catch (error) {
    throw new InvalidPayloadError(
      pathText(path),
      `toJSON() threw: ${describe(error)}`,
      "Fix toJSON(), or pass a plain object.",
    );
  }
}

/** Name of the class an object was made by, for error messages; never throws. */
function className(proto: object | null): string {
  try {
    const ctor: unknown = (proto as { constructor?: unknown } | null)?.constructor;
    if (typeof ctor === "function" && typeof ctor.name === "string" && ctor.name !== "") return ctor.name;
  } catch {
    // fall through: a throwing getter or proxy trap only costs us the name
  }
  return "an anonymous class";
}

/** Reads a property; a throwing getter or proxy trap becomes an InvalidPayloadError at `path`. */
function readProperty(object: object, key: string | number, path: ValuePath): unknown {
  try {
    return (object as Record<string | number, unknown>)[key];
  } catch (error) {
    throw unreadable(path, "reading it", error);
  }
}

function hasIndex(array: unknown[], index: number, path: ValuePath): boolean {
  try {
    return index in array;
  } catch (error) {
    throw unreadable(path, "checking it", error);
  }
}

/** `messageOf`, made safe for thrown values that themselves throw when inspected (proxies, null-prototype objects). */
function describe(error: unknown): string {
  try {
    return messageOf(error);
  } catch {
    return "an unprintable value was thrown";
  }
}

function unreadable(path: ValuePath, action: string, error: unknown): InvalidPayloadError {
  return new InvalidPayloadError(
    pathText(path),
    `threw while ${action}: ${describe(error)}`,
    "Pass plain data (no throwing getters or proxies).",
  );
}
