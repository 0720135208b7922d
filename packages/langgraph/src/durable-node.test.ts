import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import { Command, END, MemorySaver, MessagesAnnotation, Send, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableNode } from "./durable-node.js";

/** A MemorySaver whose writes stop landing once `lost` is set (the process is about to die). */
class DyingSaver extends MemorySaver {
  lost = false;
  override put(...args: Parameters<MemorySaver["put"]>): ReturnType<MemorySaver["put"]> {
    return this.lost ? new Promise(() => {}) : super.put(...args);
  }
  override putWrites(...args: Parameters<MemorySaver["putWrites"]>): ReturnType<MemorySaver["putWrites"]> {
    return this.lost ? new Promise(() => {}) : super.putWrites(...args);
  }
}

describe("durableNode", () => {
  it("does not run a finished node again when its writes never reached the checkpoint", async () => {
    const store = new MemoryLedgerStore();
    const saver = new DyingSaver();
    const controller = new AbortController();
    let charges = 0;
    let scheduled = 0;
    const build = () => {
      const charge = async () => {
        const receipt = `receipt-${++charges}`;
        saver.lost = true; // the process dies before the node's writes are saved
        return { messages: [new AIMessage({ content: receipt, id: receipt })] };
      };
      return new StateGraph(MessagesAnnotation)
        .addNode("charge", (state: typeof MessagesAnnotation.State, config) => {
          scheduled++; // how often LangGraph ran the node's task
          return durableNode(charge)(state, config);
        })
        .addNode("notify", async () => {
          if (saver.lost) {
            controller.abort();
            await new Promise(() => {});
          }
          return { messages: [new AIMessage("notified")] };
        })
        .addEdge(START, "charge")
        .addEdge("charge", "notify")
        .addEdge("notify", END)
        .compile({ checkpointer: new DurableCheckpointer({ saver, ledger: new Ledger({ store }) }) });
    };
    const config = { configurable: { thread_id: "durable-node" }, durability: "async" as const };

    const first = await build()
      .invoke({ messages: [new HumanMessage("charge it")] }, { ...config, signal: controller.signal })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Error);
    expect(charges).toBe(1);
    saver.lost = false;
    // "A new process": resumes the thread; the charge node's task runs again, its output is replayed.
    const out = await build().invoke(null, config);
    expect(scheduled).toBe(2); // stock LangGraph runs the node again...
    expect(charges).toBe(1); // ...but its function ran once
    const [, receipt, notified] = out.messages;
    expect(AIMessage.isInstance(receipt)).toBe(true); // revived by the checkpointer's serializer
    expect(receipt?.content).toBe("receipt-1");
    expect(notified?.content).toBe("notified");
  });

  it("keeps an array of Commands an array of Commands, on the first run and when replayed", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let runs = 0;
    let attempts = 0;
    const app = new StateGraph(MessagesAnnotation)
      .addNode(
        "decide",
        async (state: typeof MessagesAnnotation.State, config) => {
          const result = await durableNode(async () => {
            runs++;
            return [
              new Command({ update: { messages: [new AIMessage({ content: "first", id: "first" })] } }),
              new Command({
                update: { messages: [new AIMessage({ content: "second", id: "second" })] },
                goto: new Send("audit", { messages: [new AIMessage("audit me")] }),
              }),
            ];
          })(state, config);
          expect(result.map((command) => command instanceof Command)).toEqual([true, true]);
          if (++attempts === 1) throw new Error("transient after deciding");
          return result;
        },
        {
          ends: ["audit"],
          retryPolicy: { maxAttempts: 2, initialInterval: 1, jitter: false, logWarning: false },
        },
      )
      .addNode("audit", async () => ({}))
      .addEdge(START, "decide")
      .compile({ checkpointer: new DurableCheckpointer({ saver: new MemorySaver(), ledger }) });
    const out = await app.invoke(
      { messages: [new HumanMessage("go")] },
      { configurable: { thread_id: "commands" } },
    );
    expect([attempts, runs]).toEqual([2, 1]);
    expect(out.messages.map((m: BaseMessage) => m.content)).toEqual(["go", "first", "second"]);
  });

  it("keeps a Command output a Command (with its Sends), on the first run and when replayed", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let decisions = 0;
    let attempts = 0;
    const visited: string[] = [];
    const app = new StateGraph(MessagesAnnotation)
      .addNode(
        "decide",
        async (state: typeof MessagesAnnotation.State, config) => {
          const result = await durableNode(async () => {
            decisions++;
            return new Command({
              update: { messages: [new AIMessage({ content: "routing", id: "routing" })] },
              goto: ["approve", new Send("audit", { messages: [new AIMessage("audit me")] })],
            });
          })(state, config);
          // The node fails after its output was recorded: its retry must replay the same Command.
          if (++attempts === 1) throw new Error("transient after deciding");
          return result;
        },
        {
          ends: ["approve", "audit"],
          retryPolicy: { maxAttempts: 2, initialInterval: 1, jitter: false, logWarning: false },
        },
      )
      .addNode("approve", async () => {
        visited.push("approve");
        return {};
      })
      .addNode("audit", async () => {
        visited.push("audit");
        return {};
      })
      .addEdge(START, "decide")
      .compile({ checkpointer: new DurableCheckpointer({ saver: new MemorySaver(), ledger }) });
    const out = await app.invoke(
      { messages: [new HumanMessage("go")] },
      { configurable: { thread_id: "command" } },
    );
    expect(attempts).toBe(2);
    expect(decisions).toBe(1);
    expect(visited.sort()).toEqual(["approve", "audit"]);
    expect(out.messages.map((m: BaseMessage) => m.content)).toEqual(["go", "routing"]);
  });
});
