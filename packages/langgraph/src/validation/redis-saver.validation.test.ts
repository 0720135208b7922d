/*
 * LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718 tests, plus
 * its 8 getDeltaChannelHistory tests)
 * against DurableCheckpointer over RedisSaver, on a real redis-server (plain Redis, no modules).
 */
import { RedisSaver } from "@durable-tools/redis/saver";
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "../../../../test/support/redis-server.js";
import {
  validateCheckpointer,
  validateDeltaChannelHistory,
} from "../../../redis/src/saver/testing/validation-suite.js";
import { durableInitializer } from "./durable-initializer.js";

let server: RedisServer | undefined;
let client: Redis | undefined;
let checkpointers = 0;

const initializer = durableInitializer({
  saverName: "RedisSaver",
  beforeAll: async () => {
    server = await startRedisServer();
    client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  },
  afterAll: async () => {
    // Every block's destroyCheckpointer deleted its threads: nothing of the run may be left behind.
    const leftover = await client?.keys("*");
    await client?.quit();
    await server?.stop();
    if (leftover?.length)
      throw new Error(`${leftover.length} keys left, e.g. ${leftover.slice(0, 5).join(", ")}`);
  },
  // A fresh prefix per block: the suite lists without a thread_id and reuses thread ids across blocks.
  createSaver: () => {
    if (client === undefined) throw new Error("redis-server not started");
    return new RedisSaver(client, { prefix: `durable-validation${++checkpointers}` });
  },
});

validateCheckpointer(initializer);
// Not part of validate(): the suite's 8 tests of getDeltaChannelHistory (delegated to RedisSaver).
validateDeltaChannelHistory(initializer);
