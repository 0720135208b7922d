import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { END, MemorySaver, type RetryPolicy, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";
import { DURABILITIES, State } from "./test-support.js";

/*
 * LangGraph 1.7 numbers the subgraphs a task invokes (`<task ns>|1`, `|2`...) with a counter its node
 * retries do not reset: without care, the first subgraph of a retry would look like a new one and run
 * its steps again.
 */

const retry: RetryPolicy = { maxAttempts: 3, initialInterval: 1, jitter: false, logWarning: false };

function checkpointer() {
  return new DurableCheckpointer({
    saver: new MemorySaver(),
    ledger: new Ledger({ store: new MemoryLedgerStore() }),
  });
}

/** pay (a step that charges `item`) -> ship, which fails the first `shipFailures` times it runs. */
function checkoutGraph(charges: string[], failures: { ship: number }) {
  return new StateGraph(State)
    .addNode("pay", async (_state, config) => {
      const item = config.configurable?.item as string;
      const charged = await durableStep("charge", async () => {
        charges.push(item);
        return `charged:${item}`;
      });
      return { log: [charged] };
    })
    .addNode("ship", async () => {
      if (failures.ship-- > 0) throw new Error("the carrier did not answer");
      return { log: ["shipped"] };
    })
    .addEdge(START, "pay")
    .addEdge("pay", "ship")
    .addEdge("ship", END)
    .compile();
}

describe("durableStep in a subgraph of a node LangGraph retries", () => {
  for (const durability of DURABILITIES) {
    it(`a subgraph the node invokes: its completed step replays in the retry (${durability})`, async () => {
      const charges: string[] = [];
      const sub = checkoutGraph(charges, { ship: 1 });
      const app = new StateGraph(State)
        .addNode(
          "checkout",
          (state, config) =>
            sub.invoke(state, { ...config, configurable: { ...config.configurable, item: "book" } }),
          { retryPolicy: retry },
        )
        .addEdge(START, "checkout")
        .addEdge("checkout", END)
        .compile({ checkpointer: checkpointer() });
      const out = await app.invoke({ log: [] }, { configurable: { thread_id: "t" }, durability });
      expect(charges).toEqual(["book"]);
      expect(out.log).toEqual(["charged:book", "shipped"]);
    });

    it(`a subgraph added as the node: its completed step replays in the retry (${durability})`, async () => {
      const charges: string[] = [];
      const app = new StateGraph(State)
        .addNode("checkout", checkoutGraph(charges, { ship: 2 }), { retryPolicy: retry })
        .addEdge(START, "checkout")
        .addEdge("checkout", END)
        .compile({ checkpointer: checkpointer() });
      const out = await app.invoke(
        { log: [] },
        { configurable: { thread_id: "t", item: "lamp" }, durability },
      );
      expect(charges).toEqual(["lamp"]);
      expect(out.log).toEqual(["charged:lamp", "shipped"]);
    });

    it(`two subgraphs in one node: each keeps its own step through two retries (${durability})`, async () => {
      const charges: string[] = [];
      const failures = { ship: 0 };
      const sub = checkoutGraph(charges, failures);
      let nodeFailures = 2;
      const app = new StateGraph(State)
        .addNode(
          "checkout",
          async (state, config) => {
            const book = await sub.invoke(state, {
              ...config,
              configurable: { ...config.configurable, item: "book" },
            });
            const lamp = await sub.invoke(state, {
              ...config,
              configurable: { ...config.configurable, item: "lamp" },
            });
            if (nodeFailures-- > 0) throw new Error("the order service did not answer");
            return { log: [...book.log, ...lamp.log] };
          },
          { retryPolicy: retry },
        )
        .addEdge(START, "checkout")
        .addEdge("checkout", END)
        .compile({ checkpointer: checkpointer() });
      const out = await app.invoke({ log: [] }, { configurable: { thread_id: "t" }, durability });
      expect(charges).toEqual(["book", "lamp"]);
      expect(out.log).toEqual(["charged:book", "shipped", "charged:lamp", "shipped"]);
    });
  }
});
