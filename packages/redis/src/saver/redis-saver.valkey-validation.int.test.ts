/*
 * LangGraph's checkpointer conformance suite (718 tests, and the 8 getDeltaChannelHistory ones) against
 * RedisSaver on Valkey 8 (see test/support/valkey-install.ts), as redis-saver.validation.int.test.ts
 * runs it on Redis.
 */
import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { isValkeyInfo } from "../../../../test/support/valkey-install.js";
import { RedisSaver } from "./redis-saver.js";
import { deleteAllThreads, validationRedis } from "./testing/validation-redis.js";
import { validateCheckpointer, validateDeltaChannelHistory } from "./testing/validation-suite.js";

const valkey = validationRedis("valkey");
let checkpointers = 0;

const initializer: CheckpointSaverTestInitializer<RedisSaver> = {
  checkpointerName: "@durable-tools/redis:RedisSaver (Valkey)",
  beforeAllTimeout: 30_000,
  beforeAll: async () => {
    await valkey.start();
    const info = await valkey.client().info("server");
    if (!isValkeyInfo(info)) throw new Error(`not a Valkey server:\n${info}`);
  },
  afterAll: () => valkey.stopLeavingNothing(),
  createCheckpointer: () => new RedisSaver(valkey.client(), { prefix: `valkey${++checkpointers}` }),
  destroyCheckpointer: deleteAllThreads,
};

validateCheckpointer(initializer);
validateDeltaChannelHistory(initializer);
