/*
 * LangGraph's own checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718
 * tests) against RedisSaver on a real redis-server (plain Redis, no modules). The suite needs its
 * test functions as globals: see testing/validation-suite.ts. Also the suite's 8 getDeltaChannelHistory
 * tests, which validate() does not run.
 */
import { redisSaverValidation } from "./testing/validation-redis.js";
import { validateCheckpointer, validateDeltaChannelHistory } from "./testing/validation-suite.js";

const initializer = redisSaverValidation("@durable-tools/redis:RedisSaver");
validateCheckpointer(initializer);
// Not part of validate(): 8 more tests of getDeltaChannelHistory (BaseCheckpointSaver's walk over getTuple).
validateDeltaChannelHistory(initializer);
