import { Command, isCommand, type LangGraphRunnableConfig, Send } from "@langchain/langgraph";
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
        const [type, bytes] = await serde.dumpsTyped(toStorable(await fn(state, config)));
        return { type, data: Buffer.from(bytes).toString("base64") };
      },
      options,
    );
    return fromStorable(await serde.loadsTyped(stored.type, Buffer.from(stored.data, "base64"))) as U;
  };
}

/*
 * The checkpoint serializer keeps messages and plain data, but turns a Command (and the Sends in its
 * goto) into plain objects. A node's Command output, or each Command of an array a node returns, is
 * stored as a tagged description and rebuilt.
 */
const COMMAND_TAG = "__durable_tools_command__";

interface StoredCommand {
  [COMMAND_TAG]: true;
  update?: Record<string, unknown> | [string, unknown][];
  resume?: unknown;
  graph?: string;
  goto?: (string | { node: string; args: unknown })[];
}

function toStorable(output: unknown): unknown {
  return Array.isArray(output) ? output.map(commandToStorable) : commandToStorable(output);
}

function fromStorable(value: unknown): unknown {
  return Array.isArray(value) ? value.map(commandFromStorable) : commandFromStorable(value);
}

function commandToStorable(output: unknown): unknown {
  if (!isCommand(output)) return output;
  const command = output as Command;
  const stored: StoredCommand = { [COMMAND_TAG]: true };
  if (command.update !== undefined) stored.update = command.update as StoredCommand["update"];
  if (command.resume !== undefined) stored.resume = command.resume;
  if (command.graph !== undefined) stored.graph = command.graph;
  const goto = Array.isArray(command.goto) ? command.goto : command.goto === undefined ? [] : [command.goto];
  if (goto.length > 0) {
    stored.goto = goto.map((target) =>
      typeof target === "string" ? target : { node: (target as Send).node, args: (target as Send).args },
    );
  }
  return stored;
}

function commandFromStorable(value: unknown): unknown {
  if (typeof value !== "object" || value === null || (value as StoredCommand)[COMMAND_TAG] !== true)
    return value;
  const stored = value as StoredCommand;
  return new Command({
    ...(stored.update === undefined ? {} : { update: stored.update }),
    ...(stored.resume === undefined ? {} : { resume: stored.resume }),
    ...(stored.graph === undefined ? {} : { graph: stored.graph }),
    ...(stored.goto === undefined
      ? {}
      : {
          goto: stored.goto.map((target) =>
            typeof target === "string" ? target : new Send(target.node, target.args),
          ),
        }),
  });
}

const fallbackSerde = new JsonPlusSerializer();

function serdeOf(checkpointer: unknown): SerializerProtocol {
  const serde = (checkpointer as { serde?: SerializerProtocol } | undefined)?.serde;
  return typeof serde?.dumpsTyped === "function" ? serde : fallbackSerde;
}
