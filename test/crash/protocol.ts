/** What test/crash/crash.test.ts and its worker process (graph-worker.ts) agree on. */
import { join } from "node:path";

export type Mode = "stock" | "durable";
/**
 * Where the thread lives. `sqlite`: checkpoints in SqliteSaver, the ledger in SqliteLedgerStore
 * (files in `dir`), the ground truth a file. `redis`: checkpoints in RedisSaver, the ledger in
 * RedisLedgerStore (key prefixes `<caseId>:cp` and `<caseId>:dt`), the ground truth the hash
 * `truth:<caseId>` (one HINCRBY counter per side-effect label), on one real redis-server.
 */
export type Backend = "sqlite" | "redis";
/**
 * The graphs (graphs.ts builds them). "charges" = one ground-truth side effect: a `durableStep` in
 * durable mode, inline in stock mode (unless a line says otherwise).
 * - `after-effect`: START -> pay -> END; pay charges, then (kill point `after-effect`) returns.
 * - `interrupt`: START -> pay -> END; pay charges, then `interrupt()`s for approval.
 * - `two-interrupts`: START -> pay -> END; pay charges, then `interrupt()`s twice.
 * - `between-nodes`: START -> charge -> ship -> END; charge charges and returns, ship starts
 *   (kill point `ship-start`) and returns.
 * - `subgraph`: START -> pay -> END; pay charges, then invokes a compiled subgraph whose node
 *   charges `reserve` and `interrupt()`s.
 * - `subgraph-step`: START -> prep -> pay -> END, where pay is a compiled subgraph added as the node
 *   itself (it checkpoints in the parent's checkpointer under the namespace `pay:<task id>`):
 *   START -> reserve -> charge -> END. prep has no side effect (so the root checkpoint that schedules
 *   pay is a "loop" checkpoint of step 1, not the input's); reserve charges `reserve`; charge prints
 *   its namespace (NAMESPACE_MARKER), charges `charge`, then (kill point `after-effect`) returns.
 * - `functional`: an `entrypoint` that calls the `task` "charge" (it charges, then kill point
 *   `after-effect`), then `interrupt()`s for approval.
 * - `tool-node`: START -> tools (a `ToolNode`) -> END, fed an AIMessage with two parallel tool
 *   calls: `charge` (a plain `tool()` in stock mode, a `durableTool` in durable mode) and
 *   `approve` (a plain tool that `interrupt()`s).
 * - `react-agent`: `createReactAgent` (@langchain/langgraph/prebuilt), a scripted model that calls
 *   the `charge` tool once, then answers; kill point `after-effect` = the tool's end callback.
 * - `create-agent`: the same with langchain v1 `createAgent`.
 * - `steps`: START -> s1 -> ... -> s6 -> END; each node charges `step-<i>` (durable: a
 *   `durableTool` with a `reconcile` that asks the ground truth) and sleeps a little. Killed at a
 *   random time after s1 starts (kill point `random`), or inside the tool of s3, after its side
 *   effect and before the ledger recorded it (kill point `in-doubt`).
 */
export type Scenario =
  | "after-effect"
  | "interrupt"
  | "two-interrupts"
  | "between-nodes"
  | "subgraph"
  | "subgraph-step"
  | "functional"
  | "tool-node"
  | "react-agent"
  | "create-agent"
  | "steps";
/**
 * - `run`: `invoke(input)` on a new thread.
 * - `resume`: `invoke(null)` on the same thread.
 * - `approve`: `invoke(new Command({ resume: "yes" }))` on the same thread.
 * - `rerun`: `invoke(input)` again on the same thread (what is left to do when nothing was saved).
 * - `recover`: `invoke(null)` if the thread has a checkpoint, else `invoke(input)`.
 */
export type Phase = "run" | "resume" | "approve" | "rerun" | "recover";
/**
 * - `after-effect`: right after the side effect (after the durable step or tool returned), before
 *   the node (or the tool) returns.
 * - `waiting`: `invoke` returned at an `interrupt()`; the process waits for the approval.
 * - `ship-start`: node `ship` of `between-nodes` started.
 * - `random`: the parent kills at a random time after the worker printed `KILL_POINT random`.
 * - `in-doubt`: inside a durable tool's `submit`, after the side effect, before the ledger records it.
 */
export type KillPoint = "none" | "after-effect" | "waiting" | "ship-start" | "random" | "in-doubt";
export type Durability = "async" | "sync" | "exit";
/**
 * How the worker blocks at the kill point: `await` parks the node on a promise that never settles
 * (the event loop keeps running, so background checkpoint writes still land); `freeze` blocks the
 * thread synchronously (Atomics.wait), so nothing queued behind the node runs before the kill.
 */
export type Block = "await" | "freeze";

export interface WorkerArgs {
  mode: Mode;
  backend: Backend;
  scenario: Scenario;
  phase: Phase;
  killPoint: KillPoint;
  durability: Durability;
  block: Block;
  /** Names the case's Redis keys (`<caseId>:cp`, `<caseId>:dt`, `truth:<caseId>`). */
  caseId: string;
  /** The case's directory (SQLite files, the ground-truth file). */
  dir: string;
  /** `redis://127.0.0.1:<port>` of the test's redis-server (backend `redis`). */
  redisUrl?: string;
  threadId: string;
  /**
   * A slow store: the saver's write of the root checkpoint of this step (`put`, or RedisSaver's
   * `putIfLatest` under a DurableCheckpointer) starts SLOW_CHECKPOINT_MS late, in every process of
   * the case. Under "async" the tasks that checkpoint schedules run, and are killed, before it lands
   * (with `freeze` at the kill, its timer never fires); under "sync" LangGraph waits for it first.
   */
  slowCheckpointStep?: number;
}

export interface WorkerResult {
  pid: number;
  output?: Record<string, unknown>;
  interrupted?: boolean;
  error?: { name: string; message: string };
}

export const KILL_MARKER = "KILL_POINT";
export const RESULT_MARKER = "RESULT";
/**
 * `CHECKPOINT_NS <namespace>`: printed by node `charge` of `subgraph-step` as it starts (the
 * `checkpoint_ns` of its config, `pay:<task id>|charge:<task id>`), so the test can tell whether a
 * resumed run's subgraph ran in the namespace of the killed one.
 */
export const NAMESPACE_MARKER = "CHECKPOINT_NS";
/** Printed (with KILL_MARKER) by a `random` run that finished before the parent's kill came. */
export const FINISHED_POINT = "finished";
/** How late a slow checkpoint write (`WorkerArgs.slowCheckpointStep`) starts. */
export const SLOW_CHECKPOINT_MS = 2000;
/** Nodes of the `steps` scenario. */
export const STEPS = 6;

export const checkpointsPath = (dir: string): string => join(dir, "checkpoints.db");
export const ledgerPath = (dir: string): string => join(dir, "ledger.db");
export const truthPath = (dir: string): string => join(dir, "ground-truth.txt");
export const checkpointPrefix = (caseId: string): string => `${caseId}:cp`;
export const ledgerPrefix = (caseId: string): string => `${caseId}:dt`;
export const truthKey = (caseId: string): string => `truth:${caseId}`;
