import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { AIMessage, type ToolMessage } from "@langchain/core/messages";
import { type StructuredToolInterface, tool } from "@langchain/core/tools";
import { Command, interrupt, MemorySaver, MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { describe, expect, it } from "vitest";
import { z } from "zod/v4";
import { durableTool } from "./durable-tool.js";
import { withDurableOptions } from "./run-config.js";

const schema = z.object({ id: z.string() });

/** A ToolNode graph with a checkpointer, started with one tool call of `delete_customer`. */
async function runPausedGraph(t: StructuredToolInterface) {
  const graph = new StateGraph(MessagesAnnotation)
    .addNode("tools", new ToolNode([t]))
    .addEdge("__start__", "tools")
    .compile({ checkpointer: new MemorySaver() });
  const config = { configurable: { thread_id: "t1" } };
  const call = { id: "c1", name: "delete_customer", args: { id: "42" } };
  await graph.invoke({ messages: [new AIMessage({ content: "", tool_calls: [call] })] }, config);
  const state = await graph.getState(config);
  const interrupts = state.tasks.flatMap((task) => task.interrupts);
  const resume = async () => (await graph.invoke(new Command({ resume: "yes" }), config)).messages;
  return { interrupts, resume, messagesBefore: state.values.messages.length };
}

function setup(onError?: "throw") {
  const ledger = new Ledger({ store: new MemoryLedgerStore() });
  const counter = { deletions: 0 };
  const remove = async ({ id }: { id: string }) => {
    const answer = interrupt({ question: `delete ${id}?` });
    if (answer !== "yes") return "cancelled";
    counter.deletions++;
    return `deleted ${id}`;
  };
  const options = { sideEffect: "write" as const, ledger, ...(onError ? { onError } : {}) };
  return { ledger, counter, remove, options };
}

describe("interrupt() inside a durable tool, in a ToolNode with a checkpointer", () => {
  for (const onError of [undefined, "throw"] as const) {
    for (const form of ["wrapped", "definition"] as const) {
      it(`pauses the graph, and the resume runs the side effect once (${form}, onError ${onError ?? "envelope"})`, async () => {
        const { ledger, counter, remove, options } = setup(onError);
        const t =
          form === "wrapped"
            ? durableTool(tool(remove, { name: "delete_customer", description: "d", schema }), options)
            : durableTool({ name: "delete_customer", description: "d", schema, ...options, submit: remove });

        const paused = await runPausedGraph(t);
        expect(paused.interrupts.map((i) => i.value)).toEqual([{ question: "delete 42?" }]);
        expect(paused.messagesBefore).toBe(1); // no ToolMessage: the tool call did not end
        expect(counter.deletions).toBe(0);
        const events = await ledger.readEvents();
        // The pause releases the claim (nothing stored, no FAILED transition), so the key runs again on resume.
        expect(events.map((e) => e.type)).toEqual(["claimed", "transition", "transition", "released"]);
        expect(events.at(-1)).toMatchObject({ type: "released", data: { why: "control_flow" } });
        expect(await ledger.get(events[0]?.key as string)).toBeUndefined();

        const messages = await paused.resume();
        expect(JSON.parse(messages.at(-1)?.content as string)).toMatchObject({
          ok: true,
          effect: "created",
          replayed: false,
          data: "deleted 42",
        });
        expect(counter.deletions).toBe(1);
        expect((await ledger.get(events[0]?.key as string))?.state).toBe("CONFIRMED");
      });
    }
  }
});

describe("a destructive call that ran, re-run by its ToolNode on resume", () => {
  it("replays without a new approval and reports the effect this very tool call had", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let deletes = 0;
    const deleteCustomer = durableTool({
      name: "delete_customer",
      description: "d",
      schema,
      sideEffect: "destructive",
      ledger,
      effect: "deleted",
      submit: ({ id }: { id: string }) => {
        deletes++;
        return `deleted ${id}`;
      },
    });
    // It asks once the delete is done (as a slower tool would): run 1 ends with the delete recorded.
    const ask = tool(
      async ({ question }: { question: string }) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return interrupt({ question });
      },
      {
        name: "ask",
        description: "Ask the user.",
        schema: z.object({ question: z.string() }),
      },
    );
    // As createReactAgent runs them: one ToolNode, both calls of one AIMessage at once.
    const graph = new StateGraph(MessagesAnnotation)
      .addNode("tools", new ToolNode([deleteCustomer, ask]))
      .addEdge("__start__", "tools")
      .compile({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: "t1" } };
    const calls = [
      { id: "del-1", name: "delete_customer", args: { id: "42" } },
      { id: "ask-1", name: "ask", args: { question: "anything else?" } },
    ];
    const approvals = [await deleteCustomer.approve(calls[0]?.args, "alice")];
    await graph.invoke(
      { messages: [new AIMessage({ content: "", tool_calls: calls })] },
      withDurableOptions(config, { approvals }),
    );
    expect(deletes).toBe(1);
    const key = (await ledger.readEvents()).find((e) => e.tool === "delete_customer")?.key as string;
    expect((await ledger.get(key))?.state).toBe("CONFIRMED");

    // The resume carries no approval: the ToolNode runs both calls again.
    const { messages } = await graph.invoke(new Command({ resume: "no" }), config);
    const answers = messages.slice(1).map((m) => [(m as ToolMessage).tool_call_id, m.content]);
    expect(answers).toHaveLength(2);
    const deleted = JSON.parse(answers.find(([id]) => id === "del-1")?.[1] as string);
    expect(deleted).toEqual({
      ok: true,
      effect: "deleted",
      replayed: true,
      key,
      data: "deleted 42",
      reason: expect.stringMatching(/^replayed: already deleted/),
    });
    expect(answers.find(([id]) => id === "ask-1")?.[1]).toBe("no");
    expect(deletes).toBe(1);
    expect((await ledger.get(key))?.state).toBe("CONFIRMED");
  });
});
