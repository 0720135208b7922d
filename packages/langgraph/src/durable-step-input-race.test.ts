import { Annotation, Command, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { durableStep } from "./durable-step.js";
import { durable, thread } from "./test-support.js";

/*
 * Two runs started at once on one thread's head with different input (`Command({ update, goto })`
 * runs a node from the run's "input" checkpoint): their steps are two operations. Named by the parent
 * checkpoint alone, the second would replay the first's result and its own effect would never happen.
 */
const Order = Annotation.Root({ order: Annotation<string>(), receipt: Annotation<string>() });

describe("durableStep in two runs given different input on one head", () => {
  for (const durability of ["async", "sync"] as const) {
    it(`keeps each run's step its own (durability ${durability})`, async () => {
      const charged: string[] = []; // ground truth
      const { checkpointer } = durable(new MemorySaver());
      const app = new StateGraph(Order)
        .addNode("idle", async () => ({}), { ends: ["charge"] })
        .addNode("charge", async (state) => {
          // The first run's step starts after the second's has finished.
          if (state.order === "A") await new Promise((resolve) => setTimeout(resolve, 30));
          const receipt = await durableStep("charge", async () => {
            charged.push(state.order);
            return `receipt-for-${state.order}`;
          });
          return { receipt };
        })
        .addEdge(START, "idle")
        .addEdge("idle", END)
        .addEdge("charge", END)
        .compile({ checkpointer });
      const config = thread("t", durability);
      await app.invoke({ order: "o0" }, config);

      const results = await Promise.allSettled(
        ["A", "B"].map((order) => app.invoke(new Command({ update: { order }, goto: "charge" }), config)),
      );
      // One run wins the thread; the other is refused at its checkpoint (optimistic concurrency).
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      const { order, receipt } = (won[0] as PromiseFulfilledResult<{ order: string; receipt: string }>).value;
      expect(receipt).toBe(`receipt-for-${order}`);
      expect([...charged].sort()).toEqual(["A", "B"]);
      expect((await app.getState(config)).values).toEqual({ order, receipt: `receipt-for-${order}` });
    });
  }
});
