/**
 * `pnpm bench:redis`: durable-tools on Redis vs AWS Lambda Powertools idempotency (CachePersistenceLayer)
 * vs a bare ioredis floor, side by side in one run against one local redis-server that this script
 * starts and stops itself. Sequential calls of a trivial function; each round times a batch of new keys
 * and a batch of replays per contender (interleaved, order rotated per round, so drift hits all alike);
 * figures are medians of calls per second over rounds. Then 50 concurrent duplicate calls of one key
 * whose function takes 50 ms: how many times the function really ran, and what every caller got.
 * durable-tools runs twice: with defaults (a process claims a key it has seen with a GET) and with
 * rememberKeys: 0 (every claim a SET NX GET with a new record, as for a key the process has not seen).
 * Also the Redis memory each contender's new keys hold (MEMORY USAGE of every key they left).
 *
 * Env: BENCH_ROUNDS (15), BENCH_CALLS (1500), BENCH_WARMUP (2), BENCH_TRIALS (5),
 * BENCH_BREAKDOWN=0 skips the layer-by-layer time breakdown of a durable-tools call,
 * BENCH_LINES (0): invoice line items in every call's arguments (60 is 7.2 KB of JSON), for a
 * payload like a real tool's instead of the trivial one; results then go to redis-lines-<n>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import { Ledger } from "@durable-tools/core";
import { RedisLedgerStore } from "@durable-tools/redis";
// The SQLite store (packages/sqlite): reported beside the Redis figures, not compared with them.
import { SqliteLedgerStore } from "@durable-tools/sqlite";
import { createClient } from "@redis/client";
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "../test/support/redis-server.js";
import { bytesPerOperation, countConfirmed, countKeys, streamNodeSetting } from "./redis-keys.js";
import { median, round0, round1, round2 } from "./stats.js";
import { versionOf } from "./versions.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CALLS = Number(process.env.BENCH_CALLS ?? 1500);
const WARMUP_ROUNDS = Number(process.env.BENCH_WARMUP ?? 2);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const BREAKDOWN = process.env.BENCH_BREAKDOWN !== "0";
/** SQLite fsyncs every commit (synchronous=FULL): its new-key batches are shorter to keep the run short. */
const SQLITE_NEW_KEY_CALLS = Math.max(50, Math.round(CALLS / 20));
const DUPLICATES = 50;
const SLOW_FN_MS = 50;
const POWERTOOLS_STAND_IN_REMAINING_MS = 30_000;
const LINES = Number(process.env.BENCH_LINES ?? 0);

// --- the function every contender runs -------------------------------------------------------

interface Args {
  customer: string;
  amountCents: number;
  n: number;
  lines?: InvoiceLine[];
}
interface InvoiceLine {
  sku: string;
  description: string;
  quantity: number;
  unitCents: number;
}
/** BENCH_LINES invoice lines (the same for every call: only `n` makes a key new). */
const invoiceLines: InvoiceLine[] = Array.from({ length: LINES }, (_, i) => ({
  sku: `sku_${1000 + i}`,
  description: `Line item ${i + 1}: consulting hours, project Atlas, week ${(i % 52) + 1}`,
  quantity: (i % 7) + 1,
  unitCents: 1250 * ((i % 5) + 1),
}));
const RESULT_FILE = LINES > 0 ? `redis-lines-${LINES}.json` : "redis.json";
const withLines = (args: Args): Args => (LINES > 0 ? { ...args, lines: invoiceLines } : args);
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

type Invoke = (args: Args) => Promise<unknown>;
type Kind = "newKey" | "replay";

interface Contender {
  name: string;
  label: string;
  newKey: Invoke;
  replay: Invoke;
  /** Records the replay payload (once per round, after FLUSHDB). */
  prime: () => Promise<void>;
  /** A bare SET NX has no memory of results: the floor runs the function on replays too. */
  replayRunsFn: boolean;
  newKeyCalls: number;
  usesRedis: boolean;
  /** Runs after a batch's calls, inside its timing: work the calls left owed (background confirmations). */
  settle?: () => Promise<void>;
}

interface BatchStats {
  callsPerSecond: number;
  /** Bytes the client sent to / received from Redis per call (INFO stats deltas). */
  bytesInPerCall: number;
  bytesOutPerCall: number;
  /** Redis-side time per call: top-level commands' usec from INFO commandstats (a script includes its inner calls). */
  redisUsPerCall: number;
}

/** Times `calls` sequential calls; checks the ground-truth execution count. */
async function timeCalls(
  label: string,
  invoke: Invoke,
  argsFor: (i: number) => Args,
  calls: number,
  expectExecutions: number,
  settle?: () => Promise<void>,
): Promise<number> {
  const before = executions;
  const start = performance.now();
  for (let i = 0; i < calls; i++) await invoke(argsFor(i));
  await settle?.();
  const elapsedMs = performance.now() - start;
  const ran = executions - before;
  if (ran !== expectExecutions) {
    throw new Error(
      `${label}: the function ran ${ran} times in ${calls} calls, expected ${expectExecutions}`,
    );
  }
  return (calls * 1000) / elapsedMs;
}

const TOP_LEVEL = /^cmdstat_(evalsha|evalsha_ro|eval|eval_ro|set|get|del):calls=(\d+),usec=(\d+)/;
async function redisCounters(admin: Redis): Promise<{ in: number; out: number; usec: number }> {
  const stats = await admin.info("stats");
  const commands = await admin.info("commandstats");
  let usec = 0;
  for (const line of commands.split(/\r?\n/)) {
    const match = TOP_LEVEL.exec(line);
    if (match) usec += Number(match[3]);
  }
  return {
    in: Number(/total_net_input_bytes:(\d+)/.exec(stats)?.[1] ?? 0),
    out: Number(/total_net_output_bytes:(\d+)/.exec(stats)?.[1] ?? 0),
    usec,
  };
}

// --- main ----------------------------------------------------------------------------------------

async function main() {
  const server: RedisServer = await startRedisServer();
  const sqliteDir = mkdtempSync(join(tmpdir(), "durable-tools-bench-sqlite-"));
  // ioredis for the floor and for ours; node-redis (@redis/client), the client Powertools'
  // CachePersistenceLayer documents, for Powertools. A node-redis floor tells client cost apart.
  const floorClient = new Redis(server.url);
  const oursClient = new Redis(server.url);
  const oursUnseenClient = new Redis(server.url);
  const oursBackgroundClient = new Redis(server.url);
  const admin = new Redis(server.url);
  const nodeRedis = createClient({ url: server.url });
  const powertoolsClient = createClient({ url: server.url });
  const powertoolsCtxClient = createClient({ url: server.url });
  const originalWarn = console.warn;
  let sqliteStore: SqliteLedgerStore | undefined;

  try {
    await Promise.all([nodeRedis.connect(), powertoolsClient.connect(), powertoolsCtxClient.connect()]);
    const redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "unknown";

    // Without a Lambda context Powertools prints "Could not determine remaining time left. Did you call
    // registerLambdaContext on IdempotencyConfig?" with console.warn on every call: counted and silenced,
    // so that the figures do not time stderr writes. Any other warning goes through.
    let powertoolsWarnings = 0;
    console.warn = (...args: unknown[]) => {
      if (String(args[0]).startsWith("Could not determine remaining time left")) {
        powertoolsWarnings++;
        return;
      }
      originalWarn(...args);
    };

    /**
     * Powertools as documented for an arbitrary (non-handler) function: `makeIdempotent(fn, {
     * persistenceStore, config, keyPrefix })`, a `keyPrefix` per function (without one, and without
     * AWS_LAMBDA_FUNCTION_NAME, every function's keys are just `#<hash>`), the whole first argument hashed
     * (no `eventKeyJmesPath`: here the payload is the operation's identity and nothing in it varies
     * between retries, so there is no subset to select and payload validation would have nothing to
     * compare), other settings at their defaults (md5, records kept 3600 s, no local in-memory cache, so
     * every call asks Redis). One persistence layer per function, as its own config-mismatch warning
     * recommends. `withContext` additionally registers a stand-in Lambda context whose
     * getRemainingTimeInMillis() answers 30 s (our lease), so that in-progress records carry
     * `in_progress_expiration`; without it, a concurrent duplicate finds an in-progress record without
     * expiry, treats it as an orphan, takes the orphan lock and runs the function again.
     */
    const powertools = <F extends (...a: never[]) => Promise<unknown>>(
      client: typeof powertoolsClient,
      keyPrefix: string,
      fn: F,
      withContext: boolean,
    ) => {
      const config = new IdempotencyConfig({});
      if (withContext) {
        config.registerLambdaContext({
          getRemainingTimeInMillis: () => POWERTOOLS_STAND_IN_REMAINING_MS,
        } as unknown as Parameters<IdempotencyConfig["registerLambdaContext"]>[0]);
      }
      return makeIdempotent(fn, {
        persistenceStore: new CachePersistenceLayer({ client }),
        config,
        keyPrefix,
      });
    };
    const asyncWork = async (a: Args) => work(a);
    const ptNew = powertools(powertoolsClient, "bench-pt-new", asyncWork, false);
    const ptReplay = powertools(powertoolsClient, "bench-pt-replay", asyncWork, false);
    const ptCtxNew = powertools(powertoolsCtxClient, "bench-ptctx-new", asyncWork, true);
    const ptCtxReplay = powertools(powertoolsCtxClient, "bench-ptctx-replay", asyncWork, true);

    // A ledger's two contenders: new keys (a fresh argument each call) and replays (the same one).
    const callsOf = (ledger: Ledger) => ({
      newKey: (args: Args) => ledger.execute({ tool: "create_invoice", args, submit: work }),
      replay: (args: Args) => ledger.execute({ tool: "create_invoice_replay", args, submit: work }),
    });
    // durable-tools: the executor on RedisLedgerStore (ioredis), defaults, key derived from the arguments.
    const oursStore = new RedisLedgerStore(oursClient, { prefix: "bench-dt" });
    const ours = new Ledger({ store: oursStore });
    const { newKey: oursNew, replay: oursReplay } = callsOf(ours);
    // The same, remembering no keys: every claim is what a process sends for a key it has not seen (a
    // replay after a crash, or on another worker): SET NX GET with a whole new record.
    const oursUnseenStore = new RedisLedgerStore(oursUnseenClient, { prefix: "bench-dtu", rememberKeys: 0 });
    const { newKey: oursUnseenNew, replay: oursUnseenReplay } = callsOf(
      new Ledger({ store: oursUnseenStore }),
    );
    // The same as ours, with the CONFIRMED record written just after each call returns (on its own client).
    const oursBackground = new Ledger({
      store: new RedisLedgerStore(oursBackgroundClient, { prefix: "bench-dtb" }),
      confirmation: "background",
    });
    const { newKey: oursBackgroundNew, replay: oursBackgroundReplay } = callsOf(oursBackground);

    sqliteStore = SqliteLedgerStore.fromPath(join(sqliteDir, "ledger.db"));
    const sqlite = new Ledger({ store: sqliteStore });
    const { newKey: sqliteNew, replay: sqliteReplay } = callsOf(sqlite);

    // The floor: SET key value PX 60000 NX, then GET key. Two round trips, no logic.
    const floorKey = (prefix: string, args: Args) =>
      `${prefix}:${args.customer}:${args.amountCents}:${args.n}`;
    const floorCall = (prefix: string) => async (args: Args) => {
      const key = floorKey(prefix, args);
      await floorClient.set(key, JSON.stringify(work(args)), "PX", 60_000, "NX");
      return JSON.parse((await floorClient.get(key)) as string);
    };
    const floorNodeRedisCall = (prefix: string) => async (args: Args) => {
      const key = floorKey(prefix, args);
      await nodeRedis.set(key, JSON.stringify(work(args)), { PX: 60_000, NX: true });
      return JSON.parse((await nodeRedis.get(key)) as string);
    };

    const same: Args = withLines({ customer: "cus_1", amountCents: 100, n: -1 });
    let counter = 0;
    const fresh = (): Args => withLines({ customer: "cus_1", amountCents: 100, n: counter++ });

    const contenders: Contender[] = [
      {
        name: "floor",
        label: "floor: ioredis SET NX + GET",
        newKey: floorCall("bench-floor-new"),
        replay: floorCall("bench-floor-replay"),
        prime: async () => {},
        replayRunsFn: true,
        newKeyCalls: CALLS,
        usesRedis: true,
      },
      {
        name: "floorNodeRedis",
        label: "floor: node-redis SET NX + GET",
        newKey: floorNodeRedisCall("bench-floornr-new"),
        replay: floorNodeRedisCall("bench-floornr-replay"),
        prime: async () => {},
        replayRunsFn: true,
        newKeyCalls: CALLS,
        usesRedis: true,
      },
      {
        name: "powertools",
        label: "Powertools (no Lambda context)",
        newKey: ptNew,
        replay: ptReplay,
        prime: async () => void (await ptReplay(same)),
        replayRunsFn: false,
        newKeyCalls: CALLS,
        usesRedis: true,
      },
      {
        name: "powertoolsWithContext",
        label: "Powertools (stand-in context)",
        newKey: ptCtxNew,
        replay: ptCtxReplay,
        prime: async () => void (await ptCtxReplay(same)),
        replayRunsFn: false,
        newKeyCalls: CALLS,
        usesRedis: true,
      },
      {
        name: "ours",
        label: "durable-tools RedisLedgerStore",
        newKey: oursNew,
        replay: oursReplay,
        prime: async () => void (await oursReplay(same)),
        replayRunsFn: false,
        newKeyCalls: CALLS,
        usesRedis: true,
      },
      {
        name: "oursBackgroundConfirmation",
        label: "durable-tools, confirmation: background",
        newKey: oursBackgroundNew,
        replay: oursBackgroundReplay,
        prime: async () => {
          await oursBackgroundReplay(same);
          await oursBackground.flush();
        },
        replayRunsFn: false,
        newKeyCalls: CALLS,
        usesRedis: true,
        settle: () => oursBackground.flush(),
      },
      {
        name: "oursKeyNotSeen",
        label: "durable-tools, keys not seen by the process",
        newKey: oursUnseenNew,
        replay: oursUnseenReplay,
        prime: async () => void (await oursUnseenReplay(same)),
        replayRunsFn: false,
        newKeyCalls: CALLS,
        usesRedis: true,
      },
      {
        name: "sqlite",
        label: "durable-tools SqliteLedgerStore *",
        newKey: sqliteNew,
        replay: sqliteReplay,
        prime: async () => {}, // the SQLite file is not flushed between rounds: recorded once below
        replayRunsFn: false,
        newKeyCalls: SQLITE_NEW_KEY_CALLS,
        usesRedis: false,
      },
    ];
    await sqliteReplay(same);

    const empty = () => ({ callsPerSecond: [], bytesInPerCall: [], bytesOutPerCall: [], redisUsPerCall: [] });
    type Samples = Record<keyof BatchStats, number[]>;
    const samples = new Map<string, Record<Kind, Samples>>(
      contenders.map((c) => [c.name, { newKey: empty(), replay: empty() }]),
    );
    // What reading the counters itself adds (the INFO requests and replies), subtracted from every batch.
    await admin.config("RESETSTAT");
    const idle0 = await redisCounters(admin);
    const idle1 = await redisCounters(admin);
    const readCost = { in: idle1.in - idle0.in, out: idle1.out - idle0.out };
    const batch = async (c: Contender, kind: Kind, keep: boolean) => {
      const calls = kind === "newKey" ? c.newKeyCalls : CALLS;
      const expect = kind === "newKey" || c.replayRunsFn ? calls : 0;
      await admin.config("RESETSTAT");
      const before = await redisCounters(admin);
      const cps = await timeCalls(
        `${c.name} ${kind}`,
        kind === "newKey" ? c.newKey : c.replay,
        kind === "newKey" ? fresh : () => same,
        calls,
        expect,
        c.settle,
      );
      const after = await redisCounters(admin);
      if (!keep) return;
      const s = (samples.get(c.name) as Record<Kind, Samples>)[kind];
      s.callsPerSecond.push(cps);
      if (c.usesRedis) {
        s.bytesInPerCall.push((after.in - before.in - readCost.in) / calls);
        s.bytesOutPerCall.push((after.out - before.out - readCost.out) / calls);
        s.redisUsPerCall.push((after.usec - before.usec) / calls);
      }
    };

    let keysAfterLastRound: Record<string, number> = {};
    let memoryPerNewKey: Record<string, number> = {};
    const benchStart = performance.now();
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      // Each round starts on an empty Redis (constant store size); the replay payloads are recorded again.
      await admin.flushdb("SYNC");
      for (const c of contenders) await c.prime();
      const keep = round >= WARMUP_ROUNDS;
      for (let i = 0; i < contenders.length; i++) {
        const c = contenders[(i + round) % contenders.length] as Contender;
        await batch(c, "newKey", keep);
        await batch(c, "replay", keep);
      }
      if (round === WARMUP_ROUNDS + ROUNDS - 1) {
        // Proof that every contender really wrote to Redis: one record per new-key call.
        keysAfterLastRound = {
          "bench-pt-new#* (Powertools)": await countKeys(admin, "bench-pt-new#*"),
          "bench-ptctx-new#* (Powertools, stand-in context)": await countKeys(admin, "bench-ptctx-new#*"),
          "bench-pt-replay#* (Powertools replay record)": await countKeys(admin, "bench-pt-replay#*"),
          "bench-dt:{*}:rec (ours: records, incl. the replay one)": await countKeys(
            admin,
            "bench-dt:{*}:rec",
          ),
          "bench-dt:{*}:ev (ours: event streams)": await countKeys(admin, "bench-dt:{*}:ev"),
          "bench-dtb:{*}:rec CONFIRMED (ours, confirmation background: records on record after the flush)":
            await countConfirmed(admin, "bench-dtb:{*}:rec"),
          "bench-dtu:{*}:rec (ours, keys not seen: records)": await countKeys(admin, "bench-dtu:{*}:rec"),
          "bench-floor-new:* (floor)": await countKeys(admin, "bench-floor-new:*"),
        };
        memoryPerNewKey = {
          floor: round0(await bytesPerOperation(admin, "bench-floor-new:*", CALLS)),
          powertools: round0(await bytesPerOperation(admin, "bench-pt-new#*", CALLS)),
          powertoolsWithContext: round0(await bytesPerOperation(admin, "bench-ptctx-new#*", CALLS)),
          ours: round0(await bytesPerOperation(admin, "bench-dt:{-/create_invoice/h:*", CALLS)),
          oursRecordsOnly: round0(
            await bytesPerOperation(admin, "bench-dt:{-/create_invoice/h:*:rec", CALLS),
          ),
        };
      }
    }
    const throughputSeconds = (performance.now() - benchStart) / 1000;

    // --- an operation's event stream and the server's stream-node-max-bytes ------------------------
    // Redis 7 allocates a new stream's first node at min(4096, stream-node-max-bytes) bytes; the store's
    // scripts rewrite a stream they create at its size, so the setting should no longer matter. The same
    // new keys with it at 512, alternating with the default (it is server-wide), batches of half a round.
    const streamNodeMaxBytes = await streamNodeSetting(
      admin,
      oursClient,
      (ledger) => ledger.execute({ tool: "create_invoice", args: fresh(), submit: work }),
      Math.max(100, CALLS >> 1),
    );
    const ptReplayKey = (await admin.keys("bench-pt-replay#*"))[0];
    const powertoolsReplayRecord = ptReplayKey
      ? { key: ptReplayKey, value: await admin.get(ptReplayKey), ttlSeconds: await admin.ttl(ptReplayKey) }
      : undefined;

    // --- where a durable-tools call's time goes ---------------------------------------------------
    // Layer by layer, interleaved: a plain GET; for a replay of a key the process has not seen, the
    // claim's SET NX GET alone with the exact arguments it sends, then RedisLedgerStore.claim() with the
    // exact request, then the whole Ledger.execute(); the same two for a key it has seen (a GET). Plus
    // the JS alone: the same Ledger + RedisLedgerStore on a stand-in client that answers instantly with
    // recorded replies.
    let breakdown: Record<string, unknown> | undefined;
    if (BREAKDOWN) {
      type CommandFn = (...a: unknown[]) => Promise<unknown>;
      const patched = oursUnseenClient as unknown as Record<"set" | "dtTransitionV7", CommandFn>;
      const replies: Record<string, unknown> = {};
      let claimArgs: unknown[] | undefined;
      let claimRequest: Parameters<RedisLedgerStore["claim"]>[0] | undefined;
      const realSet = patched.set;
      const realTransition = patched.dtTransitionV7;
      const realClaim = oursUnseenStore.claim;
      patched.set = async (...a) => {
        const reply = await realSet.apply(oursUnseenClient, a);
        if (reply !== null) claimArgs ??= a;
        replies[reply === null ? "claim:created" : "claim:existing"] ??= reply;
        return reply;
      };
      patched.dtTransitionV7 = async (...a) => {
        const reply = (await realTransition.apply(oursUnseenClient, a)) as string[];
        replies[`transition:${reply[0]}`] ??= reply;
        return reply;
      };
      oursUnseenStore.claim = (request) => {
        claimRequest ??= request;
        return realClaim.call(oursUnseenStore, request);
      };
      await oursUnseenReplay(same);
      await oursUnseenNew(fresh());
      patched.set = realSet;
      patched.dtTransitionV7 = realTransition;
      oursUnseenStore.claim = realClaim;
      const request = claimRequest as NonNullable<typeof claimRequest>;
      /** A Ledger on a stand-in client that answers at once: SET with `setReply`, GET with the record. */
      const jsOnly = (setReply: "created" | "existing", rememberKeys: number) => {
        const instant = {
          defineCommand() {},
          get: async () => replies["claim:existing"],
          set: async () => replies[`claim:${setReply}`],
          dtTransitionV7: async () => replies["transition:ok"],
        };
        return new Ledger({
          store: new RedisLedgerStore(instant as unknown as Redis, { prefix: "x", rememberKeys }),
        });
      };
      const jsReplaySeen = jsOnly("created", 10);
      await jsReplaySeen.execute({ tool: "t", args: same, submit: work }); // now it has seen the key
      const jsReplayUnseen = jsOnly("existing", 0);
      const jsNew = jsOnly("created", 0);
      const batchCalls = Math.max(100, CALLS >> 1);
      /** A label, the call it times, and an untimed call made before each timed one. */
      type Layer = [string, () => Promise<unknown>, (() => Promise<unknown>)?];
      const layers: Layer[] = [
        ["GET (one plain round trip)", () => oursClient.get("bench-nope")],
        [
          "SET NX PX + GET (the floor's two round trips)",
          async () => {
            await oursClient.set("bench-rtt", "x", "PX", 60_000, "NX");
            await oursClient.get("bench-rtt");
          },
        ],
        [
          "replay, key not seen: the claim's SET NX GET alone, same arguments",
          () => realSet.apply(oursUnseenClient, claimArgs ?? []),
        ],
        [
          "replay, key not seen: RedisLedgerStore.claim(), same request",
          () => oursUnseenStore.claim(request),
        ],
        ["replay, key not seen: Ledger.execute()", () => oursUnseenReplay(same)],
        ["replay, key seen: RedisLedgerStore.claim() (a GET), same request", () => oursStore.claim(request)],
        ["replay, key seen: Ledger.execute()", () => oursReplay(same)],
        ["new key: Ledger.execute()", () => oursNew(fresh())],
        [
          "replay, key not seen: JS only (instant stand-in client)",
          () => jsReplayUnseen.execute({ tool: "t", args: same, submit: work }),
        ],
        [
          "replay, key seen: JS only (instant stand-in client)",
          () => jsReplaySeen.execute({ tool: "t", args: same, submit: work }),
        ],
        [
          "new key: JS only (instant stand-in client)",
          () => jsNew.execute({ tool: "t", args: same, submit: work }),
        ],
      ];
      // The same JS-only calls, each timed alone right after an untimed GET: what the JS costs when, as
      // in a real call, a reply wakes it after an idle wait (on the VMs measured here, about twice its
      // cost back to back).
      layers.push(
        ...layers
          .filter(([label]) => label.includes("JS only"))
          .map(
            ([label, fn]): Layer => [
              label.replace(" (instant stand-in client)", ", each call right after a Redis reply"),
              fn,
              () => oursClient.get("bench-nope"),
            ],
          ),
      );
      const layerUs = new Map<string, number[]>();
      for (let r = 0; r < 3; r++) {
        for (const [label, fn, before] of layers) {
          let us = 0;
          for (let i = 0; i < batchCalls; i++) {
            await before?.();
            const start = performance.now();
            await fn();
            us += (performance.now() - start) * 1000;
          }
          layerUs.set(label, [...(layerUs.get(label) ?? []), us / batchCalls]);
        }
      }
      const bytes = (values: unknown[] | undefined) =>
        (values ?? []).reduce<number>((sum, v) => sum + Buffer.byteLength(String(v)), 0);
      breakdown = {
        note: "µs per call, median of 3 interleaved batches. The key-not-seen replay lines each add one layer to the one before (SET NX GET alone -> + RedisLedgerStore JS -> + executor); a seen key's claim is a GET (compare the plain GET); the JS-only lines have no I/O at all, and the same calls timed each right after an untimed GET show what that JS costs when a reply wakes it, as in a real call",
        layersUs: Object.fromEntries([...layerUs].map(([label, v]) => [label, round1(median(v))])),
        replayClaim: {
          argumentBytes: bytes(claimArgs),
          replyBytes: bytes([replies["claim:existing"]]),
        },
      };
    }

    // --- 50 concurrent duplicates of one key; the function takes 50 ms ----------------------------
    interface Run {
      count: number;
      byCaller: Map<number, number>;
    }
    /** The function: records which caller ran it and which execution this is; returns that in its result. */
    const slowWork = async (args: Args, runs: Run, caller: number) => {
      const execution = ++runs.count;
      runs.byCaller.set(caller, execution);
      await sleep(SLOW_FN_MS);
      return { id: `inv_${args.n}`, customer: args.customer, amountCents: args.amountCents, execution };
    };
    const outcomeOf = (
      settled: PromiseSettledResult<unknown>,
      caller: number,
      runs: Run,
      unwrap: (v: unknown) => unknown,
    ) => {
      if (settled.status === "rejected") {
        const e = settled.reason as { name?: string; code?: string; message?: string };
        return `error ${e.name ?? "?"}${e.code ? ` [${e.code}]` : ""}`;
      }
      const execution = (unwrap(settled.value) as { execution?: number } | undefined)?.execution;
      const own = runs.byCaller.get(caller);
      if (own !== undefined) return `ran the function itself (execution #${own})`;
      return execution === 1 ? "got execution #1's result" : `got execution #${execution}'s result`;
    };
    type Caller = (args: Args, caller: number) => Promise<unknown>;
    const duplicateTrials = async (
      name: string,
      makeCaller: (runs: Run, trial: number) => Caller,
      unwrap: (v: unknown) => unknown,
    ) => {
      const executionsPerTrial: number[] = [];
      const outcomes: Record<string, number> = {};
      for (let trial = 0; trial < TRIALS; trial++) {
        const runs: Run = { count: 0, byCaller: new Map() };
        const call = makeCaller(runs, trial);
        const args: Args = { customer: `cus_dup_${name}`, amountCents: 4200, n: 1_000_000 + trial }; // fresh key per trial
        const settled = await Promise.allSettled(Array.from({ length: DUPLICATES }, (_, i) => call(args, i)));
        executionsPerTrial.push(runs.count);
        settled.forEach((s, i) => {
          const outcome = outcomeOf(s, i, runs, unwrap);
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        });
      }
      return { maxExecutionsPerTrial: Math.max(...executionsPerTrial), executionsPerTrial, outcomes };
    };
    await admin.flushdb("SYNC");
    // Powertools hashes only the first argument (the payload); the caller index rides along as the second.
    const powertoolsCaller =
      (client: typeof powertoolsClient, withContext: boolean) => (runs: Run, trial: number) =>
        powertools(
          client,
          `bench-dup-${withContext ? "ptctx" : "pt"}-${trial}`,
          (a: Args, caller: number) => slowWork(a, runs, caller),
          withContext,
        );
    const dupPowertools = await duplicateTrials("pt", powertoolsCaller(powertoolsClient, false), (v) => v);
    const dupPowertoolsCtx = await duplicateTrials(
      "ptctx",
      powertoolsCaller(powertoolsCtxClient, true),
      (v) => v,
    );
    const ledgerCaller = (ledger: Ledger) => (runs: Run) => (args: Args, caller: number) =>
      ledger.execute({ tool: "slow_invoice", args, submit: (a: Args) => slowWork(a, runs, caller) });
    const unwrapExecution = (v: unknown) => (v as { result: unknown }).result;
    const dupOurs = await duplicateTrials("ours", ledgerCaller(ours), unwrapExecution);
    const dupOursBackground = await duplicateTrials(
      "oursBackground",
      ledgerCaller(oursBackground),
      unwrapExecution,
    );
    await oursBackground.flush();
    const dupSqlite = await duplicateTrials("sqlite", ledgerCaller(sqlite), unwrapExecution);
    console.warn = originalWarn;

    // --- results ---------------------------------------------------------------------------------
    const stat = (name: string, kind: Kind, what: keyof BatchStats = "callsPerSecond") => {
      const values = (samples.get(name) as Record<Kind, Samples>)[kind][what];
      return values.length === 0 ? Number.NaN : median(values);
    };
    const cps = (name: string, kind: Kind) => stat(name, kind);
    const ratio = (a: string, b: string, kind: Kind) => round2(cps(a, kind) / cps(b, kind));
    const figures = (kind: Kind) => ({
      ours: round0(cps("ours", kind)),
      oursBackgroundConfirmation: round0(cps("oursBackgroundConfirmation", kind)),
      oursKeyNotSeen: round0(cps("oursKeyNotSeen", kind)),
      powertools: round0(cps("powertools", kind)),
      floor: round0(cps("floor", kind)),
      powertoolsWithContext: round0(cps("powertoolsWithContext", kind)),
      floorNodeRedis: round0(cps("floorNodeRedis", kind)),
    });
    const ratios = (kind: Kind) => ({
      oursOverPowertools: ratio("ours", "powertools", kind),
      oursOverPowertoolsWithContext: ratio("ours", "powertoolsWithContext", kind),
      oursOverFloor: ratio("ours", "floor", kind),
      oursBackgroundConfirmationOverPowertools: ratio("oursBackgroundConfirmation", "powertools", kind),
      oursBackgroundConfirmationOverFloor: ratio("oursBackgroundConfirmation", "floor", kind),
      oursKeyNotSeenOverPowertools: ratio("oursKeyNotSeen", "powertools", kind),
      oursKeyNotSeenOverFloor: ratio("oursKeyNotSeen", "floor", kind),
      powertoolsOverFloor: ratio("powertools", "floor", kind),
    });
    const fastestPowertools = (kind: Kind) =>
      Math.max(cps("powertools", kind), cps("powertoolsWithContext", kind));
    const targets = {
      newKeyAtLeast0_9xFloor: {
        oursOverFloor: ratio("ours", "floor", "newKey"),
        met: cps("ours", "newKey") >= 0.9 * cps("floor", "newKey"),
        backgroundConfirmation: {
          oursOverFloor: ratio("oursBackgroundConfirmation", "floor", "newKey"),
          met: cps("oursBackgroundConfirmation", "newKey") >= 0.9 * cps("floor", "newKey"),
        },
      },
      newKeyFasterThanPowertools: {
        oursOverFasterPowertools: round2(cps("ours", "newKey") / fastestPowertools("newKey")),
        met: cps("ours", "newKey") > fastestPowertools("newKey"),
        backgroundConfirmation: {
          oursOverFasterPowertools: round2(
            cps("oursBackgroundConfirmation", "newKey") / fastestPowertools("newKey"),
          ),
          met: cps("oursBackgroundConfirmation", "newKey") > fastestPowertools("newKey"),
        },
      },
      replayAtLeast1_8xPowertools: {
        oursOverFasterPowertools: round2(cps("ours", "replay") / fastestPowertools("replay")),
        met: cps("ours", "replay") >= 1.8 * fastestPowertools("replay"),
        keyNotSeenByTheProcess: {
          oursOverFasterPowertools: round2(cps("oursKeyNotSeen", "replay") / fastestPowertools("replay")),
          met: cps("oursKeyNotSeen", "replay") >= 1.8 * fastestPowertools("replay"),
        },
      },
      concurrentDuplicatesExactlyOnce: {
        executionsPerTrial: dupOurs.executionsPerTrial,
        met: dupOurs.executionsPerTrial.every((n) => n === 1),
        backgroundConfirmation: {
          executionsPerTrial: dupOursBackground.executionsPerTrial,
          met: dupOursBackground.executionsPerTrial.every((n) => n === 1),
        },
      },
    };
    const wire = (kind: Kind) =>
      Object.fromEntries(
        contenders
          .filter((c) => c.usesRedis)
          .map((c) => [
            c.name,
            {
              bytesToRedis: round0(stat(c.name, kind, "bytesInPerCall")),
              bytesFromRedis: round0(stat(c.name, kind, "bytesOutPerCall")),
              redisServerUs: round1(stat(c.name, kind, "redisUsPerCall")),
            },
          ]),
      );
    const result = {
      benchmark:
        "sequential calls of a trivial function on one local redis-server: durable-tools (RedisLedgerStore) vs @aws-lambda-powertools/idempotency (CachePersistenceLayer) vs bare SET NX + GET",
      date: new Date().toISOString(),
      units:
        "newKey/replay: calls per second, median over rounds; concurrentDuplicates: most executions of the function in one trial",
      newKey: figures("newKey"),
      replay: figures("replay"),
      concurrentDuplicates: {
        ours: dupOurs.maxExecutionsPerTrial,
        oursBackgroundConfirmation: dupOursBackground.maxExecutionsPerTrial,
        powertools: dupPowertools.maxExecutionsPerTrial,
        powertoolsWithContext: dupPowertoolsCtx.maxExecutionsPerTrial,
      },
      ratios: { newKey: ratios("newKey"), replay: ratios("replay") },
      targets,
      sqlite: {
        note: "durable-tools on SqliteLedgerStore (temp file, WAL, synchronous=FULL: one fsync per commit, two commits per new key): beside the Redis figures, not compared with them",
        newKey: round0(cps("sqlite", "newKey")),
        replay: round0(cps("sqlite", "replay")),
        newKeyCallsPerRound: SQLITE_NEW_KEY_CALLS,
        concurrentDuplicates: dupSqlite.maxExecutionsPerTrial,
      },
      concurrentDuplicateDetails: {
        callers: DUPLICATES,
        functionMs: SLOW_FN_MS,
        trials: TRIALS,
        howCounted:
          "executions: a counter incremented inside the function; outcomes: per caller, over all trials (the function records which caller ran it)",
        ours: dupOurs,
        oursBackgroundConfirmation: dupOursBackground,
        powertools: dupPowertools,
        powertoolsWithContext: dupPowertoolsCtx,
        sqlite: dupSqlite,
      },
      perCallOnTheWire: {
        note: "medians over rounds, per call",
        newKey: wire("newKey"),
        replay: wire("replay"),
      },
      memoryPerNewKey: {
        note: "bytes Redis holds per new-key operation after the last round (MEMORY USAGE ... SAMPLES 0 of every key the batch left, divided by the calls): ours is the record plus the operation's event stream",
        ...memoryPerNewKey,
        streamNodeMaxBytes,
      },
      persistenceCheck: {
        expectedPerNewKeyBatch: CALLS,
        keysInRedisAfterLastRound: keysAfterLastRound,
        powertoolsReplayRecord,
        powertoolsMissingContextWarningsSilenced: powertoolsWarnings,
      },
      breakdown,
      config: {
        rounds: ROUNDS,
        warmupRounds: WARMUP_ROUNDS,
        callsPerBatch: CALLS,
        invoiceLinesPerCall: LINES,
        argumentsJsonBytes: Buffer.byteLength(
          JSON.stringify(withLines({ customer: "cus_1", amountCents: 100, n: 0 })),
        ),
        throughputPhaseSeconds: round1(throughputSeconds),
        perRound:
          "FLUSHDB, replay payloads recorded again, then per contender (order rotated each round) a batch of new keys and a batch of replays; each call's function execution is counted and checked",
        floor:
          "ioredis: SET key value PX 60000 NX, then GET key (2 round trips); floorNodeRedis: the same with @redis/client",
        ours: "new Ledger({ store: new RedisLedgerStore(ioredis, { prefix: 'bench-dt' }) }) with defaults (lease 30 s, waitTimeoutMs 10 s, records kept 7 days, persistEvents state_changes); ledger.execute({ tool, args, submit }), key derived from the arguments",
        oursBackgroundConfirmation:
          "the same with confirmation: 'background' (prefix 'bench-dtb', its own ioredis client): each call returns after its claim and submit, its CONFIRMED record written on the next turn of the event loop; each batch's time includes the ledger.flush() that waits for the last of them",
        oursKeyNotSeen:
          "the same with rememberKeys: 0 (prefix 'bench-dtu'): every claim is a SET NX GET with a whole new record, as from a process that has not seen the key (a replay after a crash, or on another worker); with the default (ours), a process claims a key it has seen with a GET",
        powertools: {
          version: versionOf("@aws-lambda-powertools/idempotency"),
          api: "makeIdempotent(fn, { persistenceStore: new CachePersistenceLayer({ client }), config: new IdempotencyConfig({}), keyPrefix })",
          client: "@redis/client createClient({ url }) then connect(); one client per configuration",
          keyPrefix: "one per wrapped function (bench-pt-new, bench-pt-replay, ...)",
          idempotencyConfig:
            "defaults: the whole first argument hashed (no eventKeyJmesPath), hashFunction md5, expiresAfterSeconds 3600, useLocalCache false, no payloadValidationJmesPath, throwOnNoIdempotencyKey false",
          persistenceLayer: "one CachePersistenceLayer per wrapped function, default attribute names",
          lambdaContext: {
            powertools:
              "none (outside Lambda there is none); its per-call 'Could not determine remaining time left' console.warn is counted and silenced",
            powertoolsWithContext: `config.registerLambdaContext({ getRemainingTimeInMillis: () => ${POWERTOOLS_STAND_IN_REMAINING_MS} }) as a stand-in, so in-progress records get in_progress_expiration`,
          },
        },
      },
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        memoryGiB: round1(totalmem() / 2 ** 30),
        os: `${process.platform} ${release()}`,
        node: process.version,
        redisServer: redisVersion,
        ioredis: versionOf("ioredis"),
        redisClient: versionOf("@redis/client"),
        powertoolsIdempotency: versionOf("@aws-lambda-powertools/idempotency"),
      },
    };
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeFileSync(
      new URL(`./results/${RESULT_FILE}`, import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );

    // --- print ------------------------------------------------------------------------------------
    console.log(
      `\nRedis idempotency, ${ROUNDS} rounds x ${CALLS} sequential calls (+${WARMUP_ROUNDS} warm-up), medians ` +
        `(Node ${process.version}, redis-server ${redisVersion}, ${cpus().length} cores, ${throughputSeconds.toFixed(0)} s)`,
    );
    const wireCell = (name: string, kind: Kind) => {
      const inB = stat(name, kind, "bytesInPerCall");
      return Number.isNaN(inB)
        ? "-"
        : `${round0(inB)}/${round0(stat(name, kind, "bytesOutPerCall"))} B, ${round1(stat(name, kind, "redisUsPerCall"))} µs`;
    };
    console.table(
      Object.fromEntries(
        contenders.map((c) => [
          c.label,
          {
            "new keys/s": round0(cps(c.name, "newKey")),
            "new vs floor": ratio(c.name, "floor", "newKey"),
            "replays/s": round0(cps(c.name, "replay")),
            "replay vs floor": ratio(c.name, "floor", "replay"),
            "new: wire in/out, redis time": wireCell(c.name, "newKey"),
            "replay: wire in/out, redis time": wireCell(c.name, "replay"),
          },
        ]),
      ),
    );
    console.log(
      "* SQLite: a temp file (fsync per commit), shown for scale, not compared with Redis. Floor replays still run the function (SET NX + GET).",
    );
    console.table({
      "ours / Powertools (no context)": {
        "new keys": ratio("ours", "powertools", "newKey"),
        replays: ratio("ours", "powertools", "replay"),
      },
      "ours / Powertools (stand-in context)": {
        "new keys": ratio("ours", "powertoolsWithContext", "newKey"),
        replays: ratio("ours", "powertoolsWithContext", "replay"),
      },
      "ours / floor": {
        "new keys": ratio("ours", "floor", "newKey"),
        replays: ratio("ours", "floor", "replay"),
      },
      "ours, confirmation background / Powertools (no context)": {
        "new keys": ratio("oursBackgroundConfirmation", "powertools", "newKey"),
        replays: ratio("oursBackgroundConfirmation", "powertools", "replay"),
      },
      "ours, confirmation background / floor": {
        "new keys": ratio("oursBackgroundConfirmation", "floor", "newKey"),
        replays: ratio("oursBackgroundConfirmation", "floor", "replay"),
      },
      "ours, keys not seen / Powertools (no context)": {
        "new keys": ratio("oursKeyNotSeen", "powertools", "newKey"),
        replays: ratio("oursKeyNotSeen", "powertools", "replay"),
      },
      "ours, keys not seen / Powertools (stand-in context)": {
        "new keys": ratio("oursKeyNotSeen", "powertoolsWithContext", "newKey"),
        replays: ratio("oursKeyNotSeen", "powertoolsWithContext", "replay"),
      },
    });
    console.log(
      `\n${DUPLICATES} concurrent duplicate calls of one key (fresh per trial), function takes ${SLOW_FN_MS} ms, ${TRIALS} trials:`,
    );
    const dupRow = (d: typeof dupOurs) => ({
      "executions per trial": d.executionsPerTrial.join(" "),
      max: d.maxExecutionsPerTrial,
      [`what the ${DUPLICATES * TRIALS} callers got`]: Object.entries(d.outcomes)
        .map(([k, v]) => `${v}x ${k}`)
        .join("; "),
    });
    console.table({
      "Powertools (no context)": dupRow(dupPowertools),
      "Powertools (stand-in context)": dupRow(dupPowertoolsCtx),
      "durable-tools Redis": dupRow(dupOurs),
      "durable-tools Redis, confirmation background": dupRow(dupOursBackground),
      "durable-tools SQLite": dupRow(dupSqlite),
    });
    if (breakdown) {
      console.log(
        "\nWhere a durable-tools Redis call's time goes (µs per call; the key-not-seen replay lines add one layer each):",
      );
      console.table(breakdown.layersUs);
      console.log("replay claim of a key not seen (SET NX GET):", breakdown.replayClaim);
    }
    console.log("\nRedis keys after the last round:", keysAfterLastRound);
    console.log("\nBytes in Redis per new-key operation (MEMORY USAGE, last round):", memoryPerNewKey);
    console.log(
      "durable-tools new keys by the server's stream-node-max-bytes (bytes per operation, µs per call):",
      streamNodeMaxBytes.setting,
    );
    console.log("\nTargets:");
    for (const [name, t] of Object.entries(targets)) console.log(`  ${name}: ${JSON.stringify(t)}`);
    console.log(`written to bench/results/${RESULT_FILE}`);
  } finally {
    console.warn = originalWarn;
    await sqliteStore?.close();
    await Promise.allSettled([
      floorClient.quit(),
      oursClient.quit(),
      oursUnseenClient.quit(),
      oursBackgroundClient.quit(),
      admin.quit(),
      nodeRedis.isOpen ? nodeRedis.close() : Promise.resolve(),
      powertoolsClient.isOpen ? powertoolsClient.close() : Promise.resolve(),
      powertoolsCtxClient.isOpen ? powertoolsCtxClient.close() : Promise.resolve(),
    ]);
    await server.stop();
    rmSync(sqliteDir, { recursive: true, force: true });
  }
}

await main();
