/*
 * putIfLatest when its reply is lost with the connection: the script ran in Redis, ioredis reconnects
 * and sends the unanswered command again (autoResendUnfulfilledCommands, on by default). A real
 * loopback TCP proxy between ioredis and redis-server drops the connection instead of relaying that
 * reply.
 */
import { type Checkpoint, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { afterAll, describe, expect, it } from "vitest";
import {
  type ReplyDroppingProxy,
  startReplyDroppingProxy,
} from "../../../../test/support/reply-dropping-proxy.js";
import { useRedisServer } from "../test-support.js";
import { RedisSaver } from "./redis-saver.js";

const redis = useRedisServer();

const proxies: ReplyDroppingProxy[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

/** An EVAL/EVALSHA request from its numkeys (5) on: what stays the same whichever of the two it is. */
function keysAndArguments(request: string): string {
  return request.slice(request.indexOf("\r\n$1\r\n5\r\n"));
}

const checkpoint = (id: string, x: number): Checkpoint => ({
  ...emptyCheckpoint(),
  id,
  ts: "2026-01-01T00:00:00.000Z",
  channel_values: { x },
  channel_versions: { x: `00000000000${x}.AAAAAAAA` },
});

describe("RedisSaver.putIfLatest across a dropped connection", () => {
  it("replies ok when ioredis re-sends a write whose reply was lost, and still refuses another record", async () => {
    const proxy = await startReplyDroppingProxy(redis.server.port);
    proxies.push(proxy);
    const client = redis.client({ port: proxy.port });
    try {
      const saver = new RedisSaver(client, { prefix: "resend" });
      const base = { configurable: { thread_id: "cas", checkpoint_ns: "" } };
      const c1 = checkpoint("1ef00000-0000-6000-8000-000000000001", 1);
      const c2 = checkpoint("1ef00000-0000-6000-8000-000000000002", 2);
      const afterC1 = { configurable: { ...base.configurable, checkpoint_id: c1.id } };
      const metadata = (step: number) => ({ source: "loop" as const, step, parents: {} });
      const versions = (c: Checkpoint) => c.channel_versions;

      // The first call loads the script, so the lost reply below is the script's own, not NOSCRIPT.
      expect((await saver.putIfLatest(base, c1, metadata(0), versions(c1), undefined)).ok).toBe(true);

      proxy.dropReplyTo(c2.id);
      const written = await saver.putIfLatest(afterC1, c2, metadata(1), versions(c2), c1.id);
      expect(proxy.dropped).toEqual(["*1\r\n$2\r\nok\r\n"]); // the first run stored c2 and said so
      // ioredis sent the command again on the new connection (as EVAL there: the script's text, not
      // its sha), with the same keys and arguments.
      expect(proxy.requests).toHaveLength(2);
      expect(proxy.requests.map(keysAndArguments)).toEqual([
        keysAndArguments(proxy.requests[0] as string),
        keysAndArguments(proxy.requests[0] as string),
      ]);
      expect(written).toEqual({
        ok: true,
        config: { configurable: { thread_id: "cas", checkpoint_ns: "", checkpoint_id: c2.id } },
      });

      const direct = new RedisSaver(redis.admin, { prefix: "resend" });
      const stored = await direct.getTuple(base);
      expect(stored?.checkpoint).toEqual(c2);
      expect(stored?.metadata).toEqual(metadata(1));
      expect(stored?.parentConfig?.configurable?.checkpoint_id).toBe(c1.id);

      // Another record under the same checkpoint id (another writer's) is still a conflict, and is not stored.
      const rival = { ...c2, ts: "2026-01-01T00:00:01.000Z" };
      expect(await saver.putIfLatest(afterC1, rival, metadata(1), versions(c2), c1.id)).toEqual({
        ok: false,
        latestCheckpointId: c2.id,
      });
      expect(await direct.getTuple(base)).toEqual(stored);
    } finally {
      client.disconnect();
    }
  });
});
