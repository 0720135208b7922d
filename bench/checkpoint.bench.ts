/**
 * `pnpm bench:checkpoint`: what a checkpointer costs a LangGraph run, and what DurableCheckpointer adds
 * on top, side by side in one run. A 10-node linear StateGraph (n1 -> ... -> n10, each node adds 1 to a
 * counter and appends a short string) is invoked on a fresh thread per run, under MemorySaver,
 * SqliteSaver (a temp file) and our RedisSaver (a local redis-server this script starts and stops), each
 * bare and wrapped by DurableCheckpointer, under durability "async" and "sync": 12 contenders, each with
 * its own saver and its own graph compiled once. Each round is RUNS slots of one run per contender, in
 * an order shuffled per slot (the machine is shared: load changes hit all contenders alike); the figure
 * is the median over rounds of each round's median ms per run. Every run is checked: the final state, and
 * the thread's latest checkpoint read back afterwards.
 * After each round the round's threads are deleted (outside the timing), so every round starts on the
 * same store size.
 *
 * Then a short diagnostic on Redis alone: bare, wrapped, and wrapped with optimisticConcurrency: false.
 *
 * Then fan-out (bench/fan-out.ts): 5,000 single-write tasks on one checkpoint, per saver.
 *
 * Env: BENCH_ROUNDS (10), BENCH_RUNS (60), BENCH_WARMUP (2), BENCH_DIAGNOSTIC_ROUNDS (5; 0 skips it),
 * BENCH_FAN_OUT_PASSES (3; 0 skips it).
 */
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { DurableCheckpointer } from "@durable-tools/langgraph";
import { RedisSaver } from "@durable-tools/redis/saver";
import { Annotation, StateGraph } from "@langchain/langgraph";
import {
  type BaseCheckpointSaver,
  type Checkpoint,
  type CheckpointMetadata,
  MemorySaver,
} from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "../test/support/redis-server.js";
import { measureChannelDeltas } from "./channel-deltas.js";
import { FAN_OUT, measureFanOut } from "./fan-out.js";
import { chainInOrder, checkpointerOver } from "./graph-kit.js";
import { PipelinedPutsSaver } from "./pipelined-puts-saver.js";
import { bytesPerOperation } from "./redis-keys.js";
import { RoundTripFloorSaver } from "./round-trip-floor-saver.js";
import { measureSaverCalls } from "./saver-calls.js";
import { median, round0, round1, round2, round3, seededRandom, shuffled } from "./stats.js";
import { versionOf } from "./versions.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const WARMUP_ROUNDS = Number(process.env.BENCH_WARMUP ?? 2);
const DIAGNOSTIC_ROUNDS = Number(process.env.BENCH_DIAGNOSTIC_ROUNDS ?? 5);
/** Rounds of the variant whose nodes each wait NODE_WAIT_MS, as nodes that call a model or an API do. */
const WAITING_ROUNDS = Number(process.env.BENCH_WAITING_ROUNDS ?? 3);
const NODE_WAIT_MS = 1;
const FAN_OUT_PASSES = Number(process.env.BENCH_FAN_OUT_PASSES ?? 3);
const NODES = 10;
/** Checkpoints a run of the linear graph saves on a fresh thread: the input (step -1), step 0, one per node. */
const CHECKPOINTS_PER_RUN = NODES + 2;
const WRAPPER_TARGET = 1.15;
const REDIS_OVER_SQLITE_TARGET = 1.0;

// --- the graph -------------------------------------------------------------------------------------

const State = Annotation.Root({
  counter: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  trail: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});
type StateValue = typeof State.State;

/**
 * n1 -> n2 -> ... -> n10; `onNode` (the durability probe) is told when each node starts; with
 * `waitMs`, each node first waits that long on a timer.
 */
function linearGraph(onNode?: () => void, waitMs = 0) {
  const graph = new StateGraph(State);
  const names = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
  for (const name of names) {
    graph.addNode(name, async () => {
      onNode?.();
      if (waitMs > 0) await sleep(waitMs);
      return { counter: 1, trail: [name] };
    });
  }
  chainInOrder(graph, names);
  return graph;
}
const EXPECTED_TRAIL = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);

// --- helpers -----------------------------------------------------------------------------------------

/**
 * Which source was measured: HEAD, the uncommitted files under packages/ and a hash of their contents
 * (read-only git). Taken when the bench starts (tsx has loaded the code by then) and again at the end.
 */
function sourceState(): { commit: string; uncommittedUnderPackages: string[]; uncommittedSha256: string } {
  const root = new URL("..", import.meta.url);
  const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" });
  try {
    const files = git("status", "--porcelain", "--untracked-files=all", "--", "packages")
      .split("\n")
      .filter((line) => line !== "");
    const hash = createHash("sha256").update(git("diff", "HEAD", "--", "packages"));
    for (const line of files.filter((f) => f.startsWith("??"))) {
      hash.update(readFileSync(new URL(line.slice(3), root)));
    }
    return {
      commit: git("rev-parse", "HEAD").trim(),
      uncommittedUnderPackages: files,
      uncommittedSha256: files.length === 0 ? "" : hash.digest("hex"),
    };
  } catch {
    return { commit: "unknown", uncommittedUnderPackages: [], uncommittedSha256: "" };
  }
}
const SOURCE_AT_START = sourceState();
const LOAD_AT_START = loadavg().map(round2);

type SaverName = "memory" | "sqlite" | "redis";
type Wrapping = "bare" | "wrapped";
type Durability = "async" | "sync";
const SAVERS: SaverName[] = ["memory", "sqlite", "redis"];
const WRAPPINGS: Wrapping[] = ["bare", "wrapped"];
const DURABILITIES: Durability[] = ["async", "sync"];
const SAVER_LABEL: Record<SaverName, string> = {
  memory: "MemorySaver",
  sqlite: "SqliteSaver (file)",
  redis: "RedisSaver",
};

interface Contender {
  name: string;
  saver: SaverName;
  wrapping: Wrapping;
  durability: Durability;
  checkpointer: BaseCheckpointSaver;
  /** The saver underneath (itself when bare): where threads are deleted. */
  storage: BaseCheckpointSaver;
  graph: ReturnType<ReturnType<typeof linearGraph>["compile"]>;
  /** Per timed round: the median ms of the round's runs. */
  samples: number[];
  /** Per timed round: the mean ms of the round's runs. */
  means: number[];
  threads: string[];
  /** Awaited inside the timing after the invoke (the pipelined-puts diagnostic's acknowledgements). */
  settle?: () => Promise<void>;
}

/** Runs one fresh thread; returns the ms the invoke took. Checks the final state (outside the timing). */
async function runOnce(c: Contender): Promise<number> {
  const threadId = randomUUID();
  c.threads.push(threadId);
  const start = performance.now();
  const out = (await c.graph.invoke(
    { counter: 0, trail: [] },
    { configurable: { thread_id: threadId }, durability: c.durability },
  )) as StateValue;
  await c.settle?.();
  const ms = performance.now() - start;
  if (out.counter !== NODES || out.trail.join() !== EXPECTED_TRAIL.join()) {
    throw new Error(`${c.name}: final state ${JSON.stringify(out)}, expected counter ${NODES}`);
  }
  const tuple = await c.checkpointer.getTuple({ configurable: { thread_id: threadId } });
  const values = tuple?.checkpoint.channel_values as Partial<StateValue> | undefined;
  if (tuple === undefined || values?.counter !== NODES || tuple.metadata?.step !== NODES) {
    throw new Error(
      `${c.name}: getTuple after the run returned ${
        tuple === undefined
          ? "no checkpoint"
          : `step ${tuple.metadata?.step}, counter ${values?.counter} (expected step ${NODES}, counter ${NODES})`
      }`,
    );
  }
  return ms;
}

/** Counts the checkpoints of a thread (list()); every intermediate checkpoint must have been saved. */
async function checkpointCount(c: Contender, threadId: string): Promise<number> {
  let n = 0;
  for await (const _ of c.checkpointer.list({ configurable: { thread_id: threadId } })) n++;
  return n;
}

/**
 * When the puts of one "async" run over the round-trip floor are acknowledged, for instant nodes and
 * for nodes that wait NODE_WAIT_MS: how many of its puts settle after its last node has started, and
 * the ms from that node's start to the end of the run (the median of 20 runs each).
 */
async function putTimeline(
  client: Redis,
): Promise<Record<string, { putsSettledAfterLastNode: number; msAfterLastNode: number }>> {
  class TimedFloorSaver extends RoundTripFloorSaver {
    settled: number[] = [];
    override async put(...args: Parameters<RoundTripFloorSaver["put"]>) {
      const config = await super.put(...args);
      this.settled.push(performance.now());
      return config;
    }
  }
  const result: Record<string, { putsSettledAfterLastNode: number; msAfterLastNode: number }> = {};
  for (const waitMs of [0, NODE_WAIT_MS]) {
    const after: number[] = [];
    const tail: number[] = [];
    for (let i = 0; i < 22; i++) {
      const saver = new TimedFloorSaver(client);
      let lastNodeAt = 0;
      const graph = linearGraph(() => {
        lastNodeAt = performance.now();
      }, waitMs).compile({ checkpointer: saver });
      await graph.invoke(
        { counter: 0, trail: [] },
        { configurable: { thread_id: randomUUID() }, durability: "async" },
      );
      if (i < 2) continue; // warm-up
      after.push(saver.settled.filter((t) => t > lastNodeAt).length);
      tail.push(performance.now() - lastNodeAt);
    }
    result[waitMs === 0 ? "instantNodes" : `nodesThatWait${waitMs}ms`] = {
      putsSettledAfterLastNode: median(after),
      msAfterLastNode: round3(median(tail)),
    };
  }
  return result;
}

/**
 * Confirms that LangGraph honours `durability`: a MemorySaver whose put takes 3 ms, and nodes that note
 * whether a put is still in flight when they start. "sync" must never overlap a node with a put;
 * "async" should (the next step runs while the checkpoint is saved).
 */
async function durabilityProbe(): Promise<Record<Durability, { nodesStartedDuringAPut: number }>> {
  class SlowMemorySaver extends MemorySaver {
    inFlight = 0;
    override async put(
      config: Parameters<MemorySaver["put"]>[0],
      checkpoint: Checkpoint,
      metadata: CheckpointMetadata,
    ) {
      this.inFlight++;
      try {
        await sleep(3);
        return await super.put(config, checkpoint, metadata);
      } finally {
        this.inFlight--;
      }
    }
  }
  const result = {} as Record<Durability, { nodesStartedDuringAPut: number }>;
  for (const durability of DURABILITIES) {
    const saver = new SlowMemorySaver();
    let overlapped = 0;
    const graph = linearGraph(() => {
      if (saver.inFlight > 0) overlapped++;
    }).compile({ checkpointer: saver });
    for (let i = 0; i < 3; i++) {
      await graph.invoke(
        { counter: 0, trail: [] },
        { configurable: { thread_id: randomUUID() }, durability },
      );
    }
    result[durability] = { nodesStartedDuringAPut: overlapped };
  }
  if (result.sync.nodesStartedDuringAPut !== 0) {
    throw new Error(
      `durability "sync" is not honoured: ${result.sync.nodesStartedDuringAPut} nodes overlapped a put`,
    );
  }
  if (result.async.nodesStartedDuringAPut === 0) {
    throw new Error('durability "async" never overlapped a node with a put: the option looks ignored');
  }
  return result;
}

/**
 * Saver calls per run, bare vs wrapped (a separate untimed pass on fresh instances, methods counted on
 * the saver underneath), and how many puts reached it while a putWrites was still in flight (overlap).
 */
async function callsPerRun(
  makeSaver: () => BaseCheckpointSaver,
  durability: Durability,
): Promise<Record<Wrapping, Record<string, number>>> {
  const out = {} as Record<Wrapping, Record<string, number>>;
  const runs = 5;
  for (const wrapping of WRAPPINGS) {
    const saver = makeSaver();
    const counts: Record<string, number> = {};
    let writesInFlight = 0;
    let overlapping = 0;
    const target = saver as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const method of ["put", "putIfLatest", "putWrites", "getTuple", "latestCheckpointId"]) {
      const original = target[method];
      if (typeof original !== "function") continue;
      counts[method] = 0;
      target[method] = function (this: unknown, ...a: unknown[]) {
        counts[method] = (counts[method] ?? 0) + 1;
        if ((method === "put" || method === "putIfLatest") && writesInFlight > 0) overlapping++;
        const result = original.apply(this, a);
        if (method === "putWrites") {
          writesInFlight++;
          void Promise.resolve(result).finally(() => writesInFlight--);
        }
        return result;
      };
    }
    const checkpointer =
      wrapping === "bare"
        ? saver
        : new DurableCheckpointer({ saver, ledger: new Ledger({ store: new MemoryLedgerStore() }) });
    const graph = linearGraph().compile({ checkpointer });
    for (let i = 0; i < runs; i++) {
      await graph.invoke(
        { counter: 0, trail: [] },
        { configurable: { thread_id: randomUUID() }, durability },
      );
    }
    counts.putWhilePutWritesInFlight = overlapping;
    out[wrapping] = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / runs]));
  }
  return out;
}

/**
 * `rounds` timed rounds (after `warmup` untimed ones). A round is RUNS slots; in each slot every
 * contender does one run on a fresh thread, in an order shuffled per slot (seeded), so that every
 * contender meets the same machine load (the machine is shared) and none always follows the same one.
 * A contender's sample for the round is the median of its runs' ms (a run that the shared machine
 * preempts does not move it; the round's mean is kept too). Every run is checked; each contender's first
 * thread of the round must hold every checkpoint of its run. Then the round's threads are deleted
 * (untimed), so every round starts on the same store size.
 */
async function timeRounds(contenders: Contender[], rounds: number, warmup: number, label: string) {
  const random = seededRandom(0xc0ffee + contenders.length);
  for (let round = 0; round < warmup + rounds; round++) {
    const keep = round >= warmup;
    const times = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const c of shuffled(contenders, random)) (times.get(c) as number[]).push(await runOnce(c));
    }
    for (const c of contenders) {
      const ms = times.get(c) as number[];
      if (keep) {
        c.samples.push(median(ms));
        c.means.push(ms.reduce((a, b) => a + b, 0) / ms.length);
      }
      const count = await checkpointCount(c, c.threads[0] as string);
      if (count !== CHECKPOINTS_PER_RUN) {
        throw new Error(`${c.name}: a run saved ${count} checkpoints, expected ${CHECKPOINTS_PER_RUN}`);
      }
      for (const threadId of c.threads) await c.storage.deleteThread(threadId);
      c.threads = [];
    }
    process.stdout.write(`${label}round ${round + 1}/${warmup + rounds}${keep ? "" : " (warm-up)"}\n`);
  }
}

/** Commands the ioredis client sends (one round trip each; a script is one EVALSHA), counted on the client. */
function countSentCommands(client: Redis): { counts: Record<string, number>; stop: () => void } {
  const counts: Record<string, number> = {};
  const patched = client as unknown as {
    sendCommand: (command: { name: string }, ...rest: unknown[]) => unknown;
  };
  const original = patched.sendCommand;
  patched.sendCommand = function (this: unknown, command, ...rest) {
    counts[command.name] = (counts[command.name] ?? 0) + 1;
    return original.call(this, command, ...rest);
  };
  const stop = () => {
    patched.sendCommand = original;
  };
  return { counts, stop };
}

// --- main ----------------------------------------------------------------------------------------

async function main() {
  const server: RedisServer = await startRedisServer();
  const sqliteDir = mkdtempSync(join(tmpdir(), "durable-tools-bench-checkpoint-"));
  const client = new Redis(server.url);
  const admin = new Redis(server.url);
  const sqliteSavers: SqliteSaver[] = [];
  try {
    const redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "unknown";
    const probe = await durabilityProbe();

    let files = 0;
    const makeSaver = (saver: SaverName, tag: string): BaseCheckpointSaver => {
      if (saver === "memory") return new MemorySaver();
      if (saver === "sqlite") {
        const s = SqliteSaver.fromConnString(join(sqliteDir, `${tag}-${files++}.db`));
        sqliteSavers.push(s);
        return s;
      }
      return new RedisSaver(client, { prefix: `bench-cp-${tag}` });
    };

    /** A contender running `checkpointer` (over `storage`, where its threads are deleted). */
    const contenderOver = (
      name: string,
      shape: Pick<Contender, "saver" | "wrapping" | "durability">,
      checkpointer: BaseCheckpointSaver,
      storage: BaseCheckpointSaver,
      nodeWaitMs = 0,
    ): Contender => ({
      name,
      ...shape,
      checkpointer,
      storage,
      graph: linearGraph(undefined, nodeWaitMs).compile({ checkpointer }),
      samples: [],
      means: [],
      threads: [],
    });
    const contender = (
      saver: SaverName,
      wrapping: Wrapping,
      durability: Durability,
      optimisticConcurrency = true,
      nodeWaitMs = 0,
    ): Contender => {
      const variant = optimisticConcurrency ? wrapping : `${wrapping}-no-check`;
      const storage = makeSaver(saver, `${variant}-${durability}`);
      const checkpointer = checkpointerOver(storage, wrapping, optimisticConcurrency);
      const name = `${saver}/${variant}/${durability}${nodeWaitMs > 0 ? "/waits" : ""}`;
      return contenderOver(name, { saver, wrapping, durability }, checkpointer, storage, nodeWaitMs);
    };
    /** MemorySaver plus one PING round trip per call, timed like a bare saver. */
    const floorContender = (durability: Durability, nodeWaitMs = 0): Contender => {
      const storage = new RoundTripFloorSaver(client);
      const name = `floor/bare/${durability}${nodeWaitMs > 0 ? "/waits" : ""}`;
      const shape = { saver: "memory", wrapping: "bare", durability } as const;
      return contenderOver(name, shape, storage, storage, nodeWaitMs);
    };
    /** RedisSaver as if LangGraph pipelined its puts ("async" only; see pipelined-puts-saver.ts). */
    const pipelinedContender = (): Contender => {
      const storage = new PipelinedPutsSaver(client, { prefix: "bench-cp-pipelined" });
      const shape = { saver: "redis", wrapping: "bare", durability: "async" } as const;
      return {
        ...contenderOver("redis-pipelined-puts/bare/async", shape, storage, storage),
        settle: () => storage.settle(),
      };
    };
    const contenders = SAVERS.flatMap((s) =>
      WRAPPINGS.flatMap((w) => DURABILITIES.map((d) => contender(s, w, d))),
    );

    // SQLite as SqliteSaver sets it up (journal_mode=WAL; synchronous left at better-sqlite3's default).
    const firstSqlite = sqliteSavers[0] as SqliteSaver;
    await firstSqlite.getTuple({ configurable: { thread_id: "bench-setup" } }); // runs its setup()
    const sqlitePragmas = {
      journal_mode: String(firstSqlite.db.pragma("journal_mode", { simple: true })),
      synchronous: Number(firstSqlite.db.pragma("synchronous", { simple: true })),
    };

    const benchStart = performance.now();
    await timeRounds(contenders, ROUNDS, WARMUP_ROUNDS, "");
    const benchSeconds = (performance.now() - benchStart) / 1000;

    // --- diagnostic on Redis: the wrapper with optimisticConcurrency: false (no stale-parent check) ---
    // Tells the cost of the stale-parent check apart from the rest of the wrapper (how the wrapper
    // checks, and how it orders a put after the task writes, is its own business: see
    // packages/langgraph/src/durable-checkpointer.ts at the commit in config.source).
    let diagnostic: Record<string, unknown> | undefined;
    if (DIAGNOSTIC_ROUNDS > 0) {
      const diag = DURABILITIES.flatMap((d) => [
        contender("redis", "bare", d),
        contender("redis", "wrapped", d),
        contender("redis", "wrapped", d, false),
        contender("sqlite", "bare", d),
        floorContender(d),
      ]).concat(pipelinedContender());
      await timeRounds(diag, DIAGNOSTIC_ROUNDS, 1, "diagnostic ");
      const med = (name: string) => median((diag.find((c) => c.name === name) as Contender).samples);
      diagnostic = {
        note: `${DIAGNOSTIC_ROUNDS} rounds (+1 warm-up) x ${RUNS} runs, after the main rounds, interleaved the same way (one run per contender per slot): RedisSaver bare vs DurableCheckpointer vs DurableCheckpointer({ optimisticConcurrency: false }) (no stale-parent check); and bare SqliteSaver beside the round-trip floor (roundTripFloor)`,
        msPerRun: Object.fromEntries(
          DURABILITIES.map((d) => [
            d,
            {
              bare: round3(med(`redis/bare/${d}`)),
              wrapped: round3(med(`redis/wrapped/${d}`)),
              wrappedNoOptimisticConcurrency: round3(med(`redis/wrapped-no-check/${d}`)),
            },
          ]),
        ),
        roundTripFloor: {
          note: "MemorySaver plus one PING round trip per saver call (put, putWrites, getTuple): the floor of any Redis saver that makes one round trip per call. Timed in the same diagnostic rounds as bare SqliteSaver and bare RedisSaver",
          ...Object.fromEntries(
            DURABILITIES.map((d) => [
              d,
              {
                sqliteBare: round3(med(`sqlite/bare/${d}`)),
                floor: round3(med(`floor/bare/${d}`)),
                redisBare: round3(med(`redis/bare/${d}`)),
                floorOverSqlite: round2(med(`floor/bare/${d}`) / med(`sqlite/bare/${d}`)),
                redisOverSqlite: round2(med(`redis/bare/${d}`) / med(`sqlite/bare/${d}`)),
                redisOverFloor: round2(med(`redis/bare/${d}`) / med(`floor/bare/${d}`)),
              },
            ]),
          ),
        },
        pipelinedPuts: {
          note: 'RedisSaver as if LangGraph sent its puts without waiting for the one before and awaited all of them at the end of the run (bench/pipelined-puts-saver.ts: the run is timed until Redis has acknowledged every put). "async" only. Timed in the same diagnostic rounds',
          async: {
            pipelined: round3(med("redis-pipelined-puts/bare/async")),
            redisBare: round3(med("redis/bare/async")),
            sqliteBare: round3(med("sqlite/bare/async")),
            pipelinedOverSqlite: round2(med("redis-pipelined-puts/bare/async") / med("sqlite/bare/async")),
            pipelinedOverRedisBare: round2(med("redis-pipelined-puts/bare/async") / med("redis/bare/async")),
          },
        },
        overBare: Object.fromEntries(
          DURABILITIES.map((d) => [
            d,
            {
              wrapped: round2(med(`redis/wrapped/${d}`) / med(`redis/bare/${d}`)),
              wrappedNoOptimisticConcurrency: round2(
                med(`redis/wrapped-no-check/${d}`) / med(`redis/bare/${d}`),
              ),
            },
          ]),
        ),
      };
    }

    // --- the same savers when each node waits, as a node that calls a model or an API does ----------
    // The main graph's nodes return at once, so a run never lets Node read a reply until its last
    // node: LangGraph (1.7.3) starts each put only when the one before it has been acknowledged, so
    // the replies of a network saver's puts come one round trip at a time after the graph is done.
    // A node that waits lets those replies in while the graph runs.
    let nodesThatWait: Record<string, unknown> | undefined;
    if (WAITING_ROUNDS > 0) {
      const timeline = await putTimeline(client);
      const set = DURABILITIES.flatMap((d) => [
        ...SAVERS.map((s) => contender(s, "bare", d, true, NODE_WAIT_MS)),
        floorContender(d, NODE_WAIT_MS),
      ]);
      await timeRounds(set, WAITING_ROUNDS, 1, "nodes that wait ");
      const med = (name: string) => median((set.find((c) => c.name === name) as Contender).samples);
      nodesThatWait = {
        note: `${WAITING_ROUNDS} rounds (+1 warm-up) x ${RUNS} runs, interleaved as above: the same 10-node graph with every node waiting ${NODE_WAIT_MS} ms on a timer first (as a node that calls a model or an API waits, only shorter), bare savers and the round-trip floor`,
        nodeWaitMs: NODE_WAIT_MS,
        putTimeline: {
          note: `one "async" run over the round-trip floor (median of 20 runs each): of its ${CHECKPOINTS_PER_RUN} puts, how many LangGraph saw acknowledged after the last node started, and the ms from then to the end of the run`,
          ...timeline,
        },
        msPerRun: Object.fromEntries(
          DURABILITIES.map((d) => [
            d,
            {
              memory: round3(med(`memory/bare/${d}/waits`)),
              sqlite: round3(med(`sqlite/bare/${d}/waits`)),
              redis: round3(med(`redis/bare/${d}/waits`)),
              floor: round3(med(`floor/bare/${d}/waits`)),
              redisOverSqlite: round2(med(`redis/bare/${d}/waits`) / med(`sqlite/bare/${d}/waits`)),
              floorOverSqlite: round2(med(`floor/bare/${d}/waits`) / med(`sqlite/bare/${d}/waits`)),
            },
          ]),
        ),
      };
    }

    // --- how many saver calls (and Redis commands) a run makes, bare vs wrapped (untimed) ---------
    const calls: Record<string, Record<Wrapping, Record<string, number>>> = {};
    for (const saver of SAVERS) {
      for (const durability of DURABILITIES) {
        calls[`${saver}/${durability}`] = await callsPerRun(
          () => makeSaver(saver, `calls-${durability}`),
          durability,
        );
      }
    }
    const redisCommandsPerRun: Record<string, Record<string, number>> = {};
    /** MEMORY USAGE ... SAMPLES 0 of the five keys of each thread, per run (12 checkpoints). */
    const redisBytesPerRun: Record<string, number> = {};
    for (const c of contenders.filter((x) => x.saver === "redis")) {
      const runs = 20;
      const sent = countSentCommands(client);
      for (let r = 0; r < runs; r++) {
        await c.graph.invoke(
          { counter: 0, trail: [] },
          { configurable: { thread_id: `bench-count-${r}` }, durability: c.durability },
        );
      }
      sent.stop();
      redisCommandsPerRun[c.name] = Object.fromEntries(
        Object.entries(sent.counts).map(([cmd, n]) => [cmd, round2(n / runs)]),
      );
      // The five keys of each bench-count thread of this contender's saver ({<prefix>:<thread>}:<suffix>).
      const [keysOfAThread] = (c.storage as RedisSaver).threadKeys("bench-count-*");
      const pattern = keysOfAThread.replace(/:cp$/, ":*");
      redisBytesPerRun[c.name] = round0(await bytesPerOperation(admin, pattern, runs));
      for (let r = 0; r < runs; r++) await c.storage.deleteThread(`bench-count-${r}`);
    }

    // --- what channel deltas save (MemorySaver, SqliteSaver) ----------------------------------------
    const channelDeltas = await measureChannelDeltas(sqliteDir, (saver) => sqliteSavers.push(saver));

    const fanOut =
      FAN_OUT_PASSES > 0
        ? await measureFanOut(
            {
              memory: makeSaver("memory", "fan-out"),
              sqlite: makeSaver("sqlite", "fan-out"),
              redis: makeSaver("redis", "fan-out"),
            },
            FAN_OUT_PASSES,
          )
        : undefined;

    // --- one call at a time: where a RedisSaver run's extra time goes --------------------------------
    const perSaverCall = await measureSaverCalls(
      {
        memory: makeSaver("memory", "per-call"),
        sqlite: makeSaver("sqlite", "per-call"),
        redis: makeSaver("redis", "per-call"),
      },
      client,
    );

    // --- results ---------------------------------------------------------------------------------
    const byName = new Map(contenders.map((c) => [c.name, c]));
    const ms = (saver: SaverName, wrapping: Wrapping, durability: Durability) =>
      median((byName.get(`${saver}/${wrapping}/${durability}`) as Contender).samples);
    const msPerRun = Object.fromEntries(
      SAVERS.map((s) => [
        s,
        Object.fromEntries(
          WRAPPINGS.map((w) => [w, Object.fromEntries(DURABILITIES.map((d) => [d, round3(ms(s, w, d))]))]),
        ),
      ]),
    ) as Record<SaverName, Record<Wrapping, Record<Durability, number>>>;
    const msPerRunFromRoundMeans = Object.fromEntries(
      contenders.map((c) => [c.name, round3(median(c.means))]),
    );
    const spread = Object.fromEntries(
      contenders.map((c) => [
        c.name,
        { min: round3(Math.min(...c.samples)), max: round3(Math.max(...c.samples)) },
      ]),
    );
    const wrappedOverBare = Object.fromEntries(
      SAVERS.map((s) => [
        s,
        Object.fromEntries(DURABILITIES.map((d) => [d, round2(ms(s, "wrapped", d) / ms(s, "bare", d))])),
      ]),
    ) as Record<SaverName, Record<Durability, number>>;
    const redisOverSqlite = Object.fromEntries(
      DURABILITIES.map((d) => [d, round2(ms("redis", "bare", d) / ms("sqlite", "bare", d))]),
    ) as Record<Durability, number>;
    const rawWrapped = SAVERS.flatMap((s) => DURABILITIES.map((d) => ms(s, "wrapped", d) / ms(s, "bare", d)));
    const rawRedis = DURABILITIES.map((d) => ms("redis", "bare", d) / ms("sqlite", "bare", d));
    const targets = {
      wrapperAddsAtMost15Percent: {
        maxWrappedOverBare: round3(Math.max(...rawWrapped)),
        target: WRAPPER_TARGET,
        met: rawWrapped.every((r) => r <= WRAPPER_TARGET),
      },
      redisNoSlowerThanSqlite: {
        maxRedisOverSqlite: round3(Math.max(...rawRedis)),
        target: REDIS_OVER_SQLITE_TARGET,
        met: rawRedis.every((r) => r <= REDIS_OVER_SQLITE_TARGET),
      },
    };
    const result = {
      benchmark:
        "10-node linear LangGraph StateGraph, graph.invoke() on a fresh thread per run: MemorySaver vs SqliteSaver (temp file) vs RedisSaver (local redis-server), each bare and wrapped by DurableCheckpointer, durability async and sync",
      date: new Date().toISOString(),
      units:
        "msPerRun: ms per graph.invoke(), median over rounds of each round's median run; ratios: quotients of those; msPerRunFromRoundMeans: the same with each round's mean run instead (more sensitive to runs the shared machine preempted)",
      msPerRun,
      ratios: { wrappedOverBare, redisOverSqlite },
      targets,
      msPerRunFromRoundMeans,
      spreadOverRoundsMsPerRun: spread,
      checks: {
        perRun:
          "final state counter == 10 and trail n1..n10; then checkpointer.getTuple({ thread_id }) returns the step-10 checkpoint with counter 10",
        perRound: `list() of each contender's first thread of the round holds ${CHECKPOINTS_PER_RUN} checkpoints (input, step 0, one per node)`,
        runsChecked: contenders.length * (WARMUP_ROUNDS + ROUNDS) * RUNS,
        durabilityProbe: {
          how: "MemorySaver whose put takes 3 ms; each node notes whether a put is in flight when it starts (3 runs per durability)",
          ...probe,
        },
      },
      saverCallsPerRun: {
        note: "untimed pass, 5 runs per cell, saver methods counted on the saver underneath; putWhilePutWritesInFlight: put or putIfLatest calls that reached the saver while one of its putWrites had not settled",
        ...calls,
      },
      wrapperDiagnostic: diagnostic,
      nodesThatWait,
      channelDeltas,
      fanOut: fanOut && {
        note: `${FAN_OUT} single-write tasks on one checkpoint (${FAN_OUT_PASSES} passes, medians; 64 putWrites in flight): µs per putWrites over the first 500 and the last 500, and the getTuple reading all ${FAN_OUT}. lastOverFirst near 1: a write's cost does not grow with the writes before it`,
        ...fanOut,
      },
      perSaverCall,
      redisCommandsPerRun: {
        note: "commands the ioredis client sent (round trips; a Lua script is one evalsha), per run, over 20 untimed runs on fresh threads",
        ...redisCommandsPerRun,
      },
      redisBytesPerRun: {
        note: "Redis memory a run leaves (MEMORY USAGE ... SAMPLES 0 of the thread's five keys: 12 checkpoints, their channel values and pending writes), mean over the same 20 runs",
        ...redisBytesPerRun,
      },
      config: {
        rounds: ROUNDS,
        warmupRounds: WARMUP_ROUNDS,
        runsPerContenderPerRound: RUNS,
        benchPhaseSeconds: round1(benchSeconds),
        nodes: NODES,
        perRound:
          "RUNS slots; in each slot every contender does one graph.invoke() on a fresh thread_id (randomUUID), in an order shuffled per slot (seeded), each invoke timed alone; a contender's round sample is its mean; afterwards the round's threads are deleted with deleteThread (untimed)",
        invoke:
          "graph.invoke({ counter: 0, trail: [] }, { configurable: { thread_id }, durability }); graph compiled once per contender with builder.compile({ checkpointer })",
        state:
          "counter: number (reducer a + b), trail: string[] (reducer concat); node nK returns { counter: 1, trail: ['nK'] }",
        savers: {
          memory: "new MemorySaver(), one per contender",
          sqlite: {
            setup: "SqliteSaver.fromConnString(<temp dir>/<contender>.db), one file per contender",
            pragmas: sqlitePragmas,
          },
          redis:
            "new RedisSaver(ioredis, { prefix: 'bench-cp-<contender>' }), one ioredis client shared by the Redis contenders; redis-server with no persistence (--save '' --appendonly no), started by this script",
        },
        wrapped:
          "new DurableCheckpointer({ saver, ledger: new Ledger({ store: new MemoryLedgerStore() }) }), defaults (optimisticConcurrency true)",
        source: {
          ...SOURCE_AT_START,
          changedDuringRun: sourceState().uncommittedSha256 !== SOURCE_AT_START.uncommittedSha256,
        },
        versions: {
          node: process.version,
          redisServer: redisVersion,
          langgraph: versionOf("@langchain/langgraph"),
          langgraphCheckpoint: versionOf("@langchain/langgraph-checkpoint"),
          langgraphCheckpointSqlite: versionOf("@langchain/langgraph-checkpoint-sqlite"),
          langchainCore: versionOf("@langchain/core"),
          ioredis: versionOf("ioredis"),
          durableToolsLanggraph: versionOf("@durable-tools/langgraph"),
          durableToolsRedis: versionOf("@durable-tools/redis"),
        },
      },
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        memoryGiB: round1(totalmem() / 2 ** 30),
        os: `${process.platform} ${release()}`,
        loadAverage1m5m15m: { atStart: LOAD_AT_START, atEnd: loadavg().map(round2) },
      },
    };
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeFileSync(
      new URL("./results/checkpoint.json", import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );

    // --- print ------------------------------------------------------------------------------------
    console.log(
      `\nCheckpointers, 10-node linear graph, ${ROUNDS} rounds x ${RUNS} runs per contender (+${WARMUP_ROUNDS} warm-up), ` +
        `median ms per run (Node ${process.version}, redis-server ${redisVersion}, ${cpus().length} cores, load average ${LOAD_AT_START[0]} at start and ${round2(loadavg()[0] ?? 0)} at end, ${benchSeconds.toFixed(0)} s)`,
    );
    console.table(
      Object.fromEntries(
        SAVERS.flatMap((s) =>
          DURABILITIES.map((d) => [
            `${SAVER_LABEL[s]}, ${d}`,
            {
              "bare ms": round3(ms(s, "bare", d)),
              "wrapped ms": round3(ms(s, "wrapped", d)),
              "wrapped/bare": wrappedOverBare[s][d],
              "added ms": round3(ms(s, "wrapped", d) - ms(s, "bare", d)),
            },
          ]),
        ),
      ),
    );
    console.table(
      Object.fromEntries(
        DURABILITIES.map((d) => [
          `RedisSaver / SqliteSaver, ${d}`,
          {
            bare: redisOverSqlite[d],
            wrapped: round2(ms("redis", "wrapped", d) / ms("sqlite", "wrapped", d)),
          },
        ]),
      ),
    );
    console.log(
      `SQLite: journal_mode=${sqlitePragmas.journal_mode}, synchronous=${sqlitePragmas.synchronous}. Durability probe: ${JSON.stringify(probe)}`,
    );
    console.log("\nSaver calls per run (untimed pass):");
    console.table(
      Object.fromEntries(
        Object.entries(calls).flatMap(([k, v]) =>
          WRAPPINGS.map((w) => [
            `${k} ${w}`,
            Object.fromEntries(Object.entries(v[w]).map(([m, n]) => [m, round2(n)])),
          ]),
        ),
      ),
    );
    console.log("Redis commands per run:");
    console.table(redisCommandsPerRun);
    console.log("Redis memory per run (bytes, MEMORY USAGE of the thread's keys):");
    console.table(redisBytesPerRun);
    if (diagnostic) {
      console.log(
        `\nDiagnostic, ${DIAGNOSTIC_ROUNDS} rounds x ${RUNS} runs: RedisSaver bare, wrapped, wrapped with optimisticConcurrency: false (no stale-parent check)`,
      );
      console.table(diagnostic.msPerRun);
      console.table(diagnostic.overBare);
      const { note: floorNote, ...floorTable } = diagnostic.roundTripFloor as Record<string, unknown>;
      console.log(`Round-trip floor: ${floorNote}`);
      console.table(floorTable);
      const { note: pipelinedNote, ...pipelinedTable } = diagnostic.pipelinedPuts as Record<string, unknown>;
      console.log(`Pipelined puts: ${pipelinedNote}`);
      console.table(pipelinedTable);
    }
    if (nodesThatWait) {
      console.log(`\nNodes that wait: ${nodesThatWait.note}`);
      console.table(nodesThatWait.msPerRun);
      const { note: timelineNote, ...timelineTable } = nodesThatWait.putTimeline as Record<string, unknown>;
      console.log(`Put timeline: ${timelineNote}`);
      console.table(timelineTable);
    }
    console.log(`\nChannel deltas: ${channelDeltas.note}`);
    console.table(channelDeltas.storedCheckpointBytesPerRun);
    console.table(channelDeltas.msPerRun);
    if (fanOut) {
      console.log(
        `\nFan-out: ${FAN_OUT} single-write tasks on one checkpoint (µs per putWrites, first and last 500)`,
      );
      console.table(fanOut);
    }
    console.log(`\nPer saver call: ${perSaverCall.note}`);
    console.table(perSaverCall.us);
    console.table({
      redisOverSqlite: perSaverCall.redisOverSqlite,
      pingOverSqlite: perSaverCall.pingOverSqlite,
    });
    console.log("\nTargets:");
    for (const [name, t] of Object.entries(targets)) console.log(`  ${name}: ${JSON.stringify(t)}`);
    console.log("written to bench/results/checkpoint.json");
  } finally {
    for (const s of sqliteSavers) {
      try {
        s.db.close();
      } catch {
        // already closed
      }
    }
    await Promise.allSettled([client.quit(), admin.quit()]);
    await server.stop();
    rmSync(sqliteDir, { recursive: true, force: true });
  }
}

await main();
