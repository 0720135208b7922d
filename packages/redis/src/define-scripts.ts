import type { Cluster, Redis } from "ioredis";

/**
 * Registers Lua scripts as commands of an ioredis client (sent as EVALSHA, falling back to EVAL once
 * per connection), each taking `numberOfKeys` KEYS. A client shared by several stores keeps the first
 * registration of a name. Returns the client typed with those commands (ioredis adds a `<name>Buffer`
 * variant of each).
 */
export function defineScripts<Commands>(
  client: Redis | Cluster,
  numberOfKeys: number,
  scripts: Record<string, string>,
): Commands {
  for (const [name, lua] of Object.entries<string>(scripts)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys, lua });
  }
  return client as unknown as Commands;
}
