import type { Cluster, Redis } from "ioredis";

/**
 * Listens for the connection errors of a client this package created (`fromUrl`): one
 * `DurableToolsWarning` per outage, again only after the client was ready once more. Without a
 * listener ioredis prints every reconnect attempt to stderr; the calls themselves already fail
 * closed with their own errors.
 */
export function warnOncePerOutage(client: Redis | Cluster, owner: string): void {
  let warned = false;
  client.on("ready", () => {
    warned = false;
  });
  client.on("error", (error: Error) => {
    if (warned) return;
    warned = true;
    process.emitWarning(
      `${owner}: Redis connection error (${error.message}); calls fail until it reconnects, and this warns again only after it has`,
      "DurableToolsWarning",
    );
  });
}
