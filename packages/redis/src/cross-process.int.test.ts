import { fileURLToPath } from "node:url";
import { describeCrossProcessRace } from "@durable-tools/core/testing";
import { afterAll, beforeAll } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

describeCrossProcessRace("RedisLedgerStore, one redis-server", () => ({
  storeModule: fileURLToPath(new URL("./testing/race-store.ts", import.meta.url)),
  storeArg: server.url,
  openStore: () => RedisLedgerStore.fromUrl(server.url, { prefix: "race" }),
}));

describeCrossProcessRace("RedisLedgerStore, one redis-server, confirmation background", () => ({
  storeModule: fileURLToPath(new URL("./testing/race-store.ts", import.meta.url)),
  storeArg: server.url,
  openStore: () => RedisLedgerStore.fromUrl(server.url, { prefix: "race" }),
  tool: "race_background",
  confirmation: "background",
}));
