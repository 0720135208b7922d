import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import {
  Annotation,
  type AnnotationRoot,
  type BaseCheckpointSaver,
  END,
  interrupt,
  MemorySaver,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { afterEach } from "vitest";
import { DurableCheckpointer, type DurableCheckpointerOptions } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";

/** LangGraph's three durability modes. */
export const DURABILITIES = ["async", "sync", "exit"] as const;
export type Durability = (typeof DURABILITIES)[number];

export const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
});

/** State with a `doc` that the three-step graph never touches (channel-delta tests set it). */
export const DocState = Annotation.Root({
  ...State.spec,
  doc: Annotation<string>(),
});

/** START -> a -> b -> c -> END; each step appends its name to `log`. */
export function threeStepGraph() {
  return new StateGraph(DocState)
    .addNode("a", async () => ({ log: ["a"] }))
    .addNode("b", async () => ({ log: ["b"] }))
    .addNode("c", async () => ({ log: ["c"] }))
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", "c")
    .addEdge("c", END);
}

export interface SaverFactory {
  name: string;
  create: () => { saver: BaseCheckpointSaver; close: () => void };
}

export const savers: SaverFactory[] = [
  { name: "MemorySaver", create: () => ({ saver: new MemorySaver(), close: () => {} }) },
  {
    name: "SqliteSaver",
    create: () => {
      const dir = mkdtempSync(join(tmpdir(), "durable-langgraph-"));
      const saver = SqliteSaver.fromConnString(join(dir, "checkpoints.sqlite"));
      return {
        saver,
        close: () => {
          saver.db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** A DurableCheckpointer over `saver` with an in-memory ledger (`options` as DurableCheckpointer's). */
export function durable(
  saver: BaseCheckpointSaver,
  options: Omit<DurableCheckpointerOptions, "saver" | "ledger"> = {},
): { checkpointer: DurableCheckpointer; ledger: Ledger } {
  const ledger = new Ledger({ store: new MemoryLedgerStore() });
  return { checkpointer: new DurableCheckpointer({ saver, ledger, ...options }), ledger };
}

/**
 * For a describe block over one of `savers`: a function that makes a DurableCheckpointer over a fresh
 * saver of `create` (closed after the test that made it).
 */
export function durableOver(create: SaverFactory["create"]) {
  let close = () => {};
  afterEach(() => close());
  return () => {
    const made = create();
    close = made.close;
    return { ...durable(made.saver), saver: made.saver };
  };
}

/** The config of thread `id`, under `durability` when given. */
export function thread(
  id: string,
  durability?: Durability,
): { configurable: { thread_id: string }; durability?: Durability } {
  return { configurable: { thread_id: id }, ...(durability === undefined ? {} : { durability }) };
}

/** A promise (`opened`) and the function that resolves it (`open`). */
export interface Gate {
  opened: Promise<void>;
  open: () => void;
}

/** A new, closed Gate. */
export function gate(): Gate {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** What the outer graph of `askAfterSubgraphs` calls on a subgraph. */
interface Subgraph {
  invoke(input: { log: string[] }): Promise<{ log: string[] }>;
}

/**
 * START -> outer -> END over `state` (State or one with more channels): `outer` invokes each of
 * `subgraphs` in turn, then stops at interrupt("ok?"); it logs the subgraphs' logs, then the answer.
 */
export function askAfterSubgraphs<Spec extends typeof State.spec>(
  subgraphs: Subgraph[],
  checkpointer: BaseCheckpointSaver,
  state: AnnotationRoot<Spec>,
) {
  // Typed as State: `outer` writes `log` alone, whatever other channels `state` has.
  return new StateGraph(state as unknown as typeof State)
    .addNode("outer", async () => {
      const log: string[] = [];
      for (const subgraph of subgraphs) log.push(...(await subgraph.invoke({ log: [] })).log);
      return { log: [...log, interrupt("ok?") as string] };
    })
    .addEdge(START, "outer")
    .addEdge("outer", END)
    .compile({ checkpointer });
}

/**
 * START -> pay -> END: `pay` asks interrupt("approve?"), waits for what `hold(answer)` returns (if
 * anything), then runs the durable step "charge" with `charge`; it logs the answer and the receipt.
 */
export function approveThenCharge(
  checkpointer: BaseCheckpointSaver,
  charge: () => string,
  hold: (answer: string) => Promise<void> | undefined,
) {
  return new StateGraph(State)
    .addNode("pay", async () => {
      const answer = interrupt("approve?") as string;
      const held = hold(answer);
      if (held !== undefined) await held;
      return { log: [answer, await durableStep("charge", charge)] };
    })
    .addEdge(START, "pay")
    .addEdge("pay", END)
    .compile({ checkpointer });
}

/** An approveThenCharge `hold`: on the answer "slow", opens `entered` and waits for `release`. */
export function holdSlow(entered: Gate, release: Gate): (answer: string) => Promise<void> | undefined {
  return (answer) => {
    if (answer !== "slow") return undefined;
    entered.open();
    return release.opened;
  };
}
