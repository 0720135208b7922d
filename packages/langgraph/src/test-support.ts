import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import {
  Annotation,
  type BaseCheckpointSaver,
  END,
  MemorySaver,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { DurableCheckpointer, type DurableCheckpointerOptions } from "./durable-checkpointer.js";

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

export function thread(id: string): { configurable: { thread_id: string } } {
  return { configurable: { thread_id: id } };
}
