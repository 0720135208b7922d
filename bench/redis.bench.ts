/**
 * `pnpm bench:redis`: durable-tools on Redis vs AWS Lambda Powertools idempotency (CachePersistenceLayer)
 * vs a bare ioredis floor, side by side in one run against one local redis-server that this script
 * starts and stops itself. Sequential calls of a trivial function; each round times a batch per
 * contender (interleaved, order rotated per round, so drift hits all alike); figures are medians of
 * calls per second over rounds. Then 50 concurrent duplicate calls of one key whose function takes 50 ms:
 * how many times the function really ran, and what the other callers got.
 *
 * Env: BENCH_ROUNDS (default 15), BENCH_CALLS (default 2000), BENCH_TRIALS (default 5),
 * BENCH_BREAKDOWN=0 to skip the store-vs-executor time breakdown.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import { Ledger, type LedgerStore } from "@durable-tools/core";
import { RedisLedgerStore } from "@durable-tools/redis";
// SQLite store (packages/sqlite, written in parallel): reported beside the Redis figures, not compared.
import { SqliteLedgerStore } from "@durable-tools/sqlite";
import { createClient } from "@redis/client";
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "../test/support/redis-server.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const WARMUP_ROUNDS = Number(process.env.BENCH_WARMUP ?? 2);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const DUPLICATES = 50;
const SLOW_FN_MS = 50;
const BREAKDOWN = process.env.BENCH_BREAKDOWN !== "0";

// --- the function every contender runs -------------------------------------------------------

interface Args {
  customer: string;
  amountCents: number;
  n: number;
}
interface Invoice {
  id: string;
  customer: string;
  amountCents: number;
}

/** Ground truth: how many times the real function body ran. */
let executions = 0;
const work = (args: Args): Invoice => {
  executions++;
  return { id: `inv_${args.n}`, customer: args.customer, amountCents: args.amountCents };
};

// --- helpers -----------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
const round0 = (x: number) => Math.round(x);
const round2 = (x: number) => Math.round(x * 100) / 100;
const require = createRequire(import.meta.url);
function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string })
      .version;
  } catch {
    return "unknown";
  }
}

type Invoke = (args: Args) => Promise<unknown>;

interface Contender {
  name: string;
  /** Runs each new-key call (fresh payload each call). */
  newKey: Invoke;
  /** Runs each replay call (the same payload, recorded once before the round). */
  replay: Invoke;
  /** Records the replay payload (called once after each FLUSHDB). */
  prime: () => Promise<void>;
}

/** Calls per second of one batch; checks the ground-truth execution count. */
async function timeBatch(
  label: string,
  invoke: Invoke,
  argsFor: (i: number) => Args,
  expectExecutions: number,
): Promise<number> {
  const before = executions;
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await invoke(argsFor(i));
  const elapsedMs = performance.now() - start;
  const ran = executions - before;
  if (ran !== expectExecutions) {
    throw new Error(
      `${label}: the function ran ${ran} times in ${CALLS} calls, expected ${expectExecutions}`,
    );
  }
  return (CALLS * 1000) / elapsedMs;
}

/** Counts keys matching a pattern (SCAN, not KEYS). */
async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let count = 0;
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    count += batch.length;
  } while (cursor !== "0");
  return count;
}

/** Wraps a store to time its calls: how much of a call is the store (network + Redis) vs the executor. */
function timedStore(inner: LedgerStore, spent: { ms: number; calls: number }): LedgerStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        const start = performance.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          spent.ms += performance.now() - start;
          spent.calls++;
        }
      };
    },
  });
}

// --- main ----------------------------------------------------------------------------------------

async function main() {
  const server: RedisServer = await startRedisServer();
  const sqliteDir = mkdtempSync(join(tmpdir(), "durable-tools-bench-sqlite-"));
  // Connections: ioredis for the floor and for ours; node-redis (@redis/client) for Powertools, the
  // client its CachePersistenceLayer documents. A node-redis floor is timed too, to tell client cost apart.
  const floorClient = new Redis(server.url);
  const oursClient = new Redis(server.url);
  const admin = new Redis(server.url);
  const nodeRedis = createClient({ url: server.url });
  await nodeRedis.connect();
  const powertoolsClient = createClient({ url: server.url });
  await powertoolsClient.connect();
  const powertoolsCtxClient = createClient({ url: server.url });
  await powertoolsCtxClient.connect();

  const cleanup = async () => {
    await Promise.allSettled([
      floorClient.quit(),
      oursClient.quit(),
      admin.quit(),
      nodeRedis.close(),
      powertoolsClient.close(),
      powertoolsCtxClient.close(),
    ]);
    await server.stop();
    rmSync(sqliteDir, { recursive: true, force: true });
  };

  try {
    const redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "unknown";

    // Powertools prints a console.warn on every call when no Lambda context is registered
    // ("Could not determine remaining time left..."); it is counted and silenced so that it does not
    // time stderr writes. Everything else is its own code path.
    let powertoolsWarnings = 0;
    const originalWarn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (String(args[0]).startsWith("Could not determine remaining time left")) {
        powertoolsWarnings++;
        return;
      }
      originalWarn(...args);
    };

    /**
     * Powertools, configured as documented for an arbitrary (non-handler) function outside Lambda: a
     * `keyPrefix` per function (otherwise equal payloads of two functions share a key), the whole payload
     * hashed (no `eventKeyJmesPath`: the payload is the business identity here, and no part of it varies
     * between retries, so payload validation has nothing to add), defaults otherwise (md5, records kept
     * 3600 s, no local in-memory cache, so every call really asks Redis). One persistence layer per
     * function, as its own warning recommends. `withContext` additionally registers a stand-in Lambda
     * context (`getRemainingTimeInMillis: () => 30_000`, our lease length) so that in-progress records
     * carry `in_progress_expiration`: without it a concurrent duplicate finds an in-progress record with no
     * expiry, treats it as an orphan, takes the orphan lock and runs the function again.
     */
    const powertools = (
      client: typeof powertoolsClient,
      keyPrefix: string,
      fn: (args: Args) => Promise<unknown>,
      withContext: boolean,
    ) => {
      const config = new IdempotencyConfig({});
      if (withContext) {
        config.registerLambdaContext({ getRemainingTimeInMillis: () => 30_000 } as never);
      }
      return makeIdempotent(fn, {
        persistenceStore: new CachePersistenceLayer({ client }),
        config,
        keyPrefix,
      });
    };
    const ptNew = powertools(powertoolsClient, "bench-pt-new", async (a) => work(a), false);
    const ptReplay = powertools(powertoolsClient, "bench-pt-replay", async (a) => work(a), false);
    const ptCtxNew = powertools(powertoolsCtxClient, "bench-ptctx-new", async (a) => work(a), true);
    const ptCtxReplay = powertools(powertoolsCtxClient, "bench-ptctx-replay", async (a) => work(a), true);

    // durable-tools: the executor on RedisLedgerStore (ioredis), key derived from the arguments.
    const oursStore = new RedisLedgerStore(oursClient, { prefix: "bench-dt" });
    const ours = new Ledger({ store: oursStore });
    const oursCall = (tool: string) => (args: Args) =>
      ours.execute({ tool, args, submit: (a: Args) => work(a) });
    const oursNew = oursCall("create_invoice");
    const oursReplay = oursCall("create_invoice_replay");

    const sqliteStore = SqliteLedgerStore.fromPath(join(sqliteDir, "ledger.db"));
    const sqlite = new Ledger({ store: sqliteStore });
    const sqliteNew = (args: Args) =>
      sqlite.execute({ tool: "create_invoice", args, submit: (a: Args) => work(a) });
    const sqliteReplay = (args: Args) =>
      sqlite.execute({ tool: "create_invoice_replay", args, submit: (a: Args) => work(a) });

    // The floor: SET key value NX PX 60000, then GET key. Two round trips, no logic.
    const floorCall = (prefix: string, client: Redis) => async (args: Args) => {
      const key = `${prefix}:${args.customer}:${args.amountCents}:${args.n}`;
      await client.set(key, JSON.stringify(work(args)), "PX", 60_000, "NX");
      return JSON.parse((await client.get(key)) as string);
    };
    const floorNodeRedisCall = (prefix: string) => async (args: Args) => {
      const key = `${prefix}:${args.customer}:${args.amountCents}:${args.n}`;
      await nodeRedis.set(key, JSON.stringify(work(args)), { PX: 60_000, NX: true });
      return JSON.parse((await nodeRedis.get(key)) as string);
    };

    const same: Args = { customer: "cus_1", amountCents: 100, n: -1 };
    let counter = 0;
    const fresh = () => ({ customer: "cus_1", amountCents: 100, n: counter++ });

    /** Replay batches: the floor still runs the function (a bare SET NX has no memory of results). */
    const contenders: (Contender & { replayRunsFn: boolean })[] = [
      {
        name: "floor",
        newKey: floorCall("bench-floor-new", floorClient),
        replay: floorCall("bench-floor-replay", floorClient),
        prime: async () => {},
        replayRunsFn: true,
      },
      {
        name: "floorNodeRedis",
        newKey: floorNodeRedisCall("bench-floornr-new"),
        replay: floorNodeRedisCall("bench-floornr-replay"),
        prime: async () => {},
        replayRunsFn: true,
      },
      {
        name: "powertools",
        newKey: ptNew,
        replay: ptReplay,
        prime: async () => void (await ptReplay(same)),
        replayRunsFn: false,
      },
      {
        name: "powertoolsWithContext",
        newKey: ptCtxNew,
        replay: ptCtxReplay,
        prime: async () => void (await ptCtxReplay(same)),
        replayRunsFn: false,
      },
      {
        name: "ours",
        newKey: oursNew,
        replay: oursReplay,
        prime: async () => void (await oursReplay(same)),
        replayRunsFn: false,
      },
      {
        name: "sqlite",
        newKey: sqliteNew,
        replay: sqliteReplay,
        prime: async () => void (await sqliteReplay(same)),
        replayRunsFn: false,
      },
    ];
    await sqliteReplay(same); // the SQLite file is not flushed between rounds: record its replay once

    const samples = new Map<string, { newKey: number[]; replay: number[] }>(
      contenders.map((c) => [c.name, { newKey: [], replay: [] }]),
    );
    let keysAfterLastRound: Record<string, number> = {};
    const benchStart = performance.now();
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      // Each round starts on an empty Redis (constant store size), the replay payloads recorded again.
      await admin.flushdb("SYNC");
      for (const c of contenders) if (c.name !== "sqlite") await c.prime();
      const order = contenders.map(
        (_, i) => contenders[(i + round) % contenders.length] as (typeof contenders)[0],
      );
      for (const c of order) {
        const s = samples.get(c.name) as { newKey: number[]; replay: number[] };
        const n = await timeBatch(`${c.name} new keys`, c.newKey, fresh, CALLS);
        const r = await timeBatch(`${c.name} replays`, c.replay, () => same, c.replayRunsFn ? CALLS : 0);
        if (round >= WARMUP_ROUNDS) {
          s.newKey.push(n);
          s.replay.push(r);
        }
      }
      if (round === WARMUP_ROUNDS + ROUNDS - 1) {
        keysAfterLastRound = {
          "powertools new-key records (bench-pt-new#*)": await countKeys(admin, "bench-pt-new#*"),
          "powertools replay records (bench-pt-replay#*)": await countKeys(admin, "bench-pt-replay#*"),
          "powertoolsWithContext new-key records": await countKeys(admin, "bench-ptctx-new#*"),
          "ours records (bench-dt:{*}:rec)": await countKeys(admin, "bench-dt:{*}:rec"),
          "ours event streams (bench-dt:{*}:ev)": await countKeys(admin, "bench-dt:{*}:ev"),
          "floor keys (bench-floor-new:*)": await countKeys(admin, "bench-floor-new:*"),
        };
      }
    }
    const throughputSeconds = (performance.now() - benchStart) / 1000;

    // Proof that Powertools really persisted to Redis in this mode: one record per new-key call.
    const ptReplayKey = (await admin.keys("bench-pt-replay#*"))[0];
    const ptReplayRecord = ptReplayKey ? await admin.get(ptReplayKey) : null;
    const ptReplayTtl = ptReplayKey ? await admin.ttl(ptReplayKey) : null;
    const dtReplayKey = (await admin.keys("bench-dt:{*create_invoice_replay*}:rec"))[0];

    // --- where our time goes: store (network + Redis + script) vs executor ----------------------
    let breakdown: Record<string, unknown> | undefined;
    if (BREAKDOWN) {
      const spent = { ms: 0, calls: 0 };
      const profiled = new Ledger({ store: timedStore(oursStore, spent) });
      const prof = (tool: string) => (args: Args) =>
        profiled.execute({ tool, args, submit: (a: Args) => work(a) });
      await prof("profile_replay")(same);
      const measure = async (invoke: Invoke, argsFor: (i: number) => Args, expect: number) => {
        const rows: { totalUs: number; storeUs: number; storeCalls: number }[] = [];
        for (let r = 0; r < 5; r++) {
          spent.ms = 0;
          spent.calls = 0;
          const cps = await timeBatch("breakdown", invoke, argsFor, expect);
          rows.push({
            totalUs: 1e6 / cps,
            storeUs: (spent.ms * 1000) / CALLS,
            storeCalls: spent.calls / CALLS,
          });
        }
        const totalUs = median(rows.map((x) => x.totalUs));
        const storeUs = median(rows.map((x) => x.storeUs));
        return {
          perCallUs: round2(totalUs),
          inStoreUs: round2(storeUs),
          executorUs: round2(totalUs - storeUs),
          storeCallsPerCall: round2(median(rows.map((x) => x.storeCalls))),
        };
      };
      // The same commands' raw cost on ioredis: EVALSHA of a trivial script vs SET/GET, one round trip each.
      const pingSha = (await admin.script("LOAD", "return 1")) as string;
      const rtt = async (fn: () => Promise<unknown>) => {
        const start = performance.now();
        for (let i = 0; i < CALLS; i++) await fn();
        return round2(((performance.now() - start) * 1000) / CALLS);
      };
      breakdown = {
        note: "per call, medians of 5 batches; inStoreUs = time inside RedisLedgerStore methods (ioredis + Redis + Lua + (de)serialisation), executorUs = the rest of Ledger.execute",
        newKey: await measure(prof("profile_new"), fresh, CALLS),
        replay: await measure(prof("profile_replay"), () => same, 0),
        rawRoundTripUs: {
          ioredisGet: await rtt(() => oursClient.get("nope")),
          ioredisEvalshaTrivial: await rtt(() => oursClient.evalsha(pingSha, 0)),
          ioredisSetNxPlusGet: await rtt(async () => {
            await oursClient.set("bench-rtt", "x", "PX", 60_000, "NX");
            await oursClient.get("bench-rtt");
          }),
        },
      };
    }

    // --- 50 concurrent duplicates of one key, function takes 50 ms -------------------------------
    type Tally = Record<string, number>;
    const slowWork = async (args: Args, runs: { count: number }): Promise<Invoice & { run: number }> => {
      const run = ++runs.count;
      await sleep(SLOW_FN_MS);
      return { id: `inv_${args.n}`, customer: args.customer, amountCents: args.amountCents, run };
    };
    const outcomeOf = (settled: PromiseSettledResult<unknown>, unwrap: (v: unknown) => unknown): string => {
      if (settled.status === "rejected") {
        const e = settled.reason as { name?: string; code?: string; cause?: { name?: string } };
        const cause = e.cause?.name ? ` (cause ${e.cause.name})` : "";
        return `error ${e.name ?? "?"}${e.code ? ` [${e.code}]` : ""}${cause}`;
      }
      const value = unwrap(settled.value) as { run?: number };
      return value?.run === 1
        ? "returned the first execution's result"
        : `returned execution #${value?.run}'s result`;
    };
    const duplicateTrials = async (
      name: string,
      makeCaller: (runs: { count: number }, trial: number) => (args: Args) => Promise<unknown>,
      unwrap: (v: unknown) => unknown,
    ) => {
      const perTrial: number[] = [];
      const tally: Tally = {};
      for (let trial = 0; trial < TRIALS; trial++) {
        const runs = { count: 0 };
        const call = makeCaller(runs, trial);
        const args: Args = { customer: `cus_dup_${name}`, amountCents: 4200, n: 1_000_000 + trial };
        const settled = await Promise.allSettled(Array.from({ length: DUPLICATES }, () => call(args)));
        perTrial.push(runs.count);
        for (const s of settled) {
          const outcome = outcomeOf(s, unwrap);
          tally[outcome] = (tally[outcome] ?? 0) + 1;
        }
      }
      return { maxExecutionsPerTrial: Math.max(...perTrial), executionsPerTrial: perTrial, outcomes: tally };
    };
    await admin.flushdb("SYNC");
    const dupPowertools = await duplicateTrials(
      "pt",
      (runs, trial) => powertools(powertoolsClient, `bench-dup-pt-${trial}`, (a) => slowWork(a, runs), false),
      (v) => v,
    );
    const dupPowertoolsCtx = await duplicateTrials(
      "ptctx",
      (runs, trial) =>
        powertools(powertoolsCtxClient, `bench-dup-ptctx-${trial}`, (a) => slowWork(a, runs), true),
      (v) => v,
    );
    const dupOurs = await duplicateTrials(
      "ours",
      (runs) => (args) =>
        ours.execute({ tool: "slow_invoice", args, submit: (a: Args) => slowWork(a, runs) }),
      (v) => (v as { result: unknown }).result,
    );
    const dupSqlite = await duplicateTrials(
      "sqlite",
      (runs) => (args) =>
        sqlite.execute({ tool: "slow_invoice", args, submit: (a: Args) => slowWork(a, runs) }),
      (v) => (v as { result: unknown }).result,
    );
    console.warn = originalWarn;
    await sqliteStore.close();

    // --- results ---------------------------------------------------------------------------------
    const med = (name: string, kind: "newKey" | "replay") =>
      median((samples.get(name) as { newKey: number[]; replay: number[] })[kind]);
    const figures = (kind: "newKey" | "replay") => ({
      ours: round0(med("ours", kind)),
      powertools: round0(med("powertools", kind)),
      floor: round0(med("floor", kind)),
      powertoolsWithContext: round0(med("powertoolsWithContext", kind)),
      floorNodeRedis: round0(med("floorNodeRedis", kind)),
    });
    const ratios = (kind: "newKey" | "replay") => ({
      oursOverPowertools: round2(med("ours", kind) / med("powertools", kind)),
      oursOverPowertoolsWithContext: round2(med("ours", kind) / med("powertoolsWithContext", kind)),
      oursOverFloor: round2(med("ours", kind) / med("floor", kind)),
      powertoolsOverFloor: round2(med("powertools", kind) / med("floor", kind)),
    });
    const newKey = figures("newKey");
    const replay = figures("replay");
    const newKeyRatios = ratios("newKey");
    const replayRatios = ratios("replay");
    const worstPt = (kind: "newKey" | "replay") =>
      Math.max(med("powertools", kind), med("powertoolsWithContext", kind));
    const targets = {
      newKeyAtLeast0_9xFloor: {
        ratio: newKeyRatios.oursOverFloor,
        met: med("ours", "newKey") >= 0.9 * med("floor", "newKey"),
      },
      newKeyFasterThanPowertools: {
        ratio: round2(med("ours", "newKey") / worstPt("newKey")),
        met: med("ours", "newKey") > worstPt("newKey"),
      },
      replayAtLeast1_8xPowertools: {
        ratio: round2(med("ours", "replay") / worstPt("replay")),
        met: med("ours", "replay") >= 1.8 * worstPt("replay"),
      },
      concurrentDuplicatesExactlyOnce: dupOurs.executionsPerTrial.every((n) => n === 1),
    };
    const result = {
      benchmark:
        "sequential calls of a trivial function: durable-tools (RedisLedgerStore) vs @aws-lambda-powertools/idempotency (CachePersistenceLayer) vs bare SET NX + GET, one local redis-server",
      date: new Date().toISOString(),
      unit: "calls per second (median over rounds); concurrentDuplicates: max executions of the function per trial",
      newKey,
      replay,
      concurrentDuplicates: {
        ours: dupOurs.maxExecutionsPerTrial,
        powertools: dupPowertools.maxExecutionsPerTrial,
        powertoolsWithContext: dupPowertoolsCtx.maxExecutionsPerTrial,
        sqlite: dupSqlite.maxExecutionsPerTrial,
      },
      ratios: { newKey: newKeyRatios, replay: replayRatios },
      targets,
      sqlite: {
        note: "durable-tools on SqliteLedgerStore (temp file, WAL, synchronous=FULL): reported beside, not compared with Redis",
        newKey: round0(med("sqlite", "newKey")),
        replay: round0(med("sqlite", "replay")),
      },
      concurrentDuplicateDetails: {
        callers: DUPLICATES,
        functionMs: SLOW_FN_MS,
        trials: TRIALS,
        ours: dupOurs,
        powertools: dupPowertools,
        powertoolsWithContext: dupPowertoolsCtx,
        sqlite: dupSqlite,
      },
      persistenceCheck: {
        keysInRedisAfterLastRound: keysAfterLastRound,
        expectedPerNewKeyBatch: CALLS,
        powertoolsReplayRecord: { key: ptReplayKey, value: ptReplayRecord, ttlSeconds: ptReplayTtl },
        oursReplayRecordKey: dtReplayKey,
        powertoolsMissingContextWarningsSilenced: powertoolsWarnings,
      },
      breakdown,
      config: {
        rounds: ROUNDS,
        warmupRounds: WARMUP_ROUNDS,
        callsPerRound: CALLS,
        throughputPhaseSeconds: round2(throughputSeconds),
        perRound:
          "FLUSHDB, replay payloads recorded again, then per contender (order rotated each round): a batch of new keys, a batch of replays",
        floor:
          "ioredis: SET key value PX 60000 NX, then GET key (2 round trips); floorNodeRedis: the same on @redis/client",
        ours: "new Ledger({ store: new RedisLedgerStore(ioredis, { prefix }) }), defaults (lease 30 s, waitTimeoutMs 10 s, record TTL 7 d, persistEvents state_changes); key derived from the arguments; ledger.execute({ tool, args, submit })",
        powertools: {
          api: "makeIdempotent(fn, { persistenceStore: new CachePersistenceLayer({ client }), config: new IdempotencyConfig({}), keyPrefix })",
          client: "@redis/client createClient({ url }) + connect(), one client per configuration",
          keyPrefix:
            "one per wrapped function (e.g. bench-pt-new), so equal payloads of two functions do not share a key",
          idempotencyConfig:
            "defaults: whole first argument hashed (no eventKeyJmesPath), md5, expiresAfterSeconds 3600, useLocalCache false, no payload validation, throwOnNoIdempotencyKey false",
          lambdaContext:
            "powertools: none (no Lambda outside Lambda; its per-call 'Could not determine remaining time left' console.warn is counted and silenced). powertoolsWithContext: config.registerLambdaContext({ getRemainingTimeInMillis: () => 30000 }) as a stand-in, so in-progress records get in_progress_expiration",
          persistenceLayerPerFunction: true,
        },
      },
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        memoryGiB: round2(totalmem() / 2 ** 30),
        os: `${process.platform} ${release()}`,
        node: process.version,
        redisServer: redisVersion,
        ioredis: versionOf("ioredis"),
        redisClient: versionOf("@redis/client"),
        powertoolsIdempotency: versionOf("@aws-lambda-powertools/idempotency"),
      },
    };
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeFileSync(new URL("./results/redis.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);

    // --- print ------------------------------------------------------------------------------------
    console.log(
      `\nRedis: ${ROUNDS} rounds x ${CALLS} sequential calls (+${WARMUP_ROUNDS} warm-up), medians, calls/s ` +
        `(Node ${process.version}, redis-server ${redisVersion}, ${cpus().length} cores)`,
    );
    const row = (name: string) => ({
      "new keys/s": round0(med(name, "newKey")),
      "new vs floor": round2(med(name, "newKey") / med("floor", "newKey")),
      "replays/s": round0(med(name, "replay")),
      "replay vs floor": round2(med(name, "replay") / med("floor", "replay")),
    });
    console.table({
      "floor: ioredis SET NX + GET": row("floor"),
      "floor: node-redis SET NX + GET": row("floorNodeRedis"),
      "Powertools (no context)": row("powertools"),
      "Powertools (stand-in context)": row("powertoolsWithContext"),
      "durable-tools RedisLedgerStore": row("ours"),
      "durable-tools SqliteLedgerStore*": row("sqlite"),
    });
    console.log("* SQLite: a temp file on local disk, not comparable with Redis; shown for scale.");
    console.table({
      "ours / Powertools (no context)": {
        "new keys": newKeyRatios.oursOverPowertools,
        replays: replayRatios.oursOverPowertools,
      },
      "ours / Powertools (stand-in context)": {
        "new keys": newKeyRatios.oursOverPowertoolsWithContext,
        replays: replayRatios.oursOverPowertoolsWithContext,
      },
      "ours / floor": { "new keys": newKeyRatios.oursOverFloor, replays: replayRatios.oursOverFloor },
    });
    console.log(
      `\n${DUPLICATES} concurrent duplicate calls of one key, function takes ${SLOW_FN_MS} ms, ${TRIALS} trials:`,
    );
    const dupRow = (d: typeof dupOurs) => ({
      "executions per trial": d.executionsPerTrial.join(","),
      max: d.maxExecutionsPerTrial,
      "callers got": Object.entries(d.outcomes)
        .map(([k, v]) => `${v}x ${k}`)
        .join("; "),
    });
    console.table({
      "Powertools (no context)": dupRow(dupPowertools),
      "Powertools (stand-in context)": dupRow(dupPowertoolsCtx),
      "durable-tools Redis": dupRow(dupOurs),
      "durable-tools SQLite": dupRow(dupSqlite),
    });
    if (breakdown) {
      console.log("\nWhere a durable-tools call's time goes (µs per call):");
      console.table({
        "new key": breakdown.newKey as object,
        replay: breakdown.replay as object,
      });
      console.log("raw ioredis round trips (µs):", breakdown.rawRoundTripUs);
    }
    console.log("\nRedis keys after the last round:", keysAfterLastRound);
    console.log("\nTargets:");
    for (const [name, t] of Object.entries(targets)) console.log(`  ${name}: ${JSON.stringify(t)}`);
    console.log("written to bench/results/redis.json");
  } finally {
    await cleanup();
  }
}

await main();
