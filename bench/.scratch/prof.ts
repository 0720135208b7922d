import { performance } from "node:perf_hooks";
import { Ledger } from "@durable-tools/core";
import { RedisLedgerStore } from "@durable-tools/redis";
import { Redis } from "ioredis";
import { startRedisServer } from "../../test/support/redis-server.js";

const N = Number(process.env.N ?? 5000);
const server = await startRedisServer();
const client = new Redis(server.url);
const admin = new Redis(server.url);
try {
  const store = new RedisLedgerStore(client, { prefix: "p" });
  const ledger = new Ledger({ store });
  const work = (a: { n: number }) => ({ id: `inv_${a.n}`, customer: "cus_1", amountCents: 100 });
  const same = { customer: "cus_1", amountCents: 100, n: -1 };
  await ledger.execute({ tool: "t", args: same, submit: work });
  let c = 0;
  const mode = process.env.MODE ?? "both";
  for (let r = 0; r < 3; r++) {
    await admin.config("RESETSTAT");
    if (mode !== "new") {
      const t = performance.now();
      for (let i = 0; i < N; i++) await ledger.execute({ tool: "t", args: same, submit: work });
      console.log("replay us/call", (((performance.now() - t) * 1000) / N).toFixed(1));
    }
    if (mode !== "replay") {
      const t = performance.now();
      for (let i = 0; i < N; i++)
        await ledger.execute({
          tool: "t",
          args: { customer: "cus_1", amountCents: 100, n: c++ },
          submit: work,
        });
      console.log("new us/call", (((performance.now() - t) * 1000) / N).toFixed(1));
    }
    const stats = (await admin.info("commandstats"))
      .split("\n")
      .filter((l) => /eval|xadd|hset|hgetall|hmget/.test(l));
    console.log(stats.join("\n"));
  }
} finally {
  client.disconnect();
  admin.disconnect();
  await server.stop();
}
