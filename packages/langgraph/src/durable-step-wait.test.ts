import { isLedgerUnavailableError } from "@durable-tools/core";
import { Annotation, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { durableStep } from "./durable-step.js";
import { durable } from "./test-support.js";

/*
 * The one case where a step still waits for a checkpoint that never comes: under durability "async",
 * a step two subgraphs deep below a subgraph compiled with `checkpointer: false` (which stores no
 * checkpoints, so the deeper level cannot be named stably). It waits the full 10 s, so it has a file
 * of its own (files run in parallel), and fails closed with an error that says so.
 */

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
});

describe("durableStep below a subgraph that stores no checkpoints, under durability async", () => {
  it("does not run, and says which subgraph and why", async () => {
    const { checkpointer } = durable(new MemorySaver());
    let charges = 0;
    const inner = new StateGraph(State)
      .addNode("pay", async () => ({ log: [await durableStep("charge", () => `charge-${++charges}`)] }))
      .addEdge(START, "pay")
      .addEdge("pay", END)
      .compile();
    const middle = new StateGraph(State)
      .addNode("call", async () => inner.invoke({ log: [] }))
      .addEdge(START, "call")
      .addEdge("call", END)
      .compile({ checkpointer: false });
    const app = new StateGraph(State)
      .addNode("outer", async () => middle.invoke({ log: [] }))
      .addEdge(START, "outer")
      .addEdge("outer", END)
      .compile({ checkpointer });
    const error = await app
      .invoke({ log: [] }, { configurable: { thread_id: "no-checkpointer" }, durability: "async" })
      .catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^durableStep\("charge"\): checkpoint \S+ of thread no-checkpointer, namespace "outer:[^"|]+"/,
    );
    expect(message).toContain("compiled with `checkpointer: false` it stores no checkpoints");
    expect(message).not.toContain("probably failed");
    expect(charges).toBe(0);
  }, 30_000);
});
