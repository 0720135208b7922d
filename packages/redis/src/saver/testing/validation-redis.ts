import { Redis } from "ioredis";
import {
  type RedisServer,
  type ServerFlavor,
  startRedisServer,
} from "../../../../../test/support/redis-server.js";
import type { RedisSaver } from "../redis-saver.js";

/**
 * The redis-server (or valkey-server) behind a run of LangGraph's checkpointer validation suite: started in the suite's
 * beforeAll, and in its afterAll stopped after checking that nothing of the run is left behind (every
 * block's destroyCheckpointer deletes its threads).
 */
export function validationRedis(flavor: ServerFlavor = "redis"): {
  start(): Promise<void>;
  stopLeavingNothing(): Promise<void>;
  client(): Redis;
} {
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  return {
    async start() {
      server = await startRedisServer({ flavor });
      client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    },
    async stopLeavingNothing() {
      const leftover = await client?.keys("*");
      await client?.quit();
      await server?.stop();
      if (leftover?.length) {
        throw new Error(`${leftover.length} keys left, e.g. ${leftover.slice(0, 5).join(", ")}`);
      }
    },
    client() {
      if (client === undefined) throw new Error("redis-server not started");
      return client;
    },
  };
}

/** The suite's destroyCheckpointer: deletes every thread the saver lists (the run must leave nothing). */
export async function deleteAllThreads(saver: RedisSaver): Promise<void> {
  for await (const tuple of saver.list({})) {
    await saver.deleteThread(tuple.config.configurable?.thread_id as string);
  }
}
