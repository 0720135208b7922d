/**
 * One LangGraph process of the crash tests (test/crash/crash.test.ts), run as a real OS process:
 * `node --conditions=source --import tsx graph-worker.ts '<json WorkerArgs>'`.
 *
 * It builds the graph of `scenario` on SQLite (checkpoints in SqliteSaver, the ledger in
 * SqliteLedgerStore, both files in `dir`), then runs or resumes `threadId`. Every side effect appends
 * one line to `dir/ground-truth.txt` (outside the ledger). At `killPoint` it prints
 * `KILL_POINT <name>` and blocks, so the parent can SIGKILL it exactly there. Otherwise it prints
 * `RESULT <json>` (the graph's output, or the error it threw) and exits 0.
 */
import { appendFileSync } from "node:fs";
import { Annotation, Command, END, interrupt, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { Ledger } from "../../packages/core/src/index.js";
import { DurableCheckpointer, durableStep } from "../../packages/langgraph/src/index.js";
import { SqliteLedgerStore } from "../../packages/sqlite/src/index.js";
import {
  checkpointsPath,
  KILL_MARKER,
  type KillPoint,
  ledgerPath,
  RESULT_MARKER,
  truthPath,
  type WorkerArgs,
  type WorkerResult,
} from "./protocol.js";

const State = Annotation.Root({
  order: Annotation<string>,
  charged: Annotation<string>,
  approved: Annotation<string>,
  shipped: Annotation<boolean>,
});

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "{}") as WorkerArgs;
  const saver = SqliteSaver.fromConnString(checkpointsPath(args.dir));
  const store = SqliteLedgerStore.fromPath(ledgerPath(args.dir));
  const ledger = new Ledger({ store });
  const checkpointer: BaseCheckpointSaver =
    args.mode === "durable" ? new DurableCheckpointer({ saver, ledger }) : saver;

  const hang = async (point: KillPoint): Promise<void> => {
    if (args.phase !== "run" || args.killPoint !== point) return;
    process.stdout.write(`${KILL_MARKER} ${point}\n`); // synchronous on a pipe (Linux)
    if (args.block === "freeze") {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never woken: blocks until killed
    }
    await new Promise<never>(() => {});
  };

  /** The side effect: one ground-truth line per execution, outside the ledger. */
  const sideEffect = (order: string): string => {
    appendFileSync(truthPath(args.dir), `${args.scenario} ${order} pid=${process.pid}\n`);
    return `receipt-${process.pid}`;
  };
  const charge = (order: string): Promise<string> =>
    args.mode === "durable"
      ? durableStep("charge", () => sideEffect(order))
      : Promise.resolve(sideEffect(order));

  const builder = new StateGraph(State);
  const graph =
    args.scenario === "between-nodes"
      ? builder
          .addNode("charge", async (state) => ({ charged: await charge(state.order) }))
          .addNode("ship", async () => {
            await hang("ship-start");
            return { shipped: true };
          })
          .addEdge(START, "charge")
          .addEdge("charge", "ship")
          .addEdge("ship", END)
          .compile({ checkpointer })
      : builder
          .addNode("pay", async (state) => {
            const charged = await charge(state.order);
            await hang("after-effect");
            if (args.scenario === "interrupt") {
              const approved = interrupt<{ charged: string }, string>({ charged });
              return { charged, approved };
            }
            return { charged };
          })
          .addEdge(START, "pay")
          .addEdge("pay", END)
          .compile({ checkpointer });

  const config = { configurable: { thread_id: args.threadId }, durability: args.durability };
  const input =
    args.phase === "resume"
      ? args.scenario === "interrupt"
        ? new Command({ resume: "yes" })
        : null
      : { order: "order-1" };

  let result: WorkerResult;
  try {
    const output = (await graph.invoke(input as Parameters<typeof graph.invoke>[0], config)) as Record<
      string,
      unknown
    >;
    const interrupted = output.__interrupt__ !== undefined;
    if (interrupted) await hang("waiting"); // the thread waits for approval; the process is killed
    const { __interrupt__: _, ...values } = output;
    result = { pid: process.pid, output: values, interrupted };
  } catch (error) {
    const { name, message } = error as Error;
    result = { pid: process.pid, error: { name, message } };
  }
  await store.close();
  process.stdout.write(`${RESULT_MARKER} ${JSON.stringify(result)}\n`);
  process.exit(0);
}

await main();
