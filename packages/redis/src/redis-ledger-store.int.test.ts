import { aesGcmCodec, generateKey, isRecordCodecError, Ledger } from "@durable-tools/core";
import { describeLedgerStoreConformance } from "@durable-tools/core/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";

let server: RedisServer;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

describeLedgerStoreConformance("RedisLedgerStore (redis-server)", {
  create: () => new RedisLedgerStore(new Redis(server.port, "127.0.0.1"), { prefix: `conf${++prefixes}` }),
  destroy: async (store) => {
    await (store as RedisLedgerStore).client.quit();
  },
});

describe("RedisLedgerStore with an AES-256-GCM codec", () => {
  it("keeps arguments, results and event data encrypted at rest; tampering is an error, never a result", async () => {
    const redis = new Redis(server.port, "127.0.0.1");
    try {
      const codec = aesGcmCodec({ keys: { k1: generateKey() }, activeKeyId: "k1" });
      const store = new RedisLedgerStore(redis, { prefix: "enc", codec });
      const ledger = new Ledger({ store });
      let runs = 0;
      const spec = {
        tool: "charge",
        key: "c-1",
        args: { card: "4242424242424242" },
        submit: () => ({ receipt: "secret-receipt-77", n: ++runs }),
      };
      const first = await ledger.execute(spec);
      expect(first.result).toEqual({ receipt: "secret-receipt-77", n: 1 });
      expect((await ledger.execute(spec)).result).toEqual(first.result);

      const raw = JSON.stringify([
        await redis.hgetall("enc:{-/charge/k:c-1}:rec"),
        await redis.xrange("enc:{-/charge/k:c-1}:ev", "-", "+"),
      ]);
      expect(raw).not.toContain("4242424242424242");
      expect(raw).not.toContain("secret-receipt-77");
      expect(raw).toContain("A256GCM");
      expect((await ledger.readEvents({ key: "-/charge/k:c-1" }))[0]?.data).toEqual({
        args: { card: "4242424242424242" },
      });

      const out = JSON.parse((await redis.hget("enc:{-/charge/k:c-1}:rec", "out")) as string);
      const ct = Buffer.from(out.result.ct, "base64");
      ct[0] = (ct[0] as number) ^ 1;
      out.result.ct = ct.toString("base64");
      await redis.hset("enc:{-/charge/k:c-1}:rec", "out", JSON.stringify(out));
      const error = await ledger.execute(spec).catch((e: unknown) => e);
      expect(isRecordCodecError(error)).toBe(true);
      expect(runs).toBe(1);
    } finally {
      await redis.quit();
    }
  });
});
