import { RedisSaver } from "@durable-tools/redis/saver";
import type { RunnableConfig } from "@langchain/core/runnables";
import { END, START, StateGraph } from "@langchain/langgraph";
import {
  BaseCheckpointSaver,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  MemorySaver,
  type PendingWrite,
} from "@langchain/langgraph-checkpoint";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { latestCheckpointId } from "./latest-checkpoint.js";
import { type SaverFactory, State, savers, thread } from "./test-support.js";

/** A saver we know nothing about: latestCheckpointId must fall back to getTuple. */
class OpaqueSaver extends BaseCheckpointSaver {
  readonly inner = new MemorySaver();
  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    return this.inner.getTuple(config);
  }
  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    return this.inner.list(config, options);
  }
  put(config: RunnableConfig, cp: Checkpoint, md: CheckpointMetadata): Promise<RunnableConfig> {
    return this.inner.put(config, cp, md);
  }
  putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string): Promise<void> {
    return this.inner.putWrites(config, writes, taskId);
  }
  deleteThread(threadId: string): Promise<void> {
    return this.inner.deleteThread(threadId);
  }
}

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});

const all: SaverFactory[] = [
  ...savers,
  {
    name: "an unknown saver (getTuple fallback)",
    create: () => ({ saver: new OpaqueSaver(), close: () => {} }),
  },
  {
    name: "RedisSaver",
    create: () => {
      const client = new Redis(server.port, "127.0.0.1");
      return {
        saver: new RedisSaver(client, { prefix: `latest${Math.random()}` }),
        close: () => client.disconnect(),
      };
    },
  },
];

describe.each(all)("latestCheckpointId over $name", ({ create }) => {
  let close = () => {};
  afterEach(() => close());

  it("names the checkpoint getTuple would load, after runs, forks and in another namespace", async () => {
    const made = create();
    close = made.close;
    const { saver } = made;
    const app = new StateGraph(State)
      .addNode("a", async () => ({ log: ["a"] }))
      .addNode("b", async () => ({ log: ["b"] }))
      .addEdge(START, "a")
      .addEdge("a", "b")
      .addEdge("b", END)
      .compile({ checkpointer: saver });
    const latestOf = async (threadId: string, ns = "") =>
      (await saver.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: ns } }))?.checkpoint.id;

    expect(await latestCheckpointId(saver, "t")).toBeUndefined();
    await app.invoke({ log: [] }, thread("t"));
    const afterRun = await latestCheckpointId(saver, "t");
    expect(afterRun).toBeDefined();
    expect(afterRun).toBe(await latestOf("t"));

    // A fork from the first checkpoint becomes the latest.
    const history: string[] = [];
    for await (const tuple of saver.list(thread("t"))) history.push(tuple.checkpoint.id);
    const oldest = history[history.length - 1] as string;
    await app.updateState({ configurable: { thread_id: "t", checkpoint_id: oldest } }, { log: ["fork"] });
    const afterFork = await latestCheckpointId(saver, "t");
    expect(afterFork).not.toBe(afterRun);
    expect(afterFork).toBe(await latestOf("t"));

    // Other threads and namespaces are separate.
    await app.invoke({ log: [] }, thread("u"));
    expect(await latestCheckpointId(saver, "t")).toBe(afterFork);
    expect(await latestCheckpointId(saver, "t", "sub:1")).toBeUndefined();
  });
});
