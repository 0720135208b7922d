import { performance } from "node:perf_hooks";
import { Ledger } from "@durable-tools/core";
import { RedisLedgerStore } from "@durable-tools/redis";
import type { Redis } from "ioredis";
import { median, round0, round1 } from "./stats.js";

/** Counts keys matching a pattern (SCAN, not KEYS). */
export async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let count = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) count += keys.length;
  return count;
}

/** How many durable-tools records matching `pattern` are CONFIRMED (a record's first line is its state). */
export async function countConfirmed(redis: Redis, pattern: string): Promise<number> {
  let count = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
    if ((keys as string[]).length === 0) continue;
    const texts = await redis.mget(...(keys as string[]));
    count += texts.filter((text) => text?.startsWith("CONFIRMED\n")).length;
  }
  return count;
}

/**
 * Bytes Redis holds per operation for the keys matching `pattern` (`MEMORY USAGE key SAMPLES 0`, which
 * counts every element of a stream or hash exactly), divided by `operations`. It is what a key costs in
 * RAM for as long as it lives: the record, plus for durable-tools the operation's event stream.
 */
export async function bytesPerOperation(redis: Redis, pattern: string, operations: number): Promise<number> {
  let bytes = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
    const pipeline = redis.pipeline();
    for (const key of keys as string[]) pipeline.memory("USAGE", key, "SAMPLES", 0);
    for (const [error, usage] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      bytes += Number(usage ?? 0);
    }
  }
  return bytes / operations;
}

export interface StreamNodeSettingResult {
  setting: Record<string, { bytesPerOperation: number; usPerNewKey: number }>;
  restoredTo: string;
}

/**
 * durable-tools new keys with `stream-node-max-bytes` at the server's setting and at 512, batches
 * alternating (the setting is server-wide, so it is switched between batches and restored after), each
 * setting on its own key prefix: bytes per operation and µs per call (median of 3 batches each).
 */
export async function streamNodeSetting(
  admin: Redis,
  client: Redis,
  call: (ledger: Ledger) => Promise<unknown>,
  callsPerBatch: number,
): Promise<StreamNodeSettingResult> {
  const [, original = "4096"] = (await admin.config("GET", "stream-node-max-bytes")) as string[];
  const settings = [original, "512"];
  const prefix = (setting: string) => `bench-node-${setting}`;
  const ledgers = new Map(
    settings.map((s) => [s, new Ledger({ store: new RedisLedgerStore(client, { prefix: prefix(s) }) })]),
  );
  const us = new Map<string, number[]>(settings.map((s) => [s, []]));
  try {
    for (let batch = 0; batch < 3; batch++) {
      for (const setting of settings) {
        await admin.config("SET", "stream-node-max-bytes", setting);
        const ledger = ledgers.get(setting) as Ledger;
        const start = performance.now();
        for (let i = 0; i < callsPerBatch; i++) await call(ledger);
        us.get(setting)?.push(((performance.now() - start) * 1000) / callsPerBatch);
      }
    }
  } finally {
    await admin.config("SET", "stream-node-max-bytes", original);
  }
  const result: StreamNodeSettingResult = { setting: {}, restoredTo: original };
  for (const setting of settings) {
    result.setting[setting] = {
      bytesPerOperation: round0(await bytesPerOperation(admin, `${prefix(setting)}:*`, 3 * callsPerBatch)),
      usPerNewKey: round1(median(us.get(setting) ?? [])),
    };
  }
  return result;
}
