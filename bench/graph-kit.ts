/** Pieces the checkpoint benchmarks share: a linear chain of nodes, and the wrapper under test. */
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { DurableCheckpointer } from "@durable-tools/langgraph";
import { END, START } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";

/** START -> names[0] -> ... -> names[n-1] -> END (nodes already added). */
export function chainInOrder(graph: unknown, names: readonly string[]): void {
  // addNode's typed builder only knows the node names it has seen; a loop needs the untyped view.
  const edges = graph as { addEdge(from: string, to: string): unknown };
  edges.addEdge(START, names[0] as string);
  for (let i = 1; i < names.length; i++) edges.addEdge(names[i - 1] as string, names[i] as string);
  edges.addEdge(names[names.length - 1] as string, END);
}

/** `saver` bare, or wrapped by a DurableCheckpointer with an in-memory ledger (defaults otherwise). */
export function checkpointerOver(
  saver: BaseCheckpointSaver,
  wrapping: "bare" | "wrapped",
  optimisticConcurrency = true,
): BaseCheckpointSaver {
  if (wrapping === "bare") return saver;
  return new DurableCheckpointer({
    saver,
    ledger: new Ledger({ store: new MemoryLedgerStore() }),
    optimisticConcurrency,
  });
}
