import { Cluster, type Redis } from "ioredis";

/** `value` matched literally by a SCAN pattern. */
export function globEscape(value: string): string {
  return value.replace(/[\\*?[\]]/g, (char) => `\\${char}`);
}

/**
 * The `keyPrefix` of an ioredis client ("" when it has none). ioredis puts it in front of every key
 * argument, but neither in a SCAN's MATCH pattern nor in the keys a SCAN returns.
 */
function clientKeyPrefix(client: Redis | Cluster): string {
  const options = client.options as { keyPrefix?: unknown; redisOptions?: { keyPrefix?: unknown } };
  const prefix = options.keyPrefix ?? options.redisOptions?.keyPrefix;
  return prefix === undefined || prefix === null ? "" : String(prefix);
}

/**
 * Every key matching `pattern` (a SCAN of each master of a cluster), named as the client's other
 * commands take them: with a client `keyPrefix`, the SCAN matches `<keyPrefix><pattern>` and each key
 * comes back without the prefix (a GET or DEL of it adds the prefix again). `guard` wraps each SCAN
 * call (a store's deadline and error mapping).
 */
export async function scanKeys(
  client: Redis | Cluster,
  pattern: string,
  count: number,
  guard: <T>(call: () => Promise<T>) => Promise<T> = (call) => call(),
): Promise<string[]> {
  const keyPrefix = clientKeyPrefix(client);
  const match = `${globEscape(keyPrefix)}${pattern}`;
  const nodes = client instanceof Cluster ? client.nodes("master") : [client];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, batch] = await guard(() => node.scan(cursor, "MATCH", match, "COUNT", count));
      cursor = next;
      for (const key of batch) if (key.startsWith(keyPrefix)) keys.push(key.slice(keyPrefix.length));
    } while (cursor !== "0");
  }
  return keys;
}
