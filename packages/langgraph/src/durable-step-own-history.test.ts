import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import {
  Annotation,
  Command,
  END,
  interrupt,
  MemorySaver,
  Send,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";
import { DURABILITIES, State } from "./test-support.js";

/*
 * A subgraph compiled with `checkpointer: true` keeps one history across its invocations, in a
 * namespace LangGraph writes without task ids (`worker`): its steps are named by that history's
 * checkpoints, as the root's are, never by the namespace alone.
 */

const Order = Annotation.Root({
  item: Annotation<string>,
  log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
});

function checkpointer() {
  return new DurableCheckpointer({
    saver: new MemorySaver(),
    ledger: new Ledger({ store: new MemoryLedgerStore() }),
  });
}

/** A `checkpointer: true` subgraph whose one node charges its item in a step, then maybe asks a human. */
function payingWorker(charges: string[], ask = false) {
  return new StateGraph(Order)
    .addNode("pay", async (state) => {
      const receipt = await durableStep("charge", async () => {
        charges.push(state.item);
        return `receipt:${state.item}:${charges.length}`;
      });
      const approved = ask ? interrupt<string, string>(`ship ${state.item}?`) : "auto";
      return { log: [`${receipt}:${approved}`] };
    })
    .addEdge(START, "pay")
    .addEdge("pay", END)
    .compile({ checkpointer: true });
}

/** plan sends `work` the items book and lamp at once; `work` invokes `worker` (its last log entry kept). */
function sendBookAndLamp(worker: {
  invoke(input: { item: string }, config: unknown): Promise<{ log: string[] }>;
}) {
  return new StateGraph(State)
    .addNode("plan", async () => ({}))
    .addNode("work", async (order: { item: string }, config) => ({
      log: (await worker.invoke({ item: order.item }, config)).log.slice(-1),
    }))
    .addConditionalEdges("plan", () => [
      new Send("work", { item: "book" }),
      new Send("work", { item: "lamp" }),
    ])
    .addEdge(START, "plan")
    .addEdge("work", END)
    .compile({ checkpointer: checkpointer() });
}

describe("durableStep in a subgraph with a history of its own (checkpointer: true)", () => {
  for (const durability of DURABILITIES) {
    it(`invoked by two Sends at once: each runs its own step and gets its own result (${durability})`, async () => {
      const charges: string[] = [];
      const worker = payingWorker(charges);
      const app = sendBookAndLamp(worker);
      const out = await app.invoke({ log: [] }, { configurable: { thread_id: "t" }, durability });
      expect(charges.sort()).toEqual(["book", "lamp"]);
      expect(out.log.map((entry: string) => entry.split(":")[1]).sort()).toEqual(["book", "lamp"]);
    });

    it(`with a plain subgraph inside, invoked by two Sends at once: each charges its own item (${durability})`, async () => {
      const charges: string[] = [];
      const paying = payingWorker(charges);
      // Compiled without a checkpointer of its own: a plain subgraph, its levels named by task ids.
      const inner = new StateGraph(Order)
        .addNode("pay", async (order, config) => ({ log: (await paying.invoke(order, config)).log }))
        .addEdge(START, "pay")
        .addEdge("pay", END)
        .compile();
      const worker = new StateGraph(Order)
        .addNode("delegate", async (order, config) => ({ log: (await inner.invoke(order, config)).log }))
        .addEdge(START, "delegate")
        .addEdge("delegate", END)
        .compile({ checkpointer: true });
      const app = sendBookAndLamp(worker);
      const out = await app.invoke({ log: [] }, { configurable: { thread_id: "t" }, durability });
      expect(charges.sort()).toEqual(["book", "lamp"]);
      expect(out.log.map((entry: string) => entry.split(":")[1]).sort()).toEqual(["book", "lamp"]);
    });

    it(`interrupted after its step and resumed: the step replays (${durability})`, async () => {
      const charges: string[] = [];
      const worker = payingWorker(charges, true);
      const app = new StateGraph(Order)
        .addNode("work", async (order, config) => ({
          log: (await worker.invoke({ item: order.item }, config)).log,
        }))
        .addEdge(START, "work")
        .addEdge("work", END)
        .compile({ checkpointer: checkpointer() });
      const config = { configurable: { thread_id: "t" }, durability };
      await app.invoke({ item: "book", log: [] }, config);
      expect(charges).toEqual(["book"]);
      const out = await app.invoke(new Command({ resume: "yes" }), config);
      expect(charges).toEqual(["book"]);
      expect(out.log).toEqual(["receipt:book:1:yes"]);
    });

    it(`invoked again in a later run of the thread: the new invocation's step runs (${durability})`, async () => {
      const charges: string[] = [];
      const worker = payingWorker(charges);
      const app = new StateGraph(Order)
        .addNode("work", async (order, config) => {
          // The worker's state goes on across invocations: its last entry is this invocation's.
          const { log } = await worker.invoke({ item: order.item }, config);
          return { log: log.slice(-1) };
        })
        .addEdge(START, "work")
        .addEdge("work", END)
        .compile({ checkpointer: checkpointer() });
      const config = { configurable: { thread_id: "t" }, durability };
      await app.invoke({ item: "book", log: [] }, config);
      const out = await app.invoke({ item: "lamp" }, config);
      expect(charges).toEqual(["book", "lamp"]);
      expect(out.log).toEqual(["receipt:book:1:auto", "receipt:lamp:2:auto"]);
    });
  }
});
