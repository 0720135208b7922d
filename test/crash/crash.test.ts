/**
 * Crash tests with real processes: a child runs a LangGraph thread, is SIGKILLed (by its PID) at a
 * chosen point, and a NEW process resumes the same thread. Two backends: SQLite (checkpoints in
 * `@langchain/langgraph-checkpoint-sqlite`, the ledger in `SqliteLedgerStore`; the ground truth a file)
 * and Redis (checkpoints in `RedisSaver`, the ledger in `RedisLedgerStore`, on one real redis-server
 * started here; the ground truth a hash of counters `truth:<case>` outside the ledger's and the
 * saver's key prefixes). Every side effect counts itself in the ground truth; the counts below are
 * exact, per side effect.
 *
 * Stock LangGraph re-runs the node that was in flight (or waiting in `interrupt()`) when it resumes,
 * so its side effect runs again. `durableStep()` journals the step under its task, `durableTool()`
 * under its arguments within the thread, so the new process replays the recorded receipt instead.
 *
 * Scenarios (stock count / durable count):
 * - after-effect: the node charges, killed before it returns; `invoke(null)`: 2 / 1.
 * - interrupt: the node charges, then `interrupt()`s; killed while waiting; `Command({ resume })`: 2 / 1.
 * - two-interrupts: the node charges, then interrupts twice; killed while waiting on the first,
 *   resumed by a new process, killed while waiting on the second, resumed by a third: 3 / 1.
 * - between-nodes ("between a task's writes and the next checkpoint"): A charges and returns, the
 *   kill lands as B starts; `invoke(null)`: 1 / 1 (A's writes were saved, see the describe below).
 * - subgraph: the parent node charges, then invokes a subgraph whose node charges `reserve` and
 *   interrupts; killed while waiting; `Command({ resume })`: the whole parent node runs again, and
 *   the subgraph node too: charge 2 / 1, reserve 2 / 1.
 * - subgraph-step: the root runs prep, then the subgraph added as node `pay` (START -> reserve ->
 *   charge -> END): reserve charges `reserve`, charge charges and is killed before it returns;
 *   `invoke(null)`: charge 2 / 1, reserve 1 or 2 / 1. Stock's reserve runs again when the resumed
 *   subgraph starts over in a new namespace (the root checkpoint that scheduled it was lost, see
 *   "async" below and the describe's note), else the subgraph resumes at charge.
 * - functional: an `entrypoint` calls the `task` "charge" (killed inside it, after the side effect),
 *   then interrupts; `invoke(null)` (killed while waiting on the interrupt), then `Command({ resume })`:
 *   2 / 1 (a task that completed is not re-run on the second resume, stock or durable).
 * - tool-node: a `ToolNode` runs two parallel calls, `charge` and `approve` (which interrupts);
 *   killed while waiting; `Command({ resume })` re-runs both calls: 2 / 1 (durable: `durableTool`).
 *   ToolNode awaits the calls with Promise.all, so `invoke` returns at the interrupt while `charge`
 *   may still be running; the worker waits for it before it reports that it
 *   waits, as a process waiting for a human would have long finished it.
 * - react-agent / create-agent: `createReactAgent` and langchain v1 `createAgent`, a scripted model,
 *   the `charge` tool; killed at the end of the tool's run (before it returns to the graph);
 *   `invoke(null)`: 2 / 1 (durable: `durableTool`).
 * - steps, killed at random: six nodes in a row, each charging its own step; killed at a random time
 *   (seeded; the seed and the delay are in the test name) after the first node started; a new
 *   process recovers (`invoke(null)`, or the input again if not even the first checkpoint was saved):
 *   durable, every step exactly once and the graph completes; stock, every step once or twice.
 * - steps, killed in doubt: the same graph, killed inside the durable tool of s3 after its side
 *   effect and before the ledger recorded it (the record stays SUBMITTED, owned by a dead process).
 *   That is where a random kill can land too, and where a `durableStep` could only report
 *   `OperationInDoubtError` (at-least-once unless the downstream dedupes: the core executor's tests
 *   cover it). So the durable nodes use a `durableTool` whose `reconcile` asks the ground truth: the
 *   next process waits out the dead owner's lease (1 s here), takes the record over, finds the side
 *   effect and records it ("reconciled") instead of repeating it: every step once.
 *
 * Where the kill lands for `durableStep` in the chosen-point scenarios: after the step returned (the
 * record is CONFIRMED).
 *
 * Durability "async" vs "sync": the durable counts are the same, and so are stock's but for
 * subgraph-step's reserve. Under "async" the checkpoint that scheduled a task may not be saved when
 * the process dies; the new process then re-creates it under a new id (hence new task ids).
 * `durableStep` names a step by the checkpoint that checkpoint was built on, the step and the task
 * path, which the re-created checkpoint shares, so it still replays (the after-effect and functional
 * cases kill a running step). Inside a subgraph the namespace itself, `pay:<task id>`, is new when
 * the root checkpoint that scheduled the subgraph was lost: `durableStep` renames it by what the
 * crash does not change (node, step, trigger, the root's parent checkpoint), so the subgraph-step
 * case's completed steps replay in the new namespace too. A kill two subgraph nodes in rarely finds
 * that root checkpoint unsaved (seen only for stock on Redis, by a race), so that case also runs
 * with the root checkpoint of step 1 written SLOW_CHECKPOINT_MS late (a slow store,
 * `slowCheckpointStep`) and a `freeze` at the kill: under "async" it is lost for sure (see the
 * describe).
 * Each process prints the namespace node charge ran in; the test checks the resumed run's is new
 * exactly when that root checkpoint was lost. `durableTool` keys by arguments within the thread, so
 * task ids do not matter to it.
 *
 * Durability "exit" (LangGraph writes checkpoints only when `invoke` returns):
 * - It CAN recover a thread that stopped at `interrupt()`: `invoke` returns there, so the checkpoint
 *   and the interrupt are saved before the process waits. Killed while waiting and resumed with
 *   `Command({ resume })` by a new process: stock charges twice, durable once (same as async/sync).
 * - It CANNOT recover a process killed mid-run: nothing of the thread was saved, so `invoke(null)` in
 *   a new process fails with `EmptyInputError`, stock and durable alike (the DurableCheckpointer has no
 *   checkpoint to resume either). Re-invoking the original input starts a new run: new checkpoint ids,
 *   hence new task ids, so the durable step's key is new and the side effect runs again (2 for both).
 *   `durableStep` keys steps by task, and under "exit" the task a dead process ran was never saved;
 *   use async/sync durability (or a caller-chosen idempotency key) for crash safety.
 * Both hold on SQLite and on Redis alike.
 *
 * Redis specifics: the counts are the same as on SQLite. What differs is how often "async" loses the
 * race with the kill: a checkpoint write is a network round trip rather than a local write, so the
 * checkpoint that scheduled the running task is often not saved yet when the process dies (see the
 * saved state beforeAll prints); the durable counts hold either way (stock's count of subgraph-step's
 * reserve follows that race: 2 when it was lost, 1 when not). Each checkpoint `put`, each
 * task's `putWrites` and each ledger change is one atomic command or Lua script, so a kill never
 * leaves half of one. Every case has its own key prefixes (`<case>:cp`, `<case>:dt`, `truth:<case>`).
 *
 * All cases run in beforeAll, at most PARALLEL processes at once; the `it`s assert their outcomes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSaver } from "../../packages/redis/src/saver/index.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import {
  type Backend,
  type Block,
  checkpointPrefix,
  checkpointsPath,
  type Durability,
  FINISHED_POINT,
  KILL_MARKER,
  type KillPoint,
  type Mode,
  NAMESPACE_MARKER,
  type Phase,
  RESULT_MARKER,
  type Scenario,
  STEPS,
  truthKey,
  truthPath,
  type WorkerArgs,
  type WorkerResult,
} from "./protocol.js";

const workerPath = fileURLToPath(new URL("./graph-worker.ts", import.meta.url));
const CHILD_TIMEOUT_MS = 60_000;
/** Children spawned at once (each tsx start costs about a second and a half of CPU). */
const PARALLEL = 4;
/** A random kill lands this many ms after the first node started, at most (the six nodes take ~150 ms). */
const RANDOM_WINDOW_MS = 300;

interface WorkerExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the worker, calling `onStdout` with everything it printed so far (and the child's PID) as
 * output arrives; resolves when it exits. A worker that outlives CHILD_TIMEOUT_MS is SIGKILLed.
 */
function runWorker(
  args: WorkerArgs,
  onStdout: (stdout: string, pid: number) => void = () => {},
): Promise<WorkerExit> {
  return new Promise((resolve, reject) => {
    const child = spawnWorker(args);
    const pid = child.pid as number;
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      process.kill(pid, "SIGKILL");
      reject(new Error(`worker ${pid} timed out: ${stdout} ${stderr}`));
    }, CHILD_TIMEOUT_MS);
    child.stdout?.on("data", (chunk) => {
      stdout += chunk;
      onStdout(stdout, pid);
    });
    child.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ pid, code, signal, stdout, stderr });
    });
  });
}

function spawnWorker(args: WorkerArgs): ChildProcess {
  return spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", workerPath, JSON.stringify(args)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
}

interface KilledRun {
  pid: number;
  signal: NodeJS.Signals | null;
  /** `random`: the run had finished (and was waiting) when the kill came. */
  finishedFirst: boolean;
  stdout: string;
}

/**
 * Runs the worker until it prints the kill marker, then SIGKILLs it by its PID (`random`: after
 * `delayMs`).
 */
async function runAndKill(args: WorkerArgs, delayMs = 0): Promise<KilledRun> {
  let printed = "";
  let killed = false;
  let finishedFirst = false;
  let exited = false;
  const exit = await runWorker(args, (stdout, pid) => {
    printed = stdout;
    if (killed || !stdout.includes(`${KILL_MARKER} ${args.killPoint}\n`)) return;
    killed = true;
    const kill = () => {
      if (exited) return; // never signal a PID that may have been reused
      finishedFirst = printed.includes(`${KILL_MARKER} ${FINISHED_POINT}\n`);
      process.kill(pid, "SIGKILL");
    };
    if (delayMs > 0) setTimeout(kill, delayMs);
    else kill();
  }).finally(() => {
    exited = true;
  });
  if (!killed) {
    throw new Error(
      `worker ${exit.pid} exited (${exit.code}) before ${args.killPoint}: ${exit.stdout} ${exit.stderr}`,
    );
  }
  return { pid: exit.pid, signal: exit.signal, finishedFirst, stdout: exit.stdout };
}

/** Runs the worker to completion and returns the result it printed (and all it printed). */
async function runToEnd(args: WorkerArgs): Promise<{ result: WorkerResult; stdout: string }> {
  const exit = await runWorker(args);
  const line = exit.stdout.split("\n").find((l) => l.startsWith(`${RESULT_MARKER} `));
  if (exit.code !== 0 || line === undefined) {
    throw new Error(`worker ${exit.pid} exited with ${exit.code}: ${exit.stdout} ${exit.stderr}`);
  }
  return { result: JSON.parse(line.slice(RESULT_MARKER.length + 1)) as WorkerResult, stdout: exit.stdout };
}

/** The subgraph namespaces a worker printed (NAMESPACE_MARKER lines), in order. */
const namespacesIn = (stdout: string): string[] =>
  stdout
    .split("\n")
    .filter((line) => line.startsWith(`${NAMESPACE_MARKER} `))
    .map((line) => line.slice(NAMESPACE_MARKER.length + 1));

/** What the checkpointer holds for the thread right after the first kill. */
interface SavedState {
  checkpoints: number;
  /** The latest checkpoint already has the charge in its channel values. */
  latestHasCharge: boolean;
  /** Task writes saved against the latest checkpoint. */
  pendingWrites: number;
  /** The `step` of the latest root checkpoint (none saved: absent). */
  latestStep?: number;
}

const NO_CHECKPOINT: SavedState = { checkpoints: 0, latestHasCharge: false, pendingWrites: 0 };

async function savedStateIn(saver: BaseCheckpointSaver, threadId: string): Promise<SavedState> {
  const config = { configurable: { thread_id: threadId } };
  let checkpoints = 0;
  for await (const _ of saver.list(config)) checkpoints++;
  const latest = await saver.getTuple(config);
  const step = latest?.metadata?.step;
  return {
    checkpoints,
    latestHasCharge: latest?.checkpoint.channel_values.charged !== undefined,
    pendingWrites: latest?.pendingWrites?.length ?? 0,
    ...(step === undefined ? {} : { latestStep: step }),
  };
}

interface Step {
  phase: Phase;
  /** Where this process is killed; none: it runs to the end. */
  kill?: KillPoint;
}

interface CaseSpec {
  scenario: Scenario;
  backend: Backend;
  mode: Mode;
  durability: Durability;
  block: Block;
  /** One new process each, in order. */
  steps: Step[];
  /** A kill at `random`: seeds its delay. */
  seed?: number;
  /** The saver writes the root checkpoint of this step late (`WorkerArgs.slowCheckpointStep`). */
  slowCheckpointStep?: number;
}

interface Case extends CaseSpec {
  name: string;
}

interface StepOutcome {
  pid: number;
  ms: number;
  /** Killed steps: the signal the process died of. */
  signal?: NodeJS.Signals | null;
  finishedFirst?: boolean;
  /** Steps run to the end: what the worker printed. */
  result?: WorkerResult;
  /** The subgraph namespaces the worker printed (`subgraph-step`). */
  namespaces: string[];
}

interface Outcome {
  /** Why the case could not be played (a worker failed or exited before its kill point). */
  failure?: string;
  steps: StepOutcome[];
  /** The thread's checkpoints right after the first kill. */
  saved: SavedState;
  /** Ground-truth side effects per label (`charge`, `reserve`, `step-3`, ...). */
  truth: Record<string, number>;
  ms: number;
}

const caseName = (c: CaseSpec): string =>
  [
    c.scenario,
    c.backend,
    c.durability,
    c.block,
    c.mode,
    ...(c.slowCheckpointStep === undefined ? [] : [`slow-step${c.slowCheckpointStep}`]),
    ...c.steps.map((s) => (s.kill === undefined ? s.phase : `${s.phase}.${s.kill}`)),
    ...(c.seed === undefined ? [] : [`seed${c.seed}`]),
  ].join("-");

/** The delay of a random kill: mulberry32 of the seed, scaled to the window. */
function randomDelayMs(seed: number): number {
  let t = (seed + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return 1 + Math.floor(unit * RANDOM_WINDOW_MS);
}

let redis: RedisServer | undefined;
/** The test's own ioredis client (through a RedisSaver it reads checkpoints with). */
let redisReader: RedisSaver | undefined;

async function readBackend(c: Case, dir: string, threadId: string): Promise<SavedState> {
  if (c.backend === "sqlite") {
    if (!existsSync(checkpointsPath(dir))) return NO_CHECKPOINT;
    const saver = SqliteSaver.fromConnString(checkpointsPath(dir));
    try {
      return await savedStateIn(saver, threadId);
    } finally {
      saver.db.close();
    }
  }
  const client = (redisReader as RedisSaver).client;
  return savedStateIn(new RedisSaver(client, { prefix: checkpointPrefix(c.name) }), threadId);
}

async function readTruth(c: Case, dir: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  if (c.backend === "sqlite") {
    if (!existsSync(truthPath(dir))) return counts;
    for (const line of readFileSync(truthPath(dir), "utf8").split("\n").filter(Boolean)) {
      const label = line.split(" ")[0] as string;
      counts[label] = (counts[label] ?? 0) + 1;
    }
    return counts;
  }
  const hash = await (redisReader as RedisSaver).client.hgetall(truthKey(c.name));
  for (const [label, count] of Object.entries(hash)) counts[label] = Number(count);
  return counts;
}

async function play(c: Case, root: string): Promise<Outcome> {
  const started = Date.now();
  const dir = mkdtempSync(join(root, `${c.name}-`));
  const threadId = `thread-${c.name}`;
  const base = {
    mode: c.mode,
    backend: c.backend,
    scenario: c.scenario,
    durability: c.durability,
    block: c.block,
    caseId: c.name,
    dir,
    threadId,
    ...(redis === undefined ? {} : { redisUrl: redis.url }),
    ...(c.slowCheckpointStep === undefined ? {} : { slowCheckpointStep: c.slowCheckpointStep }),
  };
  const steps: StepOutcome[] = [];
  let saved: SavedState | undefined;
  for (const step of c.steps) {
    const args: WorkerArgs = { ...base, phase: step.phase, killPoint: step.kill ?? "none" };
    const stepStarted = Date.now();
    if (step.kill === undefined) {
      const { result, stdout } = await runToEnd(args);
      steps.push({ pid: result.pid, ms: Date.now() - stepStarted, result, namespaces: namespacesIn(stdout) });
      continue;
    }
    const delay = step.kill === "random" ? randomDelayMs(c.seed ?? 0) : 0;
    const killed = await runAndKill(args, delay);
    const ms = Date.now() - stepStarted;
    steps.push({
      pid: killed.pid,
      ms,
      signal: killed.signal,
      finishedFirst: killed.finishedFirst,
      namespaces: namespacesIn(killed.stdout),
    });
    saved ??= await readBackend(c, dir, threadId);
  }
  return {
    steps,
    saved: saved ?? NO_CHECKPOINT,
    truth: await readTruth(c, dir),
    ms: Date.now() - started,
  };
}

/** Runs `fns` with at most `limit` in flight. */
async function pool<T>(fns: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await (fns[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, fns.length) }, lane));
  return out;
}

const MODES: Mode[] = ["stock", "durable"];
const BACKENDS: Backend[] = ["sqlite", "redis"];
const DURABILITIES = ["async", "sync"] as const;
/** Seeds of the random kills: three per backend and durability (stock runs the first). */
const seedsOf = (backend: Backend, durability: Durability): number[] => {
  const slot = ["sqlite-async", "sqlite-sync", "redis-async", "redis-sync"].indexOf(
    `${backend}-${durability}`,
  );
  return [1, 2, 3].map((i) => 3 * slot + i);
};

/** The cases, one builder per scenario, used both to run them and to look their outcomes up. */
type Where = Pick<CaseSpec, "backend" | "mode" | "durability">;
const spec = (scenario: Scenario, where: Where, steps: Step[], block: Block = "await"): CaseSpec => ({
  scenario,
  ...where,
  block,
  steps,
});
const afterEffect = (where: Where, then: Phase[] = ["resume"]): CaseSpec =>
  spec("after-effect", where, [{ phase: "run", kill: "after-effect" }, ...then.map((phase) => ({ phase }))]);
const waitingOnInterrupt = (where: Where): CaseSpec =>
  spec("interrupt", where, [{ phase: "run", kill: "waiting" }, { phase: "approve" }]);
const twoInterrupts = (where: Where): CaseSpec =>
  spec("two-interrupts", where, [
    { phase: "run", kill: "waiting" },
    { phase: "approve", kill: "waiting" },
    { phase: "approve" },
  ]);
const betweenNodes = (where: Where, block: Block): CaseSpec =>
  spec("between-nodes", where, [{ phase: "run", kill: "ship-start" }, { phase: "resume" }], block);
const subgraph = (where: Where): CaseSpec =>
  spec("subgraph", where, [{ phase: "run", kill: "waiting" }, { phase: "approve" }]);
/** `slow`: the root checkpoint that schedules the subgraph (step 1) is written late. */
const subgraphStep = (where: Where, slow: boolean): CaseSpec => ({
  ...spec("subgraph-step", where, [{ phase: "run", kill: "after-effect" }, { phase: "resume" }], "freeze"),
  ...(slow ? { slowCheckpointStep: 1 } : {}),
});
const functional = (where: Where): CaseSpec =>
  spec("functional", where, [
    { phase: "run", kill: "after-effect" },
    { phase: "resume", kill: "waiting" },
    { phase: "approve" },
  ]);
const toolNode = (where: Where): CaseSpec =>
  spec("tool-node", where, [{ phase: "run", kill: "waiting" }, { phase: "approve" }]);
const agent = (scenario: "react-agent" | "create-agent", where: Where): CaseSpec =>
  spec(scenario, where, [{ phase: "run", kill: "after-effect" }, { phase: "resume" }]);
const randomKill = (where: Where, seed: number): CaseSpec => ({
  ...spec("steps", where, [{ phase: "run", kill: "random" }, { phase: "recover" }]),
  seed,
});
const inDoubt = (where: Where): CaseSpec =>
  spec("steps", where, [{ phase: "run", kill: "in-doubt" }, { phase: "recover" }]);

/**
 * Where the stock comparisons run. The durable runs cover both durabilities on both backends; stock
 * runs once per scenario and backend, under STOCK_DURABILITY, except that the scenarios the SQLite
 * suite started with (`original`) keep their stock runs under both durabilities on SQLite, and
 * subgraph-step (`all`, whose stock counts differ between them) under both on both backends.
 */
const STOCK_DURABILITY: Record<Backend, Durability> = { sqlite: "sync", redis: "async" };
type StockRuns = "original" | "once" | "all";

/** Every (backend, durability, mode) a scenario runs in. */
function* matrix(
  stock: StockRuns,
): Generator<{ backend: Backend; durability: "async" | "sync"; mode: Mode; where: Where }> {
  for (const backend of BACKENDS) {
    for (const durability of DURABILITIES) {
      for (const mode of MODES) {
        const everywhere = stock === "all" || (stock === "original" && backend === "sqlite");
        if (mode === "stock" && !everywhere && STOCK_DURABILITY[backend] !== durability) continue;
        yield { backend, durability, mode, where: { backend, mode, durability } };
      }
    }
  }
}

const cases: Case[] = [];
const add = (c: CaseSpec): void => {
  cases.push({ ...c, name: caseName(c) });
};
for (const { where } of matrix("original")) {
  add(afterEffect(where));
  add(waitingOnInterrupt(where));
  for (const block of ["await", "freeze"] as const) add(betweenNodes(where, block));
}
for (const { durability, where } of matrix("all")) {
  add(subgraphStep(where, true));
  if (durability === "async") add(subgraphStep(where, false));
}
for (const { backend, durability, mode, where } of matrix("once")) {
  add(twoInterrupts(where));
  add(subgraph(where));
  add(functional(where));
  add(toolNode(where));
  add(agent("react-agent", where));
  add(agent("create-agent", where));
  const seeds = seedsOf(backend, durability);
  for (const seed of mode === "durable" ? seeds : seeds.slice(0, 1)) add(randomKill(where, seed));
  if (mode === "durable") add(inDoubt(where));
}
for (const backend of BACKENDS) {
  for (const mode of MODES) {
    const exit = { backend, mode, durability: "exit" as const };
    add(waitingOnInterrupt(exit));
    add(afterEffect(exit, ["resume", "rerun"]));
  }
}

const outcomes = new Map<string, Outcome>();
let root = "";

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "dt-crash-"));
  redis = await startRedisServer();
  redisReader = RedisSaver.fromUrl(redis.url);
  const started = Date.now();
  const results = await pool(
    cases.map((c) => async (): Promise<Outcome> => {
      const caseStarted = Date.now();
      try {
        return await play(c, root);
      } catch (error) {
        // Reported by the case's own test; the other cases still run.
        const failure = (error as Error).message;
        return { failure, steps: [], saved: NO_CHECKPOINT, truth: {}, ms: Date.now() - caseStarted };
      }
    }),
    PARALLEL,
  );
  cases.forEach((c, i) => {
    outcomes.set(c.name, results[i] as Outcome);
  });
  console.info(
    `crash: ${cases.length} cases, ${cases.reduce((n, c) => n + c.steps.length, 0)} processes in ${
      Date.now() - started
    } ms\n${cases
      .map((c) => {
        const o = outcomes.get(c.name) as Outcome;
        if (o.failure !== undefined) return `  ${c.name}: FAILED in ${o.ms} ms: ${o.failure.slice(0, 300)}`;
        const finished = o.steps[0]?.finishedFirst ? " (finished before the kill)" : "";
        const stepMs = o.steps.map((step) => step.ms).join("+");
        const namespaces = o.steps.some((step) => step.namespaces.length > 0)
          ? `, subgraph namespaces ${o.steps.map((step) => step.namespaces.join(",") || "-").join(" then ")}`
          : "";
        return `  ${c.name}: ${JSON.stringify(o.truth)} in ${stepMs} ms, saved at kill ${JSON.stringify(o.saved)}${finished}${namespaces}`;
      })
      .join("\n")}`,
  );
}, 420_000);

afterAll(async () => {
  await redisReader?.close();
  await redis?.stop();
  if (root !== "") rmSync(root, { recursive: true, force: true });
});

/** The outcome of `c`; every kill in it was a SIGKILL. */
function outcome(c: CaseSpec): Outcome {
  const found = outcomes.get(caseName(c));
  if (found === undefined) throw new Error(`no outcome for ${JSON.stringify(c)}`);
  if (found.failure !== undefined) throw new Error(found.failure);
  for (const step of found.steps) if (step.result === undefined) expect(step.signal).toBe("SIGKILL");
  return found;
}

/** What the process of step `i` printed (it ran to the end without error). */
function resultOf(o: Outcome, i: number): WorkerResult {
  const result = o.steps[i]?.result;
  expect(result?.error).toBeUndefined();
  return result as WorkerResult;
}

/** The PID of the process that ran step `i`: its receipts name it. */
const pidOf = (o: Outcome, i: number): number => (o.steps[i] as StepOutcome).pid;

/** Side effects per mode: [stock, durable]. */
const expected = (stock: number, durable: number) => ({ stock, durable }) as Record<Mode, number>;

describe("SIGKILL right after the side effect, before the node returns; a new process resumes", () => {
  for (const { backend, durability, mode, where } of matrix("original")) {
    const count = expected(2, 1)[mode];
    it(`${backend}, ${durability}, ${mode}: the resume completes the graph, side effect ran ${count}x`, () => {
      const o = outcome(afterEffect(where));
      // durable: the new process replays the receipt the killed process recorded.
      const chargedBy = mode === "durable" ? pidOf(o, 0) : pidOf(o, 1);
      expect(resultOf(o, 1).output).toEqual({ order: "order-1", charged: `receipt-${chargedBy}` });
      expect(o.truth).toEqual({ charge: count });
    });
  }
});

describe("side effect then interrupt(); killed while waiting; a new process resumes with Command", () => {
  for (const { backend, durability, mode, where } of matrix("original")) {
    const count = expected(2, 1)[mode];
    it(`${backend}, ${durability}, ${mode}: approved and completed, side effect ran ${count}x`, () => {
      const o = outcome(waitingOnInterrupt(where));
      expect(o.saved.checkpoints).toBeGreaterThan(0);
      const resume = resultOf(o, 1);
      expect(resume.interrupted).toBe(false);
      const chargedBy = mode === "durable" ? pidOf(o, 0) : pidOf(o, 1);
      expect(resume.output).toEqual({ order: "order-1", charged: `receipt-${chargedBy}`, approved: "yes" });
      expect(o.truth).toEqual({ charge: count });
    });
  }
});

describe("side effect then two interrupt()s; killed while waiting on each; a new process resumes each", () => {
  for (const { backend, durability, mode, where } of matrix("once")) {
    const count = expected(3, 1)[mode];
    it(`${backend}, ${durability}, ${mode}: approved twice and completed, side effect ran ${count}x`, () => {
      const o = outcome(twoInterrupts(where));
      const last = resultOf(o, 2);
      expect(last.interrupted).toBe(false);
      const chargedBy = mode === "durable" ? pidOf(o, 0) : pidOf(o, 2);
      expect(last.output).toEqual({ order: "order-1", charged: `receipt-${chargedBy}`, approved: "yes+yes" });
      expect(o.truth).toEqual({ charge: count });
    });
  }
});

/*
 * Observed (SqliteSaver and RedisSaver, LangGraph 1.7.3): under "sync" the checkpoint after A is always
 * saved before B starts (3 checkpoints, the charge in its channel values). Under "async" it may not be:
 * it races the kill, with "await" and with "freeze" (nothing runs after B starts), seen both ways on
 * both backends (on Redis mostly not saved). When it is not, A's task writes were already saved against
 * the previous checkpoint (2 pending writes), so the resume applies them and starts at B: stock
 * LangGraph does not re-run A here either (1 charge), and neither does durable. Only the charge count is
 * asserted; the saved state is printed by beforeAll.
 */
describe("node A charges and returns; killed as node B starts; a new process resumes", () => {
  for (const { backend, durability, mode, where } of matrix("original")) {
    for (const block of ["await", "freeze"] as const) {
      it(`${backend}, ${durability}, ${mode}, ${block} at the kill: A's charge runs once`, () => {
        const o = outcome(betweenNodes(where, block));
        expect(resultOf(o, 1).output).toEqual({
          order: "order-1",
          charged: `receipt-${pidOf(o, 0)}`,
          shipped: true,
        });
        expect(o.truth).toEqual({ charge: 1 });
      });
    }
  }
});

describe("parent node charges, then invokes a subgraph that charges and interrupts; killed while waiting", () => {
  for (const { backend, durability, mode, where } of matrix("once")) {
    const count = expected(2, 1)[mode];
    it(`${backend}, ${durability}, ${mode}: approved and completed, each side effect ran ${count}x`, () => {
      const o = outcome(subgraph(where));
      const resume = resultOf(o, 1);
      expect(resume.interrupted).toBe(false);
      // Stock: the resume re-runs the parent node (charge) and the subgraph's node (reserve).
      const by = mode === "durable" ? pidOf(o, 0) : pidOf(o, 1);
      expect(resume.output).toEqual({
        order: "order-1",
        charged: `receipt-${by}`,
        reserved: `receipt-${by}`,
        approved: "yes",
      });
      expect(o.truth).toEqual({ charge: count, reserve: count });
    });
  }
});

/*
 * The subgraph `pay` runs in the namespace `pay:<task id>`, its task id derived from the root
 * checkpoint that scheduled it (step 1, after prep). If that checkpoint was lost, the resumed run
 * re-creates it under a new id: a new task id, a NEW subgraph namespace, where the subgraph starts
 * over. Each process prints the namespace node `charge` ran in; the pay segments of the killed run
 * and of the resume are the same exactly when the root checkpoint of step 1 was saved.
 *
 * Observed (SqliteSaver and RedisSaver, LangGraph 1.7.3, `freeze` at the kill):
 * - "sync": LangGraph saves the checkpoint before its tasks run: same namespace, every time.
 * - "async", no slow write: on SQLite the write lands within a few microtasks (the saver writes
 *   synchronously), long before the kill: same namespace. On Redis it is a round trip that races the
 *   subgraph's nodes (LangGraph issues it once the loop's previous checkpoint write is answered):
 *   seen both ways for stock (mostly saved), always saved so far for durable (whose steps take more
 *   round trips). Only the consistency of namespace, saved state and counts is asserted there.
 * - "async", the root checkpoint of step 1 written SLOW_CHECKPOINT_MS late: with `freeze` its timer
 *   never fires, so it is lost, and the resume's namespace is new: stock and durable, on both
 *   backends (the DurableCheckpointer does not hold a subgraph's checkpoints back behind the root's:
 *   only root checkpoints are checked against the latest, under its per-thread lock).
 * Stock re-runs charge (2) and, in a new namespace, reserve too (2; else 1: the subgraph resumes at
 * charge). Durable: 1 / 1 either way, the steps in the new namespace replayed from the ledger.
 */
describe("subgraph node, reserve then charge; killed in charge after its side effect; a new process resumes", () => {
  for (const { backend, durability, mode, where } of matrix("all")) {
    for (const slow of durability === "async" ? [true, false] : [true]) {
      // Whether the root checkpoint of step 1 is lost (the resume's namespace new); undefined: a race.
      const lost = durability === "sync" ? false : slow ? true : backend === "sqlite" ? false : undefined;
      const write = slow ? "root checkpoint written late" : "no slow write";
      const namespace = lost === undefined ? "either namespace" : lost ? "new namespace" : "same namespace";
      const counts =
        mode === "durable"
          ? "reserve 1, charge 1"
          : lost === undefined
            ? "reserve 1 or 2, charge 2"
            : `reserve ${lost ? 2 : 1}, charge 2`;
      it(`${backend}, ${durability}, ${mode}, ${write}: ${namespace}, completed, ${counts}`, () => {
        const o = outcome(subgraphStep(where, slow));
        const [run, resume] = o.steps.map((step) => step.namespaces);
        expect(run).toHaveLength(1);
        expect(resume).toHaveLength(1);
        const paySegment = (ns: string | undefined) => ns?.split("|")[0];
        const sameNamespace = paySegment(run?.[0]) === paySegment(resume?.[0]);
        // A new namespace exactly when the root checkpoint that scheduled pay was not saved.
        expect(o.saved.latestStep).toBe(sameNamespace ? 1 : 0);
        if (lost !== undefined) expect(sameNamespace).toBe(!lost);
        const [killed, resumed] = [`receipt-${pidOf(o, 0)}`, `receipt-${pidOf(o, 1)}`];
        const durable = mode === "durable";
        expect(resultOf(o, 1).output).toEqual({
          order: "order-1",
          prepared: true,
          reserved: durable || sameNamespace ? killed : resumed,
          charged: durable ? killed : resumed,
        });
        expect(o.truth).toEqual(
          durable ? { reserve: 1, charge: 1 } : { reserve: sameNamespace ? 1 : 2, charge: 2 },
        );
      });
    }
  }
});

describe("functional API: entrypoint + task; killed inside the task after its side effect, then while waiting", () => {
  for (const { backend, durability, mode, where } of matrix("once")) {
    const count = expected(2, 1)[mode];
    it(`${backend}, ${durability}, ${mode}: resumed, approved and completed, side effect ran ${count}x`, () => {
      const o = outcome(functional(where));
      const last = resultOf(o, 2);
      expect(last.interrupted).toBe(false);
      // Stock: `invoke(null)` re-ran the task; the approval did not (its result was saved by then).
      const chargedBy = mode === "durable" ? pidOf(o, 0) : pidOf(o, 1);
      expect(last.output).toEqual({ order: "order-1", charged: `receipt-${chargedBy}`, approved: "yes" });
      expect(o.truth).toEqual({ charge: count });
    });
  }
});

describe("ToolNode with parallel calls, charge and approve (interrupts); killed while waiting", () => {
  for (const { backend, durability, mode, where } of matrix("once")) {
    const count = expected(2, 1)[mode];
    it(`${backend}, ${durability}, ${mode}: approved and completed, charge ran ${count}x`, () => {
      const o = outcome(toolNode(where));
      const resume = resultOf(o, 1);
      expect(resume.interrupted).toBe(false);
      expect(resume.output).toEqual({
        tools: {
          // Durable: the tool call re-ran; the ledger replayed the killed process' receipt, and told
          // the call that made the charge what it did (created), not noop.
          charge:
            mode === "durable"
              ? { ok: true, effect: "created", replayed: true, data: `receipt-${pidOf(o, 0)}` }
              : `receipt-${pidOf(o, 1)}`,
          approve: "approved: yes",
        },
        final: null,
        messages: 4,
      });
      expect(o.truth).toEqual({ charge: count });
    });
  }
});

for (const scenario of ["react-agent", "create-agent"] as const) {
  const title = scenario === "react-agent" ? "createReactAgent" : "langchain createAgent";
  describe(`${title} with a charge tool; killed as the tool ends, before it returns; a new process resumes`, () => {
    for (const { backend, durability, mode, where } of matrix("once")) {
      const count = expected(2, 1)[mode];
      it(`${backend}, ${durability}, ${mode}: the agent answers, charge ran ${count}x`, () => {
        const o = outcome(agent(scenario, where));
        expect(resultOf(o, 1).output).toEqual({
          tools: {
            // Durable: the same tool call, replayed, is told what it did.
            charge:
              mode === "durable"
                ? { ok: true, effect: "created", replayed: true, data: `receipt-${pidOf(o, 0)}` }
                : `receipt-${pidOf(o, 1)}`,
          },
          final: "Charged order-1.",
          messages: 4,
        });
        expect(o.truth).toEqual({ charge: count });
      });
    }
  });
}

const allSteps = Array.from({ length: STEPS }, (_, i) => `step-${i + 1}`);

describe("six charging nodes; SIGKILL at a random time; a new process recovers the thread", () => {
  for (const { backend, durability, mode, where } of matrix("once")) {
    for (const [i, seed] of seedsOf(backend, durability).entries()) {
      if (mode === "stock" && i > 0) continue;
      const delay = randomDelayMs(seed);
      const what = mode === "durable" ? "every step ran exactly once" : "every step ran once or twice";
      it(`${backend}, ${durability}, ${mode}, seed ${seed} (killed ${delay} ms in): completed, ${what}`, () => {
        const o = outcome(randomKill(where, seed));
        const { done, receipts } = resultOf(o, 1).output as {
          done: string[];
          receipts: Record<string, string>;
        };
        expect(done).toEqual(allSteps);
        // Each step's receipt: recorded by the killed process, by the recovering one, or (durable, a
        // kill between the side effect and its record) reconciled from the ground truth.
        const possible = [`receipt-${pidOf(o, 0)}`, `receipt-${pidOf(o, 1)}`, "reconciled"];
        for (const step of allSteps) expect(possible, step).toContain(receipts[step]);
        expect(Object.keys(o.truth).sort()).toEqual(allSteps);
        for (const step of allSteps) {
          if (mode === "durable") expect(o.truth[step], step).toBe(1);
          else expect(o.truth[step], step).toBeGreaterThanOrEqual(1);
          expect(o.truth[step], step).toBeLessThanOrEqual(2);
        }
      });
    }
  }
});

describe("six charging nodes; SIGKILL inside the durable tool of s3, after its side effect, before its record", () => {
  for (const { backend, durability, mode, where } of matrix("once")) {
    if (mode === "stock") continue; // stock has no record to be in doubt about
    it(`${backend}, ${durability}: the next process waits out the lease, reconciles s3 and completes; every step ran once`, () => {
      const o = outcome(inDoubt(where));
      const [run, recover] = [`receipt-${pidOf(o, 0)}`, `receipt-${pidOf(o, 1)}`];
      expect(resultOf(o, 1).output).toEqual({
        order: "order-1",
        done: allSteps,
        // s3's record was taken over and settled by `reconcile`, which found the side effect.
        receipts: {
          "step-1": run,
          "step-2": run,
          "step-3": "reconciled",
          "step-4": recover,
          "step-5": recover,
          "step-6": recover,
        },
      });
      expect(o.truth).toEqual(Object.fromEntries(allSteps.map((step) => [step, 1])));
    });
  }
});

describe('durability "exit"', () => {
  for (const backend of BACKENDS) {
    for (const mode of MODES) {
      const where = { backend, mode, durability: "exit" as const };
      const count = expected(2, 1)[mode];
      it(`${backend}, ${mode}: killed while waiting on an interrupt, resumed with Command: side effect ran ${count}x`, () => {
        const o = outcome(waitingOnInterrupt(where));
        // The interrupt was saved when `invoke` returned, before the process started waiting.
        expect(o.saved.checkpoints).toBeGreaterThan(0);
        const chargedBy = mode === "durable" ? pidOf(o, 0) : pidOf(o, 1);
        expect(resultOf(o, 1).output).toEqual({
          order: "order-1",
          charged: `receipt-${chargedBy}`,
          approved: "yes",
        });
        expect(o.truth).toEqual({ charge: count });
      });
      it(`${backend}, ${mode}: SIGKILL mid-run: nothing was saved; invoke(null) fails with EmptyInputError; re-running the input charges again`, () => {
        const o = outcome(afterEffect(where, ["resume", "rerun"]));
        expect(o.saved).toEqual({ checkpoints: 0, latestHasCharge: false, pendingWrites: 0 });
        expect(o.steps[1]?.result?.error?.name).toBe("EmptyInputError");
        // A new run: new checkpoint and task ids, so even the durable step is a new step.
        expect(resultOf(o, 2).output).toEqual({ order: "order-1", charged: `receipt-${pidOf(o, 2)}` });
        expect(o.truth).toEqual({ charge: 2 });
      });
    }
  }
});
