/*
 * Reads of values the caller handed in, which may be proxies or objects with throwing getters: a read
 * that throws counts as absent instead of breaking the operation that looks.
 */

/** Own enumerable string keys; [] when a proxy refuses to list them. */
export function ownKeys(object: object): string[] {
  try {
    return Object.keys(object);
  } catch {
    return [];
  }
}

/** A property as read; undefined when `value` is no object, or a getter or proxy trap throws. */
export function safeRead(value: unknown, key: string | number): unknown {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return undefined;
  try {
    return (value as Record<string | number, unknown>)[key];
  } catch {
    return undefined;
  }
}
