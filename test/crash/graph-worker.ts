/**
 * One LangGraph process of the crash tests (test/crash/crash.test.ts), run as a real OS process:
 * `node --conditions=source --import tsx graph-worker.ts '<json WorkerArgs>'`.
 *
 * It sets up `backend` (SQLite: SqliteSaver + SqliteLedgerStore files in `dir`, the ground truth a
 * file; Redis: RedisSaver + RedisLedgerStore under the case's key prefixes, the ground truth a Redis
 * hash of counters outside the ledger's keys), builds the graph of `scenario` (graphs.ts), then runs
 * or resumes `threadId`. At `killPoint` it prints `KILL_POINT <name>` and blocks, so the parent can
 * SIGKILL it exactly there. Otherwise it prints `RESULT <json>` (the graph's output, or the error it
 * threw) and exits 0.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { RunnableConfig } from "@langchain/core/runnables";
import { Command } from "@langchain/langgraph";
import type { BaseCheckpointSaver, CheckpointMetadata } from "@langchain/langgraph-checkpoint";
import { Ledger, type LedgerStore } from "../../packages/core/src/index.js";
import { DurableCheckpointer } from "../../packages/langgraph/src/index.js";
import { buildGraph, type Sink } from "./graphs.js";
import {
  checkpointPrefix,
  checkpointsPath,
  FINISHED_POINT,
  KILL_MARKER,
  type KillPoint,
  ledgerPath,
  ledgerPrefix,
  RESULT_MARKER,
  SLOW_CHECKPOINT_MS,
  truthKey,
  truthPath,
  type WorkerArgs,
  type WorkerResult,
} from "./protocol.js";

/**
 * The ledger's lease: how long a record a dead process left in flight blocks the next one before it
 * takes the record over (and, for a tool with `reconcile`, asks what happened). 1 s keeps the
 * `steps` cases quick; nothing else in the crash tests waits on a lease.
 */
const LEASE_MS = 1000;

interface Backend {
  saver: BaseCheckpointSaver;
  store: LedgerStore;
  sink: Sink;
  close(): Promise<void>;
}

/** Opens the case's backend (each loaded only when used: every process start counts). */
async function openBackend(args: WorkerArgs): Promise<Backend> {
  if (args.backend === "sqlite") {
    const { SqliteSaver } = await import("@langchain/langgraph-checkpoint-sqlite");
    const { SqliteLedgerStore } = await import("../../packages/sqlite/src/index.js");
    const saver = SqliteSaver.fromConnString(checkpointsPath(args.dir));
    const store = SqliteLedgerStore.fromPath(ledgerPath(args.dir));
    const file = truthPath(args.dir);
    const sink: Sink = {
      // One write(2) of one line: a SIGKILL lands before or after it, never inside.
      record: async (label) => appendFileSync(file, `${label} pid=${process.pid}\n`),
      count: async (label) =>
        existsSync(file)
          ? readFileSync(file, "utf8")
              .split("\n")
              .filter((line) => line.startsWith(`${label} `)).length
          : 0,
    };
    return {
      saver,
      store,
      sink,
      close: async () => {
        await store.close();
        saver.db.close();
      },
    };
  }
  if (args.redisUrl === undefined) throw new Error("backend redis needs redisUrl");
  const { RedisLedgerStore } = await import("../../packages/redis/src/index.js");
  const { RedisSaver } = await import("../../packages/redis/src/saver/index.js");
  const saver = RedisSaver.fromUrl(args.redisUrl, { prefix: checkpointPrefix(args.caseId) });
  const store = RedisLedgerStore.fromUrl(args.redisUrl, { prefix: ledgerPrefix(args.caseId) });
  const truth = truthKey(args.caseId);
  const sink: Sink = {
    // One HINCRBY: the server applied it or not. The key is outside the ledger's and saver's prefixes.
    record: async (label) => {
      await saver.client.hincrby(truth, label, 1);
    },
    count: async (label) => Number((await saver.client.hget(truth, label)) ?? 0),
  };
  return {
    saver,
    store,
    sink,
    close: async () => {
      await store.close();
      await saver.close();
    },
  };
}

/**
 * Makes the saver's write of the root checkpoint of `step` start SLOW_CHECKPOINT_MS late (a slow
 * store). Patched on the instance, before any DurableCheckpointer sees it, so the saver keeps its
 * class (DurableCheckpointer picks its paths by it) and a DurableCheckpointer binds the slow
 * `putIfLatest`.
 */
function slowDownCheckpoint(saver: BaseCheckpointSaver, step: number): void {
  type Write = (
    config: RunnableConfig,
    checkpoint: unknown,
    metadata: CheckpointMetadata,
    ...rest: unknown[]
  ) => Promise<unknown>;
  const methods = saver as unknown as Record<string, Write | undefined>;
  for (const name of ["put", "putIfLatest"]) {
    const write = methods[name]?.bind(saver);
    if (write === undefined) continue;
    methods[name] = async (config, checkpoint, metadata, ...rest) => {
      if ((config.configurable?.checkpoint_ns ?? "") === "" && metadata?.step === step) {
        await sleep(SLOW_CHECKPOINT_MS);
      }
      return write(config, checkpoint, metadata, ...rest);
    };
  }
}

/**
 * Counts tool runs in flight. LangGraph's ToolNode runs parallel calls with Promise.all: when one
 * interrupts, `invoke` returns while the others may still run. A process that waits for an approval
 * has long finished them; the worker waits for them before it reports that it is waiting.
 */
class ToolRuns extends BaseCallbackHandler {
  name = "crash-tool-runs";
  readonly #onToolEnd: () => Promise<void>;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(onToolEnd: () => Promise<void>) {
    super({ _awaitHandler: true }); // awaited inside the tool's run: a hang here blocks the tool's return
    this.#onToolEnd = onToolEnd;
  }

  override async handleToolStart(): Promise<void> {
    this.#inFlight++;
  }

  override async handleToolEnd(): Promise<void> {
    await this.#onToolEnd();
    this.#finished();
  }

  override async handleToolError(): Promise<void> {
    this.#finished();
  }

  /** Resolves when no tool run is in flight. */
  settled(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #finished(): void {
    this.#inFlight--;
    if (this.#inFlight > 0) return;
    for (const wake of this.#idle.splice(0)) wake();
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "{}") as WorkerArgs;
  const backend = await openBackend(args);
  const ledger = new Ledger({ store: backend.store, leaseMs: LEASE_MS });
  if (args.slowCheckpointStep !== undefined) slowDownCheckpoint(backend.saver, args.slowCheckpointStep);
  const checkpointer: BaseCheckpointSaver =
    args.mode === "durable" ? new DurableCheckpointer({ saver: backend.saver, ledger }) : backend.saver;

  const block = async (point: string, how = args.block): Promise<never> => {
    process.stdout.write(`${KILL_MARKER} ${point}\n`); // synchronous on a pipe (Linux)
    if (how === "freeze") {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never woken: blocks until killed
    }
    // A pending promise alone does not keep Node alive (it would exit with code 13): a timer does.
    setInterval(() => {}, 60_000);
    return new Promise<never>(() => {});
  };
  const hang = async (point: KillPoint): Promise<void> => {
    if (args.killPoint === point) await block(point);
  };
  const mark = (point: KillPoint): void => {
    if (args.killPoint === point) process.stdout.write(`${KILL_MARKER} ${point}\n`);
  };

  const graph = await buildGraph({ args, checkpointer, ledger, sink: backend.sink, hang, mark });
  const agent = args.scenario === "react-agent" || args.scenario === "create-agent";
  // Agents: kill point `after-effect` is the end of the tool's run (its side effect done and, durable,
  // recorded), before the tool returns its message to the graph.
  const tools = new ToolRuns(async () => {
    if (agent) await hang("after-effect");
  });
  const config = {
    configurable: { thread_id: args.threadId },
    durability: args.durability,
    callbacks: [tools],
  };
  let input: unknown;
  switch (args.phase) {
    case "run":
    case "rerun":
      input = graph.input;
      break;
    case "resume":
      input = null;
      break;
    case "approve":
      input = new Command({ resume: "yes" });
      break;
    case "recover": {
      const saved = await backend.saver.getTuple({ configurable: { thread_id: args.threadId } });
      input = saved === undefined ? graph.input : null;
      break;
    }
  }

  let result: WorkerResult;
  try {
    const output = ((await graph.invoke(input, config)) ?? {}) as Record<string, unknown>;
    const interrupted = output.__interrupt__ !== undefined;
    if (interrupted) {
      await tools.settled();
      await hang("waiting"); // the thread waits for approval; the process is killed
    }
    if (args.killPoint === "random") await block(FINISHED_POINT, "await"); // the kill is on its way
    result = { pid: process.pid, output: graph.summarize(output), interrupted };
  } catch (error) {
    const { name, message } = error as Error;
    result = { pid: process.pid, error: { name, message } };
  }
  await backend.close();
  process.stdout.write(`${RESULT_MARKER} ${JSON.stringify(result)}\n`);
  process.exit(0);
}

await main();
