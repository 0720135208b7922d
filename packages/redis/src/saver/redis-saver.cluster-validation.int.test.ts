/*
 * The same conformance suite (718 tests) against RedisSaver on a real 3-master Redis Cluster: every
 * script, pipeline and UNLINK of a thread stays in the thread's slot, and list() without a thread_id
 * scans every master.
 */
import { Cluster } from "ioredis";
import { type RedisCluster, startRedisCluster } from "../../../../test/support/redis-cluster.js";
import { RedisSaver } from "./redis-saver.js";
import { deleteAllThreads } from "./testing/validation-redis.js";
import { validateCheckpointer } from "./testing/validation-suite.js";

let cluster: RedisCluster | undefined;
let client: Cluster | undefined;
let checkpointers = 0;

validateCheckpointer<RedisSaver>({
  checkpointerName: "@durable-tools/redis:RedisSaver (3-master Redis Cluster)",
  beforeAllTimeout: 60_000,
  async beforeAll() {
    cluster = await startRedisCluster({ masters: 3 });
    client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  },
  async afterAll() {
    await client?.quit();
    await cluster?.stop();
  },
  createCheckpointer: () => {
    if (client === undefined) throw new Error("Redis Cluster not started");
    return new RedisSaver(client, { prefix: `cluster-validation${++checkpointers}` });
  },
  destroyCheckpointer: deleteAllThreads,
});
