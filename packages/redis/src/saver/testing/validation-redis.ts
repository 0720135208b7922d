import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { Redis } from "ioredis";
import {
  type RedisServer,
  type ServerFlavor,
  startRedisServer,
} from "../../../../../test/support/redis-server.js";
import { RedisSaver } from "../redis-saver.js";

/**
 * The redis-server (or valkey-server) behind a run of LangGraph's checkpointer validation suite:
 * started in the suite's beforeAll, and in its afterAll stopped after checking that nothing of the run
 * is left behind (every block's destroyCheckpointer deletes its threads).
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
      if (client === undefined) throw new Error(`${flavor}-server not started`);
      return client;
    },
  };
}

/**
 * The suite's initializer for bare RedisSaver on a server of its own. `checkpointerName` is not a
 * built-in saver's name, so the suite skips no test (also "should only store channel_values that have
 * changed", which it skips for MemorySaver, SQLite and MongoDB).
 */
export function redisSaverValidation(
  checkpointerName: string,
  flavor: ServerFlavor = "redis",
): CheckpointSaverTestInitializer<RedisSaver> {
  const redis = validationRedis(flavor);
  let checkpointers = 0;
  return {
    checkpointerName,
    beforeAllTimeout: 30_000,
    beforeAll: () => redis.start(),
    afterAll: () => redis.stopLeavingNothing(),
    // A fresh prefix per checkpointer: each block of the suite sees only its own threads (the suite
    // lists without a thread_id and reuses thread ids such as "thread-1" across blocks).
    createCheckpointer: () => new RedisSaver(redis.client(), { prefix: `validation${++checkpointers}` }),
    destroyCheckpointer: deleteAllThreads,
  };
}

/** The suite's destroyCheckpointer: deletes every thread the saver lists (the run must leave nothing). */
export async function deleteAllThreads(saver: RedisSaver): Promise<void> {
  for await (const tuple of saver.list({})) {
    await saver.deleteThread(tuple.config.configurable?.thread_id as string);
  }
}
