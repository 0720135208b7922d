/*
 * LangGraph's checkpointer conformance suite (718 tests, and the 8 getDeltaChannelHistory ones) against
 * RedisSaver on Valkey 8 (see test/support/valkey-install.ts), as redis-saver.validation.int.test.ts
 * runs it on Redis.
 */
import { redisSaverValidation } from "./testing/validation-redis.js";
import { validateCheckpointer, validateDeltaChannelHistory } from "./testing/validation-suite.js";

const initializer = redisSaverValidation("@durable-tools/redis:RedisSaver (Valkey)", "valkey");
validateCheckpointer(initializer);
validateDeltaChannelHistory(initializer);
