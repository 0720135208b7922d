import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { Annotation, type BaseCheckpointSaver, MemorySaver } from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { DurableCheckpointer } from "./durable-checkpointer.js";

export const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
});

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

export function durable(saver: BaseCheckpointSaver): { checkpointer: DurableCheckpointer; ledger: Ledger } {
  const ledger = new Ledger({ store: new MemoryLedgerStore() });
  return { checkpointer: new DurableCheckpointer({ saver, ledger }), ledger };
}

export function thread(id: string): { configurable: { thread_id: string } } {
  return { configurable: { thread_id: id } };
}
