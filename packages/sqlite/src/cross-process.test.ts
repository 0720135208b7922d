import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeCrossProcessRace } from "@durable-tools/core/testing";
import { afterAll, beforeAll } from "vitest";
import { SqliteLedgerStore } from "./sqlite-ledger-store.js";

let dir: string;
let dbPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dt-sqlite-race-"));
  dbPath = join(dir, "ledger.sqlite");
  // Create the schema once up front, as a deployment would; the racers then only open the file.
  await SqliteLedgerStore.fromPath(dbPath).close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeCrossProcessRace("SqliteLedgerStore, one file", () => ({
  storeModule: fileURLToPath(new URL("./testing/race-store.ts", import.meta.url)),
  storeArg: dbPath,
  openStore: () => SqliteLedgerStore.fromPath(dbPath),
}));
