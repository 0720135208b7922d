import { MemorySaver } from "@langchain/langgraph-checkpoint";
import type { Redis } from "ioredis";

/**
 * MemorySaver that also makes one PING round trip to Redis per call it serves (put, putWrites,
 * getTuple) before storing or reading in memory: what any Redis saver that makes one round trip per
 * call cannot beat on this machine, with no payload, no script and nothing serialized for Redis.
 */
export class RoundTripFloorSaver extends MemorySaver {
  readonly #client: Redis;

  constructor(client: Redis) {
    super();
    this.#client = client;
  }

  override async put(...args: Parameters<MemorySaver["put"]>): ReturnType<MemorySaver["put"]> {
    await this.#client.ping();
    return super.put(...args);
  }

  override async putWrites(
    ...args: Parameters<MemorySaver["putWrites"]>
  ): ReturnType<MemorySaver["putWrites"]> {
    await this.#client.ping();
    return super.putWrites(...args);
  }

  override async getTuple(...args: Parameters<MemorySaver["getTuple"]>): ReturnType<MemorySaver["getTuple"]> {
    await this.#client.ping();
    return super.getTuple(...args);
  }
}
