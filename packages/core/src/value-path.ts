/**
 * A location inside a value: `$`, `$.card.number`, `$.items[3]`, `$["odd key"]`. The walkers
 * (canonical JSON, the value codec) keep it as a chain of keys and write it out only when something
 * needs the text: an error message, a `Ref`. Writing the text of every node cost more than
 * serialising the node itself.
 */
export type ValuePath = string | PathStep;

interface PathStep {
  readonly parent: ValuePath;
  readonly key: string | number;
}

/** The location of `key` inside the value at `parent`. */
export function child(parent: ValuePath, key: string | number): ValuePath {
  return { parent, key };
}

/** The text of a location, in the {@link childPath} syntax. */
export function pathText(path: ValuePath): string {
  if (typeof path === "string") return path;
  const keys: (string | number)[] = [];
  let node: ValuePath = path;
  while (typeof node !== "string") {
    keys.push(node.key);
    node = node.parent;
  }
  let text = node;
  for (let i = keys.length - 1; i >= 0; i--) text = childPath(text, keys[i] as string | number);
  return text;
}

/**
 * JSONPath-like location of a child: `$.card`, `$.items[3]`, `$["odd key"]`. Keys that are not
 * identifiers are quoted as JSON strings, so a path always names exactly one location.
 */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
