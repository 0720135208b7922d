/*
 * One racer of the cross-process test (cross-process.test.ts): runs `Ledger.execute` for keys
 * race-0 .. race-<count - 1> against a shared SQLite file, with `concurrency` calls in flight. Each side
 * effect appends `<key>\n` to the ground-truth file (O_APPEND: one atomic write per line). Once the store is
 * open it prints `ready` and waits for a line on stdin, so all racers start together; at the end it
 * prints one JSON line: { worker, created, replayed, errors, ms }.
 *
 * Usage: node --conditions=source --import tsx race-worker.ts <db> <ground-truth> <count> <worker> [concurrency]
 */

import { once } from "node:events";
import { appendFileSync } from "node:fs";
import { Ledger } from "@durable-tools/core";
import { SqliteLedgerStore } from "../index.js";

const [dbPath, truthPath, countArg, worker = "w", concurrencyArg = "8"] = process.argv.slice(2);
if (dbPath === undefined || truthPath === undefined || countArg === undefined) {
  throw new Error("usage: race-worker.ts <db> <ground-truth> <count> <worker> [concurrency]");
}
const count = Number(countArg);
const concurrency = Number(concurrencyArg);

const store = SqliteLedgerStore.fromPath(dbPath, { busyTimeoutMs: 60_000 });
const ledger = new Ledger({ store, workerId: worker, waitTimeoutMs: 60_000, leaseMs: 60_000 });
process.stdout.write("ready\n");
await once(process.stdin, "data");
process.stdin.destroy();

const outcomes = { created: 0, replayed: 0 };
const errors: string[] = [];
const started = Date.now();

let next = 0;
async function lane(): Promise<void> {
  for (let i = next++; i < count; i = next++) {
    const key = `race-${i}`;
    try {
      const result = await ledger.execute({
        tool: "race",
        key,
        args: { i },
        submit: () => {
          appendFileSync(truthPath as string, `${key}\n`);
          return { key, by: worker };
        },
      });
      outcomes[result.replayed ? "replayed" : "created"]++;
    } catch (error) {
      errors.push(`${key}: ${String(error)}`);
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, lane));
await store.close();
process.stdout.write(`${JSON.stringify({ worker, ...outcomes, errors, ms: Date.now() - started })}\n`);
