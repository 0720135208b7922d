/*
 * One racer of the cross-process race (race.ts): opens a store through a factory module, runs
 * `Ledger.execute` for keys race-0 .. race-<count - 1> with `concurrency` calls in flight, and appends
 * `<key>\n` to the ground-truth file in every side effect (O_APPEND: one atomic write per line). Once the
 * store is open it prints `ready` and waits for a line on stdin, so all racers start together; at the
 * end it prints one JSON line: { worker, created, replayed, errors, ms }.
 *
 * Usage: race-worker <store-module> <store-arg> <ground-truth> <count> <worker> [concurrency] [tool]
 * [confirmation]
 * where <store-module>'s default export is `(storeArg: string) => LedgerStore | Promise<LedgerStore>`.
 */

import { once } from "node:events";
import { appendFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Ledger } from "../ledger.js";
import type { LedgerStore } from "../store.js";

const [
  storeModule,
  storeArg,
  truthPath,
  countArg,
  worker = "w",
  concurrencyArg = "8",
  tool = "race",
  confirmation = "awaited",
] = process.argv.slice(2);
if (
  storeModule === undefined ||
  storeArg === undefined ||
  truthPath === undefined ||
  countArg === undefined
) {
  throw new Error(
    "usage: race-worker <store-module> <store-arg> <ground-truth> <count> <worker> [concurrency] [tool] [confirmation]",
  );
}
const count = Number(countArg);
const concurrency = Number(concurrencyArg);

const factory = (await import(pathToFileURL(storeModule).href)) as {
  default: (arg: string) => LedgerStore | Promise<LedgerStore>;
};
const store = await factory.default(storeArg);
const ledger = new Ledger({
  store,
  workerId: worker,
  waitTimeoutMs: 60_000,
  leaseMs: 60_000,
  confirmation: confirmation as "awaited" | "background",
});
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
        tool,
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
await ledger.flush().catch((error: unknown) => errors.push(`flush: ${String(error)}`));
await store.close?.();
process.stdout.write(`${JSON.stringify({ worker, ...outcomes, errors, ms: Date.now() - started })}\n`);
