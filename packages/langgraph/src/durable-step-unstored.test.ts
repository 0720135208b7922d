import { Command, END, getConfig, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { durableStep } from "./durable-step.js";
import { askAfterSubgraphs, DURABILITIES, durable, State, thread } from "./test-support.js";

/*
 * durableStep below a subgraph whose checkpoints are not stored while the step runs: one compiled
 * with `checkpointer: false` (it never stores any; the DurableCheckpointer knows it because no loop
 * of the run loaded its namespace), or, under durability "exit", a subgraph that stores them only
 * when it stops. Such a subgraph starts over when the node around it runs again, under new task ids.
 * Side effects are counted outside the ledger, exactly.
 */

/**
 * START -> outer -> END. `outer` invokes `middle` (START -> call -> END), whose `call` invokes
 * `inner` (START -> pay -> END, one durable step), then stops at interrupt().
 */
function nested(options: { middleStores: boolean; innerStores: boolean }, onPay: () => void = () => {}) {
  const { checkpointer } = durable(new MemorySaver());
  const effects = { pay: 0 };
  const compileOptions = (stores: boolean) => (stores ? {} : { checkpointer: false as const });
  const inner = new StateGraph(State)
    .addNode("pay", async () => {
      onPay();
      return { log: [await durableStep("charge", () => `pay#${++effects.pay}`)] };
    })
    .addEdge(START, "pay")
    .addEdge("pay", END)
    .compile(compileOptions(options.innerStores));
  const middle = new StateGraph(State)
    .addNode("call", async () => inner.invoke({ log: [] }))
    .addEdge(START, "call")
    .addEdge("call", END)
    .compile(compileOptions(options.middleStores));
  const app = askAfterSubgraphs([middle], checkpointer, State);
  return { app, checkpointer, effects };
}

describe("durableStep two subgraphs deep, below a subgraph whose checkpoints are not stored while it runs", () => {
  for (const [durability, middleStores, innerStores] of [
    ...DURABILITIES.flatMap((durability) =>
      [true, false].map((inner) => [durability, false, inner] as const),
    ),
    // Both stored, under "exit": the subgraphs stored nothing and start over.
    ["exit", true, true] as const,
  ]) {
    it(`runs at once, and once across an interrupt of the node above (durability ${durability}, middle subgraph ${middleStores ? "stored" : "with checkpointer: false"}, inner subgraph ${innerStores ? "stored" : "with checkpointer: false"})`, async () => {
      const { app, effects } = nested({ middleStores, innerStores });
      const config = thread("unstored", durability);
      const first = await app.invoke({ log: [] }, config);
      expect((first as { __interrupt__?: unknown[] }).__interrupt__).toHaveLength(1);
      expect(effects.pay).toBe(1);
      const out = await app.invoke(new Command({ resume: "yes" }), config);
      expect(effects.pay).toBe(1);
      expect(out.log).toEqual(["pay#1", "yes"]);
    });
  }
});

describe("what the DurableCheckpointer learns of a run's loads", () => {
  it("which subgraph namespaces loaded their checkpoint (none that stores none), and the task that invoked each", async () => {
    const seen: { loaded: (boolean | undefined)[]; invocation: unknown }[] = [];
    const { app, checkpointer } = nested({ middleStores: false, innerStores: true }, () => {
      const config = getConfig() as { control?: unknown; configurable: { checkpoint_ns: string } };
      // pay runs in `outer:<id>|call:<id>|pay:<id>`: middle's loop in `outer:<id>`, inner's below it.
      const [outer, call] = config.configurable.checkpoint_ns.split("|");
      const middleNs = outer as string;
      const innerNs = `${outer}|${call}`;
      const { runs } = checkpointer;
      seen.push({
        loaded: [middleNs, innerNs].map((ns) => runs.loadedIn(config.control, "loads", ns)),
        invocation: runs.invocation(config.control, "loads", innerNs),
      });
    });
    await app.invoke({ log: [] }, thread("loads"));
    expect(seen).toEqual([
      {
        loaded: [false, true],
        invocation: { node: "call", step: 1, triggers: ["branch:to:call"], path: ["__pregel_pull", "call"] },
      },
    ]);
  });
});
