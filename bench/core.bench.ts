/**
 * `pnpm bench`: what durableTool costs over the same bare LangChain tool, side by side in one run.
 * Each round times a batch of sequential `invoke` calls per contender (interleaved, so drift hits
 * all alike); the figure is the median per-call time over rounds.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { durableTool } from "@durable-tools/langchain";
import { tool } from "@langchain/core/tools";
import { z } from "zod";
import { median, round2 } from "./stats.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25);
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const WARMUP_ROUNDS = 3;

const schema = z.object({ customer: z.string(), amountCents: z.number().int(), n: z.number().int() });
type Args = z.infer<typeof schema>;
const work = (args: Args) => ({
  id: `inv_${args.n}`,
  customer: args.customer,
  amountCents: args.amountCents,
});

const bare = tool(async (args: Args) => JSON.stringify(work(args)), { name: "create_invoice", schema });

function durable() {
  const ledger = new Ledger({ store: new MemoryLedgerStore() });
  return durableTool<Args, ReturnType<typeof work>>({
    name: "create_invoice",
    description: "Create an invoice.",
    schema,
    sideEffect: "write",
    ledger,
    submit: (args) => work(args),
  });
}

/** The bare tool itself wrapped: the durable tool submits by invoking it. */
function wrapped() {
  return durableTool(bare, { sideEffect: "write", ledger: new Ledger({ store: new MemoryLedgerStore() }) });
}

type Invoke = (args: Args) => Promise<unknown>;

async function timeBatch(invoke: Invoke, argsFor: (i: number) => Args): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await invoke(argsFor(i));
  return ((performance.now() - start) * 1000) / CALLS; // µs per call
}

async function main() {
  let counter = 0;
  const fresh = () => ({ customer: "cus_1", amountCents: 100, n: counter++ });
  const same = { customer: "cus_1", amountCents: 100, n: -1 };
  const samples = {
    bareNew: [] as number[],
    durableNew: [] as number[],
    wrappedNew: [] as number[],
    bareReplay: [] as number[],
    durableReplay: [] as number[],
    wrappedReplay: [] as number[],
  };

  // The ledger alone, without LangChain: what a replay costs in durable-tools' own code.
  const ledger = new Ledger({ store: new MemoryLedgerStore() });
  const replaySpec = { tool: "create_invoice", args: same, submit: (a: Args) => work(a) };
  await ledger.execute(replaySpec);
  const ledgerReplay: number[] = [];

  const replayTool = durable();
  const wrappedReplayTool = wrapped();
  // The first call records the result; every later call is a replay.
  await replayTool.invoke(same);
  await wrappedReplayTool.invoke(same);

  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    // Fresh ledgers per round keep the store size constant.
    const newKeyTool = durable();
    const wrappedNewKeyTool = wrapped();
    const b1 = await timeBatch((a) => bare.invoke(a), fresh);
    const d1 = await timeBatch((a) => newKeyTool.invoke(a), fresh);
    const w1 = await timeBatch((a) => wrappedNewKeyTool.invoke(a), fresh);
    const b2 = await timeBatch(
      (a) => bare.invoke(a),
      () => same,
    );
    const d2 = await timeBatch(
      (a) => replayTool.invoke(a),
      () => same,
    );
    const w2 = await timeBatch(
      (a) => wrappedReplayTool.invoke(a),
      () => same,
    );
    const l = await timeBatch(
      () => ledger.execute(replaySpec),
      () => same,
    );
    if (round < WARMUP_ROUNDS) continue;
    ledgerReplay.push(l);
    samples.bareNew.push(b1);
    samples.durableNew.push(d1);
    samples.bareReplay.push(b2);
    samples.durableReplay.push(d2);
    samples.wrappedNew.push(w1);
    samples.wrappedReplay.push(w2);
  }

  const figure = (bareUs: number, durableUs: number) => ({
    bareInvokeUs: round2(bareUs),
    durableInvokeUs: round2(durableUs),
    overheadUs: round2(durableUs - bareUs),
    ratio: round2(durableUs / bareUs),
  });
  const newKey = figure(median(samples.bareNew), median(samples.durableNew));
  const replay = figure(median(samples.bareReplay), median(samples.durableReplay));
  const wrappedNewKey = figure(median(samples.bareNew), median(samples.wrappedNew));
  const wrappedReplay = figure(median(samples.bareReplay), median(samples.wrappedReplay));
  const result = {
    benchmark: "durableTool (MemoryLedgerStore) vs the same bare LangChain tool, sequential invoke()",
    node: process.version,
    date: new Date().toISOString(),
    rounds: ROUNDS,
    callsPerRound: CALLS,
    newKey,
    replay,
    wrappedTool: { newKey: wrappedNewKey, replay: wrappedReplay },
    ledgerExecuteReplayUs: round2(median(ledgerReplay)),
    target: {
      replayOverheadUsMax: 15,
      met: Math.max(replay.overheadUs, wrappedReplay.overheadUs) <= 15,
    },
  };
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/core.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);

  console.log(
    `durableTool vs bare tool.invoke(), ${ROUNDS} rounds x ${CALLS} calls, medians (Node ${process.version})`,
  );
  console.table({
    "new key (definition)": newKey,
    "new key (wrapped tool)": wrappedNewKey,
    "replay (definition)": replay,
    "replay (wrapped tool)": wrappedReplay,
  });
  console.log(`Ledger.execute() replay alone (no LangChain): ${result.ledgerExecuteReplayUs} µs per call`);
  console.log(
    `replay overhead ${Math.max(replay.overheadUs, wrappedReplay.overheadUs)} µs per call at most (target <= 15 µs: ${result.target.met ? "met" : "NOT met"}); written to bench/results/core.json`,
  );
}

await main();
