/**
 * The graphs of the crash scenarios (see `Scenario` in protocol.ts), built in the worker process
 * against whatever checkpointer, ledger and ground-truth sink graph-worker.ts set up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type StructuredToolInterface, tool } from "@langchain/core/tools";
import {
  Annotation,
  END,
  entrypoint,
  getConfig,
  interrupt,
  MessagesAnnotation,
  START,
  StateGraph,
  task,
} from "@langchain/langgraph";
import { createReactAgent, ToolNode } from "@langchain/langgraph/prebuilt";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { ScriptedChatModel } from "../../examples/invoice-agent/src/scripted-chat-model.js";
import type { Ledger } from "../../packages/core/src/index.js";
import { durableTool } from "../../packages/langchain/src/index.js";
import { durableStep } from "../../packages/langgraph/src/index.js";
import { type KillPoint, NAMESPACE_MARKER, STEPS, type WorkerArgs } from "./protocol.js";

/** The ground truth: counts side effects per label, outside the ledger. */
export interface Sink {
  record(label: string): Promise<void>;
  count(label: string): Promise<number>;
}

export interface GraphContext {
  args: WorkerArgs;
  checkpointer: BaseCheckpointSaver;
  ledger: Ledger;
  sink: Sink;
  /** Blocks at `point` when it is this process' kill point. */
  hang(point: KillPoint): Promise<void>;
  /** Prints the kill marker of `point` when it is this process' kill point, without blocking. */
  mark(point: KillPoint): void;
}

export interface CrashGraph {
  invoke(input: unknown, config: RunnableConfig): Promise<unknown>;
  /** What a `run` (or `rerun`) invokes with. */
  input: unknown;
  /** The JSON the worker reports for the graph's output. */
  summarize(output: Record<string, unknown>): Record<string, unknown>;
}

const ORDER = "order-1";

export async function buildGraph(ctx: GraphContext): Promise<CrashGraph> {
  const { args, checkpointer, sink, hang } = ctx;
  const durable = args.mode === "durable";

  /** One side effect: a ground-truth count, and a receipt naming the process that ran it. */
  const sideEffect = async (label: string): Promise<string> => {
    await sink.record(label);
    return `receipt-${process.pid}`;
  };
  /** Stock: the side effect inline. Durable: journaled by `durableStep` under the running task. */
  const charge = (label: string): Promise<string> =>
    durable ? durableStep(label, () => sideEffect(label)) : sideEffect(label);
  const values = (output: Record<string, unknown>) => {
    const { __interrupt__: _, ...rest } = output;
    return rest;
  };

  switch (args.scenario) {
    case "after-effect":
    case "interrupt":
    case "two-interrupts": {
      const graph = new StateGraph(PayState)
        .addNode("pay", async () => {
          const charged = await charge("charge");
          await hang("after-effect");
          if (args.scenario === "after-effect") return { charged };
          const first = interrupt<{ charged: string }, string>({ charged });
          if (args.scenario === "interrupt") return { charged, approved: first };
          const second = interrupt<{ charged: string; again: true }, string>({ charged, again: true });
          return { charged, approved: `${first}+${second}` };
        })
        .addEdge(START, "pay")
        .addEdge("pay", END)
        .compile({ checkpointer });
      return wrap(graph, { order: ORDER }, values);
    }
    case "between-nodes": {
      const graph = new StateGraph(PayState)
        .addNode("charge", async () => ({ charged: await charge("charge") }))
        .addNode("ship", async () => {
          await hang("ship-start");
          return { shipped: true };
        })
        .addEdge(START, "charge")
        .addEdge("charge", "ship")
        .addEdge("ship", END)
        .compile({ checkpointer });
      return wrap(graph, { order: ORDER }, values);
    }
    case "subgraph": {
      // Compiled without a checkpointer: invoked inside the parent's node, it checkpoints in the
      // parent's checkpointer under the namespace `pay:<task id>`.
      const approval = new StateGraph(PayState)
        .addNode("approve", async (state) => {
          const reserved = await charge("reserve");
          const approved = interrupt<{ charged: string }, string>({ charged: state.charged });
          return { reserved, approved };
        })
        .addEdge(START, "approve")
        .addEdge("approve", END)
        .compile();
      const graph = new StateGraph(PayState)
        .addNode("pay", async (state) => {
          const charged = await charge("charge");
          const sub = await approval.invoke({ order: state.order, charged });
          return { charged, reserved: sub.reserved, approved: sub.approved };
        })
        .addEdge(START, "pay")
        .addEdge("pay", END)
        .compile({ checkpointer });
      return wrap(graph, { order: ORDER }, values);
    }
    case "subgraph-step": {
      // Added as the node itself and compiled without a checkpointer: it checkpoints in the parent's
      // checkpointer under the namespace `pay:<task id>`, the task id derived from the root checkpoint
      // that scheduled pay (step 1, after prep). Its output (the whole state, each channel written
      // once) is pay's write to the parent.
      const pay = new StateGraph(SubgraphStepState)
        .addNode("reserve", async () => ({ reserved: await charge("reserve") }))
        .addNode("charge", async () => {
          const ns = getConfig()?.configurable?.checkpoint_ns as string;
          process.stdout.write(`${NAMESPACE_MARKER} ${ns}\n`);
          const charged = await charge("charge");
          await hang("after-effect");
          return { charged };
        })
        .addEdge(START, "reserve")
        .addEdge("reserve", "charge")
        .addEdge("charge", END)
        .compile();
      const graph = new StateGraph(SubgraphStepState)
        .addNode("prep", async () => ({ prepared: true }))
        .addNode("pay", pay)
        .addEdge(START, "prep")
        .addEdge("prep", "pay")
        .addEdge("pay", END)
        .compile({ checkpointer });
      return wrap(graph, { order: ORDER }, values);
    }
    case "functional": {
      const chargeTask = task("charge", async (_order: string) => {
        const charged = await charge("charge");
        await hang("after-effect");
        return charged;
      });
      const workflow = entrypoint({ name: "checkout", checkpointer }, async (input: { order: string }) => {
        const charged = await chargeTask(input.order);
        const approved = interrupt<{ charged: string }, string>({ charged });
        return { order: input.order, charged, approved };
      });
      return wrap(workflow, { order: ORDER }, values);
    }
    case "tool-node": {
      const approveTool = tool(
        async ({ order }: { order: string }) => {
          const answer = interrupt<{ order: string }, string>({ order });
          return `approved: ${answer}`;
        },
        { name: "approve", description: "Ask a human to approve the order.", schema: ORDER_SCHEMA },
      );
      const graph = new StateGraph(MessagesAnnotation)
        .addNode("tools", new ToolNode([chargeTool(ctx), approveTool]))
        .addEdge(START, "tools")
        .addEdge("tools", END)
        .compile({ checkpointer });
      const input = {
        messages: [
          new HumanMessage("Charge order-1 once it is approved."),
          new AIMessage({
            content: "",
            tool_calls: [
              { id: "call_charge", name: "charge", args: { order: ORDER } },
              { id: "call_approve", name: "approve", args: { order: ORDER } },
            ],
          }),
        ],
      };
      return wrap(graph, input, summarizeMessages);
    }
    case "react-agent": {
      const agent = createReactAgent({
        llm: new ScriptedChatModel(chargeOnceScript),
        tools: [chargeTool(ctx)],
        checkpointer,
      });
      return wrap(agent, { messages: [new HumanMessage("Charge order-1.")] }, summarizeMessages);
    }
    case "create-agent": {
      const { createAgent } = await import("langchain");
      const agent = createAgent({
        model: new ScriptedChatModel(chargeOnceScript),
        tools: [chargeTool(ctx)],
        checkpointer,
      });
      return wrap(agent, { messages: [new HumanMessage("Charge order-1.")] }, summarizeMessages);
    }
    case "steps": {
      const stepTool = durable ? reconcilingStepTool(ctx) : undefined;
      // Node names are built in a loop, so the builder is typed loosely.
      const builder = new StateGraph(StepsState) as unknown as LooseBuilder;
      for (let step = 1; step <= STEPS; step++) {
        builder.addNode(`s${step}`, async (_state: unknown, config: RunnableConfig) => {
          if (step === 1) ctx.mark("random");
          const label = `step-${step}`;
          const receipt =
            stepTool === undefined
              ? await sideEffect(label)
              : envelopeData(await stepTool.invoke({ order: ORDER, step }, config));
          await sleep(STEP_SLEEP_MS);
          return { done: [label], receipts: { [label]: receipt } };
        });
      }
      builder.addEdge(START, "s1");
      for (let step = 1; step < STEPS; step++) builder.addEdge(`s${step}`, `s${step + 1}`);
      builder.addEdge(`s${STEPS}`, END);
      return wrap(builder.compile({ checkpointer }), { order: ORDER }, values);
    }
  }
}

const PayState = Annotation.Root({
  order: Annotation<string>,
  charged: Annotation<string>,
  reserved: Annotation<string>,
  approved: Annotation<string>,
  shipped: Annotation<boolean>,
});

const SubgraphStepState = Annotation.Root({
  order: Annotation<string>,
  prepared: Annotation<boolean>,
  reserved: Annotation<string>,
  charged: Annotation<string>,
});

const StepsState = Annotation.Root({
  order: Annotation<string>,
  done: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  receipts: Annotation<Record<string, string>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
});

/** Each `steps` node sleeps this long after its side effect, so a random kill lands anywhere. */
const STEP_SLEEP_MS = 40;
/** The `steps` node whose tool holds kill point `in-doubt`. */
const IN_DOUBT_STEP = 3;

interface LooseBuilder {
  addNode(name: string, fn: (state: unknown, config: RunnableConfig) => Promise<unknown>): LooseBuilder;
  addEdge(from: string, to: string): LooseBuilder;
  compile(options: { checkpointer: BaseCheckpointSaver }): {
    invoke(input: never, config?: never): Promise<unknown>;
  };
}

const ORDER_SCHEMA = {
  type: "object",
  properties: { order: { type: "string" } },
  required: ["order"],
} as const;

/**
 * The `charge` tool: stock, a plain `tool()`; durable, a `durableTool` on the worker's ledger (keyed by
 * its arguments within the thread, so a re-run of the tool call replays the recorded receipt).
 */
function chargeTool(ctx: GraphContext): StructuredToolInterface {
  const run = async (): Promise<string> => {
    await ctx.sink.record("charge");
    return `receipt-${process.pid}`;
  };
  const description = "Charge the customer for an order.";
  if (ctx.args.mode === "stock") {
    return tool(async (_args: { order: string }) => run(), {
      name: "charge",
      description,
      schema: ORDER_SCHEMA,
    }) as unknown as StructuredToolInterface;
  }
  return durableTool<{ order: string }, string>({
    name: "charge",
    description,
    schema: ORDER_SCHEMA,
    sideEffect: "write",
    ledger: ctx.ledger,
    submit: run,
  });
}

/**
 * The side effect of a `steps` node in durable mode. A kill can land between the side effect and
 * its record (the record stays SUBMITTED with a dead owner): a `durableStep` would then be in doubt
 * (OperationInDoubtError). This tool can ask the downstream (the ground truth) with `reconcile`, so
 * the next process, once the dead owner's lease expired, records what happened instead of repeating it.
 */
function reconcilingStepTool(ctx: GraphContext): StructuredToolInterface {
  return durableTool<{ order: string; step: number }, string>({
    name: "charge_step",
    description: "Charge one step of an order.",
    schema: {
      type: "object",
      properties: { order: { type: "string" }, step: { type: "number" } },
      required: ["order", "step"],
    },
    sideEffect: "write",
    ledger: ctx.ledger,
    modelKey: false,
    submit: async ({ step }) => {
      await ctx.sink.record(`step-${step}`);
      if (step === IN_DOUBT_STEP) await ctx.hang("in-doubt");
      return `receipt-${process.pid}`;
    },
    reconcile: async ({ step }) =>
      (await ctx.sink.count(`step-${step}`)) > 0
        ? { status: "applied", result: "reconciled" }
        : { status: "not_applied" },
  });
}

/** The `data` of a durable tool's effect envelope (its content, when invoked without a tool call). */
function envelopeData(content: unknown): string {
  return (JSON.parse(String(content)) as { data: string }).data;
}

function wrap(
  graph: { invoke(input: never, config?: never): Promise<unknown> },
  input: unknown,
  summarize: CrashGraph["summarize"],
): CrashGraph {
  const invoke = graph.invoke.bind(graph) as unknown as CrashGraph["invoke"];
  return { invoke, input, summarize };
}

/** The tool results (ToolMessage contents by tool name, JSON parsed) and the model's last answer. */
function summarizeMessages(output: Record<string, unknown>): Record<string, unknown> {
  const messages = (output.messages ?? []) as BaseMessage[];
  const tools: Record<string, unknown> = {};
  for (const message of messages) {
    if (!ToolMessage.isInstance(message)) continue;
    const content = String(message.content);
    tools[message.name ?? message.tool_call_id] = parseJson(content);
  }
  const last = messages.at(-1);
  return {
    tools,
    final: last !== undefined && AIMessage.isInstance(last) ? String(last.content) : null,
    messages: messages.length,
  };
}

function parseJson(text: string): unknown {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    if (typeof parsed !== "object" || parsed === null) return parsed;
    // The ledger key is a hash and the reason names a time: neither is worth asserting.
    const { key: _key, reason: _reason, ...rest } = parsed;
    return rest;
  } catch {
    return text;
  }
}

/** The agents' model: calls `charge` once, then answers. */
function chargeOnceScript(messages: BaseMessage[]): AIMessage {
  if (messages.some((m) => ToolMessage.isInstance(m))) return new AIMessage("Charged order-1.");
  return new AIMessage({
    content: "",
    tool_calls: [{ id: "call_charge", name: "charge", args: { order: ORDER } }],
  });
}
