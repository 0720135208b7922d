/*
 * A worker for the background-confirmation crash test. It runs one call of create_invoice through a
 * Ledger with `confirmation: "background"` on Redis, appending a line to the ground-truth file in the
 * side effect, prints the result, and then SIGKILLs itself: at once (`before-confirmation`: the owed
 * confirmation was never sent) or after `ledger.flush()` (`after-flush`).
 *
 * Usage: background-confirmation-child <redis-url> <prefix> <ground-truth> <lease-ms> <when>
 */
import { appendFileSync, writeSync } from "node:fs";
import { Ledger } from "@durable-tools/core";
import { Redis } from "ioredis";
import { RedisLedgerStore } from "../redis-ledger-store.js";

const [url, prefix, truthPath, leaseMs, when] = process.argv.slice(2);
if (url === undefined || prefix === undefined || truthPath === undefined || leaseMs === undefined) {
  throw new Error(
    "usage: background-confirmation-child <redis-url> <prefix> <ground-truth> <lease-ms> <when>",
  );
}
const store = new RedisLedgerStore(new Redis(url), { prefix });
const ledger = new Ledger({ store, leaseMs: Number(leaseMs), confirmation: "background" });
const { result } = await ledger.execute({
  tool: "create_invoice",
  key: "order-1",
  args: { amountCents: 4200 },
  submit: () => {
    appendFileSync(truthPath, "charged\n");
    return { invoice: "inv_1" };
  },
});
if (when === "after-flush") await ledger.flush();
// Synchronously: the owed confirmation waits for the next turn of the event loop, which never comes.
writeSync(1, `${JSON.stringify(result)}\n`);
process.kill(process.pid, "SIGKILL");
