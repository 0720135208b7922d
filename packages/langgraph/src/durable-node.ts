import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { type DurableStepOptions, durableStep } from "./durable-step.js";

export interface DurableNodeOptions extends DurableStepOptions {
  /** The journal name of the node's output (default `node-output`). */
  name?: string;
}

/** What the journal keeps of a node's output: the checkpointer's own serialisation, base64. */
interface StoredOutput {
  type: string;
  data: string;
}

/**
 * Wraps a node function so that once it has finished, its output (the state update, a Command) is
 * journaled: if LangGraph runs the same task again because the process died before the node's writes
 * reached the checkpoint, the recorded output is returned and the function does not run. The output
 * is stored with the checkpointer's serializer (what checkpoints use), so messages and other LangChain
 * objects come back as themselves.
 *
 * A node that calls `interrupt()` is fine: the interrupt is not an output, nothing is journaled, and
 * the resumed run completes the node and records it then. Side effects the node makes before an
 * interrupt need their own `durableStep` / `durableTool`.
 *
 *   builder.addNode("charge", durableNode(async (state) => ({ receipt: await charge(state.order) })));
 */
export function durableNode<S, U>(
  fn: (state: S, config: LangGraphRunnableConfig) => U | Promise<U>,
  options: DurableNodeOptions = {},
): (state: S, config: LangGraphRunnableConfig) => Promise<U> {
  const name = options.name ?? "node-output";
  return async (state, config) => {
    const serde = serdeOf(config?.configurable?.__pregel_checkpointer);
    const stored = await durableStep<StoredOutput>(
      name,
      async () => {
        const [type, bytes] = await serde.dumpsTyped(await fn(state, config));
        return { type, data: Buffer.from(bytes).toString("base64") };
      },
      options,
    );
    return (await serde.loadsTyped(stored.type, Buffer.from(stored.data, "base64"))) as U;
  };
}

const fallbackSerde = new JsonPlusSerializer();

function serdeOf(checkpointer: unknown): SerializerProtocol {
  const serde = (checkpointer as { serde?: SerializerProtocol } | undefined)?.serde;
  return typeof serde?.dumpsTyped === "function" ? serde : fallbackSerde;
}
