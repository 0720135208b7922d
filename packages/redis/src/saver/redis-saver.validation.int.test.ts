/*
 * LangGraph's own checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718
 * tests) against RedisSaver on a real redis-server (plain Redis, no modules). The suite needs its
 * test functions as globals: see testing/validation-suite.ts. Also the suite's 8 getDeltaChannelHistory
 * tests, which validate() does not run.
 */
import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "../../../../test/support/redis-server.js";
import { RedisSaver } from "./redis-saver.js";
import { validateCheckpointer, validateDeltaChannelHistory } from "./testing/validation-suite.js";

let server: RedisServer | undefined;
let client: Redis | undefined;
let checkpointers = 0;

const initializer: CheckpointSaverTestInitializer<RedisSaver> = {
  // Not a built-in saver's name, so no test is skipped (also "should only store channel_values
  // that have changed", which the suite skips for MemorySaver, SQLite and MongoDB).
  checkpointerName: "@durable-tools/redis:RedisSaver",
  beforeAllTimeout: 30_000,
  async beforeAll() {
    server = await startRedisServer();
    client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  },
  async afterAll() {
    // Every block's destroyCheckpointer deleted its threads: nothing of the run may be left behind.
    const leftover = await client?.keys("*");
    await client?.quit();
    await server?.stop();
    if (leftover?.length)
      throw new Error(`${leftover.length} keys left, e.g. ${leftover.slice(0, 5).join(", ")}`);
  },
  // A fresh prefix per checkpointer: each block of the suite sees only its own threads (the suite
  // lists without a thread_id and reuses thread ids such as "thread-1" across blocks).
  createCheckpointer: () => {
    if (client === undefined) throw new Error("redis-server not started");
    return new RedisSaver(client, { prefix: `validation${++checkpointers}` });
  },
  destroyCheckpointer: deleteAllThreads,
};

validateCheckpointer(initializer);
// Not part of validate(): 8 more tests of getDeltaChannelHistory (BaseCheckpointSaver's walk over getTuple).
validateDeltaChannelHistory(initializer);

async function deleteAllThreads(saver: RedisSaver): Promise<void> {
  for await (const tuple of saver.list({})) {
    await saver.deleteThread(tuple.config.configurable?.thread_id as string);
  }
}
