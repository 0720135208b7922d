import { MemorySaver } from "@langchain/langgraph-checkpoint";
import type { Redis } from "ioredis";
import { QueuedWrites } from "../packages/redis/src/saver/queued-writes.js";

/**
 * MemorySaver that also makes one PING round trip to Redis for each command RedisSaver would send,
 * before storing or reading in memory: one per put and per getTuple, while task writes ride with the
 * put made in the same turn of the event loop, or else go in one PING of their own, through the very
 * queue RedisSaver uses (queued-writes.ts). What RedisSaver's round trips cost on this machine, with
 * no payload, no script and nothing serialized for Redis.
 */
export class RoundTripFloorSaver extends MemorySaver {
  readonly #client: Redis;
  readonly #queued: QueuedWrites;

  constructor(client: Redis) {
    super();
    this.#client = client;
    this.#queued = new QueuedWrites(() => client.ping());
  }

  override async put(...args: Parameters<MemorySaver["put"]>): ReturnType<MemorySaver["put"]> {
    const thread = String(args[0].configurable?.thread_id);
    await this.#queued.carry(thread, async () => () => this.#client.ping());
    return super.put(...args);
  }

  override async putWrites(
    ...args: Parameters<MemorySaver["putWrites"]>
  ): ReturnType<MemorySaver["putWrites"]> {
    await this.#queued.add(String(args[0].configurable?.thread_id), Promise.resolve([]));
    return super.putWrites(...args);
  }

  override async getTuple(...args: Parameters<MemorySaver["getTuple"]>): ReturnType<MemorySaver["getTuple"]> {
    await this.#client.ping();
    return super.getTuple(...args);
  }
}
