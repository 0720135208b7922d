/*
 * LangGraph's own checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718
 * tests) against RedisSaver on a real redis-server (plain Redis, no modules). The suite needs its
 * test functions as globals: see testing/validation-suite.ts. Also the suite's 8 getDeltaChannelHistory
 * tests, which validate() does not run.
 */
import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { RedisSaver } from "./redis-saver.js";
import { deleteAllThreads, validationRedis } from "./testing/validation-redis.js";
import { validateCheckpointer, validateDeltaChannelHistory } from "./testing/validation-suite.js";

const redis = validationRedis();
let checkpointers = 0;

const initializer: CheckpointSaverTestInitializer<RedisSaver> = {
  // Not a built-in saver's name, so no test is skipped (also "should only store channel_values
  // that have changed", which the suite skips for MemorySaver, SQLite and MongoDB).
  checkpointerName: "@durable-tools/redis:RedisSaver",
  beforeAllTimeout: 30_000,
  beforeAll: () => redis.start(),
  afterAll: () => redis.stopLeavingNothing(),
  // A fresh prefix per checkpointer: each block of the suite sees only its own threads (the suite
  // lists without a thread_id and reuses thread ids such as "thread-1" across blocks).
  createCheckpointer: () => new RedisSaver(redis.client(), { prefix: `validation${++checkpointers}` }),
  destroyCheckpointer: deleteAllThreads,
};

validateCheckpointer(initializer);
// Not part of validate(): 8 more tests of getDeltaChannelHistory (BaseCheckpointSaver's walk over getTuple).
validateDeltaChannelHistory(initializer);
