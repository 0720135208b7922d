/**
 * The fast path of canonical JSON, for the common case: plain JSON data. It copies the value with
 * every object's keys in JCS order (UTF-16 code units, which is what the default sort compares) and
 * lets the engine's JSON.stringify write the copy: strings and numbers come out exactly as the exact
 * writer in canonical.ts writes them, and about five times faster than writing them piece by piece.
 *
 * Anything else gives up (undefined) and the exact writer takes over, so every error and every edge
 * case is decided there: built-ins and class instances, toJSON, functions, symbols, BigInts,
 * non-finite numbers, undefined array elements, holes, integer-like keys (JSON.stringify would move
 * them to the front), `__proto__` keys, deep nesting (cycles included), output over `maxBytes`, a
 * getter or proxy that throws, and a `toJSON` patched onto a built-in prototype. A getter is read
 * again when the exact writer takes over.
 */
import { Buffer } from "node:buffer";
import { types } from "node:util";

/** Deeper values go to the exact writer, which reports cycles and its own depth limit. */
const MAX_PLAIN_DEPTH = 64;

const GIVE_UP: unique symbol = Symbol("give up");
type Copy = unknown;

/**
 * The output's characters still allowed, counted low (a string as its length plus quotes, before
 * escaping); each node takes at least one, so it also bounds the work.
 */
interface Budget {
  chars: number;
}

/** The canonical JSON of plain data, or undefined when the exact writer must decide. */
export function plainCanonical(value: unknown, maxBytes: number): string | undefined {
  if (prototypesHaveToJSON()) return undefined;
  let copy: Copy | typeof GIVE_UP;
  try {
    copy = plainCopy(value, { chars: maxBytes }, 0);
  } catch {
    return undefined;
  }
  if (copy === GIVE_UP) return undefined;
  const json = JSON.stringify(copy);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: only long output needs counting.
  if (json.length * 3 > maxBytes && Buffer.byteLength(json, "utf8") > maxBytes) return undefined;
  return json;
}

/** JSON.stringify calls toJSON found on these prototypes; the exact writer never does. */
function prototypesHaveToJSON(): boolean {
  return (
    hasToJSON(Object.prototype) ||
    hasToJSON(Array.prototype) ||
    hasToJSON(String.prototype) ||
    hasToJSON(Number.prototype) ||
    hasToJSON(Boolean.prototype)
  );
}

function hasToJSON(prototype: object): boolean {
  return (prototype as { toJSON?: unknown }).toJSON !== undefined;
}

function plainCopy(value: unknown, budget: Budget, depth: number): Copy | typeof GIVE_UP {
  switch (typeof value) {
    case "string":
      budget.chars -= value.length + 2;
      return budget.chars < 0 ? GIVE_UP : value;
    case "number":
      budget.chars -= 1;
      return Number.isFinite(value) && budget.chars >= 0 ? value : GIVE_UP;
    case "boolean":
      budget.chars -= 4;
      return budget.chars < 0 ? GIVE_UP : value;
    case "object":
      break;
    default:
      return GIVE_UP;
  }
  if (value === null) {
    budget.chars -= 4;
    return budget.chars < 0 ? GIVE_UP : null;
  }
  budget.chars -= 2;
  if (depth >= MAX_PLAIN_DEPTH || budget.chars < 0) return GIVE_UP;
  if (Array.isArray(value)) return plainArrayCopy(value, budget, depth);
  const proto = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || hasBuiltInSlots(value)) return GIVE_UP;
  return plainObjectCopy(value, budget, depth);
}

function plainArrayCopy(array: unknown[], budget: Budget, depth: number): Copy[] | typeof GIVE_UP {
  const length = array.length;
  const copy: Copy[] = new Array(length);
  for (let index = 0; index < length; index++) {
    if (!(index in array)) return GIVE_UP;
    const item = array[index];
    if (item === undefined) return GIVE_UP;
    const itemCopy = plainCopy(item, budget, depth + 1);
    if (itemCopy === GIVE_UP) return GIVE_UP;
    copy[index] = itemCopy;
    if (index > 0) budget.chars -= 1; // the comma
  }
  return copy;
}

function plainObjectCopy(
  object: object,
  budget: Budget,
  depth: number,
): Record<string, Copy> | typeof GIVE_UP {
  const keys = Object.keys(object).sort();
  const copy: Record<string, Copy> = {};
  let comma = 0;
  for (const key of keys) {
    if (isIntegerLike(key) || key === "__proto__") return GIVE_UP;
    const item = (object as Record<string, unknown>)[key];
    if (item === undefined) continue; // omitted, as the exact writer and JSON.stringify do
    budget.chars -= key.length + 3 + comma; // "key":
    comma = 1;
    const itemCopy = plainCopy(item, budget, depth + 1);
    if (itemCopy === GIVE_UP) return GIVE_UP;
    copy[key] = itemCopy;
  }
  return copy;
}

/** Keys that start with a digit may be array indices, which engines enumerate first: not in JCS order. */
function isIntegerLike(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57;
}

/**
 * Values canonical JSON handles as built-ins, recognised by their internal slots whatever their
 * prototype (so across realms, and not spoofable): binary data, Date, boxed primitives, Map, WeakMap,
 * Set, WeakSet. The fast path gives up on them; the exact writer replaces or refuses them.
 */
export function hasBuiltInSlots(value: object): boolean {
  return (
    types.isArrayBufferView(value) ||
    types.isAnyArrayBuffer(value) ||
    types.isDate(value) ||
    types.isBoxedPrimitive(value) ||
    types.isMap(value) ||
    types.isWeakMap(value) ||
    types.isSet(value) ||
    types.isWeakSet(value)
  );
}
