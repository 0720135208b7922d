import { Ledger } from "@durable-tools/core";
import { RedisLedgerStore } from "@durable-tools/redis";
import { Redis } from "ioredis";
import { startRedisServer } from "../../test/support/redis-server.js";
const server = await startRedisServer();
const client = new Redis(server.url);
const admin = new Redis(server.url);
const stat = async () => { const i = await admin.info("stats"); return { in: Number(/total_net_input_bytes:(\d+)/.exec(i)?.[1]), out: Number(/total_net_output_bytes:(\d+)/.exec(i)?.[1]) }; };
try {
  const ledger = new Ledger({ store: new RedisLedgerStore(client, { prefix: "p" }) });
  const work = (a: { n: number }) => ({ id: `inv_${a.n}`, customer: "cus_1", amountCents: 100 });
  const same = { customer: "cus_1", amountCents: 100, n: -1 };
  await ledger.execute({ tool: "t", args: same, submit: work });
  const N = 1000;
  let a = await stat();
  for (let i = 0; i < N; i++) await ledger.execute({ tool: "t", args: same, submit: work });
  let b = await stat();
  console.log("replay bytes/call in", (b.in - a.in) / N, "out", (b.out - a.out) / N);
  a = await stat();
  for (let i = 0; i < N; i++) await ledger.execute({ tool: "t", args: { ...same, n: i }, submit: work });
  b = await stat();
  console.log("new bytes/call in", (b.in - a.in) / N, "out", (b.out - a.out) / N);
  a = await stat();
  for (let i = 0; i < N; i++) { await client.set(`f${i}`, JSON.stringify(work({n:i})), "PX", 60000, "NX"); await client.get(`f${i}`); }
  b = await stat();
  console.log("floor bytes/call in", (b.in - a.in) / N, "out", (b.out - a.out) / N);
  const mon = new Redis(server.url);
  const lines: string[] = [];
  await mon.monitor().then((m) => m.on("monitor", (_t, args) => lines.push(JSON.stringify(args))));
  await ledger.execute({ tool: "t", args: same, submit: work });
  await new Promise((r) => setTimeout(r, 100));
  console.log(lines.join("\n").slice(0, 4000));
  mon.disconnect();
} finally { client.disconnect(); admin.disconnect(); await server.stop(); }
