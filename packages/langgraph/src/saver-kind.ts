import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";

/**
 * Which of LangGraph's savers whose storage we know `saver` is (or is built on), by class name, so a
 * second copy of the package is recognised too: MemorySaver and SqliteSaver store every checkpoint
 * whole, and their latest checkpoint id can be read without loading the checkpoint.
 */
export function knownSaverKind(saver: BaseCheckpointSaver): "memory" | "sqlite" | undefined {
  for (let proto = Object.getPrototypeOf(saver); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (name === "MemorySaver") return "memory";
    if (name === "SqliteSaver") return "sqlite";
  }
  return undefined;
}
