/** What test/crash/crash.test.ts and its worker process (graph-worker.ts) agree on. */
import { join } from "node:path";

export type Mode = "stock" | "durable";
/**
 * - `after-effect`: START -> pay -> END; pay charges, then (kill point `after-effect`) returns.
 * - `interrupt`: START -> pay -> END; pay charges, then `interrupt()`s for approval.
 * - `between-nodes`: START -> charge -> ship -> END; charge charges and returns, ship starts
 *   (kill point `ship-start`) and returns.
 */
export type Scenario = "after-effect" | "interrupt" | "between-nodes";
/**
 * - `run`: `invoke({ order })` on a new thread.
 * - `resume`: `invoke(null)` (or `Command({ resume: "yes" })` for `interrupt`) on the same thread.
 * - `rerun`: `invoke({ order })` again on the same thread (what is left to do when nothing was saved).
 */
export type Phase = "run" | "resume" | "rerun";
export type KillPoint = "none" | "after-effect" | "waiting" | "ship-start";
export type Durability = "async" | "sync" | "exit";
/**
 * How the worker blocks at the kill point: `await` parks the node on a promise that never settles
 * (the event loop keeps running, so background checkpoint writes still land); `freeze` blocks the
 * thread synchronously (Atomics.wait), so nothing queued behind the node runs before the kill.
 */
export type Block = "await" | "freeze";

export interface WorkerArgs {
  mode: Mode;
  scenario: Scenario;
  phase: Phase;
  killPoint: KillPoint;
  durability: Durability;
  block: Block;
  dir: string;
  threadId: string;
}

export interface WorkerResult {
  pid: number;
  output?: Record<string, unknown>;
  interrupted?: boolean;
  error?: { name: string; message: string };
}

export const KILL_MARKER = "KILL_POINT";
export const RESULT_MARKER = "RESULT";

export const checkpointsPath = (dir: string): string => join(dir, "checkpoints.db");
export const ledgerPath = (dir: string): string => join(dir, "ledger.db");
export const truthPath = (dir: string): string => join(dir, "ground-truth.txt");
