/*
 * LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718 tests, plus
 * its 8 getDeltaChannelHistory tests)
 * against DurableCheckpointer over RedisSaver, on a real redis-server (plain Redis, no modules).
 */
import { RedisSaver } from "@durable-tools/redis/saver";
import { validationRedis } from "../../../redis/src/saver/testing/validation-redis.js";
import {
  validateCheckpointer,
  validateDeltaChannelHistory,
} from "../../../redis/src/saver/testing/validation-suite.js";
import { durableInitializer } from "./durable-initializer.js";

const redis = validationRedis();
let checkpointers = 0;

const initializer = durableInitializer({
  saverName: "RedisSaver",
  beforeAll: () => redis.start(),
  afterAll: () => redis.stopLeavingNothing(),
  // A fresh prefix per block: the suite lists without a thread_id and reuses thread ids across blocks.
  createSaver: () => new RedisSaver(redis.client(), { prefix: `durable-validation${++checkpointers}` }),
});

validateCheckpointer(initializer);
// Not part of validate(): the suite's 8 tests of getDeltaChannelHistory (delegated to RedisSaver).
validateDeltaChannelHistory(initializer);
