import { InvalidConfigurationError, Ledger, MemoryLedgerStore } from "@durable-tools/core";
import {
  Annotation,
  type BaseCheckpointSaver,
  Command,
  END,
  entrypoint,
  getConfig,
  interrupt,
  MemorySaver,
  Send,
  START,
  StateGraph,
  task,
} from "@langchain/langgraph";
import { afterEach, describe, expect, it } from "vitest";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";
import { durable, State, savers, thread } from "./test-support.js";

type Effect = <T>(name: string, fn: () => T) => Promise<T>;
const stock: Effect = async (_name, fn) => fn();
const journaled: Effect = (name, fn) => durableStep(name, fn);

/** side effect, then `interrupts` interrupt()s, in one node. */
function interruptGraph(effect: Effect, interrupts: number, counter: { charges: number }) {
  return new StateGraph(State)
    .addNode("charge", async () => {
      const receipt = await effect("charge", () => `receipt-${++counter.charges}`);
      const answers: string[] = [];
      for (let i = 0; i < interrupts; i++) answers.push(interrupt({ question: i }) as string);
      return { log: [receipt, ...answers] };
    })
    .addEdge(START, "charge")
    .addEdge("charge", END);
}

/** charge, then throw on the first run only. */
function throwingGraph(effect: Effect, counter: { charges: number; runs: number }) {
  return new StateGraph(State)
    .addNode("charge", async () => {
      const receipt = await effect("charge", () => `receipt-${++counter.charges}`);
      if (++counter.runs === 1) throw new Error("downstream hiccup after the charge");
      return { log: [receipt] };
    })
    .addEdge(START, "charge")
    .addEdge("charge", END);
}

async function runInterrupts(
  graph: ReturnType<typeof interruptGraph>,
  checkpointer: BaseCheckpointSaver,
  n: number,
) {
  const app = graph.compile({ checkpointer });
  const config = thread(`interrupts-${n}`);
  let out = await app.invoke({ log: [] }, config);
  for (let i = 0; i < n; i++) {
    expect((out as { __interrupt__?: unknown[] }).__interrupt__).toHaveLength(1);
    out = await app.invoke(new Command({ resume: `answer-${i}` }), config);
  }
  return out;
}

async function runThrowing(graph: ReturnType<typeof throwingGraph>, checkpointer: BaseCheckpointSaver) {
  const app = graph.compile({ checkpointer });
  const config = thread("throwing");
  await expect(app.invoke({ log: [] }, config)).rejects.toThrow("downstream hiccup");
  return app.invoke(null, config);
}

describe("stock LangGraph re-runs the side effect (baseline)", () => {
  it("one interrupt after the side effect: runs twice", async () => {
    const counter = { charges: 0 };
    const out = await runInterrupts(interruptGraph(stock, 1, counter), new MemorySaver(), 1);
    expect(out.log).toEqual(["receipt-2", "answer-0"]);
    expect(counter.charges).toBe(2);
  });

  it("two interrupts after the side effect: runs three times", async () => {
    const counter = { charges: 0 };
    const out = await runInterrupts(interruptGraph(stock, 2, counter), new MemorySaver(), 2);
    expect(out.log).toEqual(["receipt-3", "answer-0", "answer-1"]);
    expect(counter.charges).toBe(3);
  });

  it("charge, throw, invoke(null): runs twice", async () => {
    const counter = { charges: 0, runs: 0 };
    const out = await runThrowing(throwingGraph(stock, counter), new MemorySaver());
    expect(out.log).toEqual(["receipt-2"]);
    expect(counter.charges).toBe(2);
  });
});

describe.each(savers)("durableStep + DurableCheckpointer over $name", ({ create }) => {
  let close = () => {};
  afterEach(() => close());
  function setup() {
    const made = create();
    close = made.close;
    return durable(made.saver);
  }

  it("one interrupt after the side effect: runs once, the resume sees the recorded result", async () => {
    const { checkpointer } = setup();
    const counter = { charges: 0 };
    const out = await runInterrupts(interruptGraph(journaled, 1, counter), checkpointer, 1);
    expect(out.log).toEqual(["receipt-1", "answer-0"]);
    expect(counter.charges).toBe(1);
  });

  it("two interrupts after the side effect: runs once", async () => {
    const { checkpointer } = setup();
    const counter = { charges: 0 };
    const out = await runInterrupts(interruptGraph(journaled, 2, counter), checkpointer, 2);
    expect(out.log).toEqual(["receipt-1", "answer-0", "answer-1"]);
    expect(counter.charges).toBe(1);
  });

  it("charge, throw, invoke(null): runs once", async () => {
    const { checkpointer } = setup();
    const counter = { charges: 0, runs: 0 };
    const out = await runThrowing(throwingGraph(journaled, counter), checkpointer);
    expect(out.log).toEqual(["receipt-1"]);
    expect(counter.runs).toBe(2);
    expect(counter.charges).toBe(1);
  });

  it("two same-name steps in one node are two steps, each run once across a resume", async () => {
    const { checkpointer } = setup();
    let charges = 0;
    const app = new StateGraph(State)
      .addNode("pay", async () => {
        const first = await durableStep("charge", () => `charge-${++charges}`);
        const second = await durableStep("charge", () => `charge-${++charges}`);
        const ok = interrupt("confirm?") as string;
        return { log: [first, second, ok] };
      })
      .addEdge(START, "pay")
      .addEdge("pay", END)
      .compile({ checkpointer });
    const config = thread("same-name");
    await app.invoke({ log: [] }, config);
    const out = await app.invoke(new Command({ resume: "yes" }), config);
    expect(out.log).toEqual(["charge-1", "charge-2", "yes"]);
    expect(charges).toBe(2);
  });

  it("a fork from an older checkpoint gets new task ids and runs its steps again", async () => {
    const { checkpointer } = setup();
    let charges = 0;
    const taskIds: string[] = [];
    const app = new StateGraph(State)
      .addNode("prepare", async () => ({ log: ["prepared"] }))
      .addNode("charge", async () => {
        taskIds.push(String(getConfig()?.configurable?.__pregel_task_id));
        return { log: [await durableStep("charge", () => `charge-${++charges}`)] };
      })
      .addEdge(START, "prepare")
      .addEdge("prepare", "charge")
      .addEdge("charge", END)
      .compile({ checkpointer });
    const config = thread("fork");
    expect((await app.invoke({ log: [] }, config)).log).toEqual(["prepared", "charge-1"]);
    const history = [];
    for await (const snapshot of app.getStateHistory(config)) history.push(snapshot);
    const beforeCharge = history.find((s) => s.next.includes("charge"));
    expect(beforeCharge).toBeDefined();

    // Replaying from the older checkpoint writes a "fork" checkpoint: new task id, the step runs again.
    const replayed = await app.invoke(null, beforeCharge?.config);
    expect(replayed.log).toEqual(["prepared", "charge-2"]);
    // updateState from the older checkpoint: also a new branch, new task id, runs again.
    const forked = await app.updateState(beforeCharge?.config ?? config, { log: ["edited"] });
    const edited = await app.invoke(null, forked);
    expect(edited.log).toEqual(["prepared", "edited", "charge-3"]);

    expect(charges).toBe(3);
    expect(new Set(taskIds).size).toBe(3);
  });
});

describe("durableStep configuration", () => {
  it("takes the ledger from configurable.durable_ledger under a stock checkpointer", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const counter = { charges: 0 };
    const app = interruptGraph(journaled, 1, counter).compile({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: "configurable-ledger", durable_ledger: ledger } };
    await app.invoke({ log: [] }, config);
    const out = await app.invoke(new Command({ resume: "ok" }), config);
    expect(out.log).toEqual(["receipt-1", "ok"]);
    expect(counter.charges).toBe(1);
  });

  it("takes the ledger from options.ledger", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const counter = { charges: 0 };
    const effect: Effect = (name, fn) => durableStep(name, fn, { ledger });
    const out = await runInterrupts(interruptGraph(effect, 1, counter), new MemorySaver(), 1);
    expect(out.log).toEqual(["receipt-1", "answer-0"]);
    expect(counter.charges).toBe(1);
  });

  it("throws InvalidConfigurationError when no ledger is reachable", async () => {
    const app = interruptGraph(journaled, 1, { charges: 0 }).compile({ checkpointer: new MemorySaver() });
    const error = await app.invoke({ log: [] }, thread("no-ledger")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect((error as Error).message).toMatch(/found no ledger: compile the graph with a DurableCheckpointer/);
  });

  it("refuses a ledger with background confirmation, before the step runs", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore(), confirmation: "background" });
    const counter = { charges: 0 };
    const app = interruptGraph(journaled, 1, counter).compile({ checkpointer: new MemorySaver() });
    const config = { configurable: { thread_id: "background-ledger", durable_ledger: ledger } };
    const error = await app.invoke({ log: [] }, config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect((error as Error).message).toContain('durableStep("charge") needs a ledger that records a step');
    expect(counter.charges).toBe(0);
  });

  it("throws InvalidConfigurationError outside a graph", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let ran = false;
    const error = await durableStep("charge", () => (ran = true), { ledger }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidConfigurationError);
    expect((error as Error).message).toMatch(/outside a LangGraph node run/);
    expect(ran).toBe(false);
  });

  it("re-runs the step on a retry attempt only if it did not complete", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let charges = 0;
    let attempts = 0;
    const app = new StateGraph(State)
      .addNode(
        "pay",
        async () => {
          const receipt = await durableStep("charge", () => `charge-${++charges}`);
          if (++attempts === 1) throw new Error("transient after charge");
          return { log: [receipt] };
        },
        { retryPolicy: { maxAttempts: 3, initialInterval: 1, jitter: false, logWarning: false } },
      )
      .addEdge(START, "pay")
      .addEdge("pay", END)
      .compile({ checkpointer: new DurableCheckpointer({ saver: new MemorySaver(), ledger }) });
    const out = await app.invoke({ log: [] }, thread("retry"));
    expect(attempts).toBe(2);
    expect(charges).toBe(1);
    expect(out.log).toEqual(["charge-1"]);
  });

  it("does not journal a step that threw: the node's retry runs it again and sees its own error", async () => {
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    let tries = 0;
    const seen: unknown[] = [];
    const app = new StateGraph(State)
      .addNode(
        "pay",
        async () => {
          try {
            return { log: [await durableStep("charge", () => (++tries === 1 ? fail() : `charge-${tries}`))] };
          } catch (error) {
            seen.push(error);
            throw error;
          }
        },
        { retryPolicy: { maxAttempts: 3, initialInterval: 1, jitter: false, logWarning: false } },
      )
      .addEdge(START, "pay")
      .addEdge("pay", END)
      .compile({ checkpointer: new DurableCheckpointer({ saver: new MemorySaver(), ledger }) });
    const out = await app.invoke({ log: [] }, thread("step-throws"));
    expect(tries).toBe(2);
    expect(out.log).toEqual(["charge-2"]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(lastFailure); // the step's own error, not a ledger wrapper
    const records = (await ledger.readEvents()).filter((e) => e.type === "released" || e.type === "failed");
    expect(records.map((e) => e.type)).toEqual(["failed", "released"]);
  });

  it("does not journal a step that threw: invoke(null) after the node error runs it again", async () => {
    const { checkpointer } = durable(new MemorySaver());
    let tries = 0;
    const app = new StateGraph(State)
      .addNode("pay", async () => ({
        log: [await durableStep("charge", () => (++tries === 1 ? fail() : `charge-${tries}`))],
      }))
      .addEdge(START, "pay")
      .addEdge("pay", END)
      .compile({ checkpointer });
    const first = await app.invoke({ log: [] }, thread("step-throws-2")).catch((e: unknown) => e);
    expect(first).toBe(lastFailure);
    const out = await app.invoke(null, thread("step-throws-2"));
    expect(tries).toBe(2);
    expect(out.log).toEqual(["charge-2"]);
  });
});

let lastFailure: Error | undefined;
function fail(): never {
  lastFailure = new Error("card network down");
  throw lastFailure;
}

describe("durableStep under durability async, when the task's checkpoint was lost", () => {
  /** A MemorySaver whose put of one checkpoint never lands (the process "dies" before it does). */
  class LosingSaver extends MemorySaver {
    lose: ((metadata: { step?: number; source?: string }, ns: string) => boolean) | undefined;
    ackLost = false;
    override put(...args: Parameters<MemorySaver["put"]>): ReturnType<MemorySaver["put"]> {
      const ns = (args[0].configurable?.checkpoint_ns as string | undefined) ?? "";
      if (this.lose?.(args[2] as { step?: number; source?: string }, ns)) {
        // Never stored. Unanswered, it holds up the puts after it (as a dying process would); with
        // ackLost the run goes on as if it had landed, so later puts (the subgraph's) are made.
        if (!this.ackLost) return new Promise(() => {});
        return Promise.resolve({
          configurable: {
            thread_id: args[0].configurable?.thread_id,
            checkpoint_ns: ns,
            checkpoint_id: args[1].id,
          },
        });
      }
      return super.put(...args);
    }
  }

  it("a new process resumes from the parent, LangGraph names the task anew, and the step still runs once", async () => {
    const store = new MemoryLedgerStore();
    const saver = new LosingSaver();
    let charges = 0;
    const taskIds: string[] = [];
    const controller = new AbortController();
    const build = () =>
      new StateGraph(State)
        .addNode("pay", async () => {
          taskIds.push(getConfig()?.configurable?.__pregel_task_id as string);
          const receipt = await durableStep("charge", () => `charge-${++charges}`);
          if (taskIds.length === 1) {
            controller.abort(); // the first "process" dies right after the step
            await new Promise(() => {});
          }
          return { log: [receipt] };
        })
        .addEdge(START, "pay")
        .addEdge("pay", END)
        .compile({
          // A fresh DurableCheckpointer per "process": nothing remembered in memory.
          checkpointer: new DurableCheckpointer({ saver, ledger: new Ledger({ store }) }),
        });

    // Run 1: the input checkpoint lands, the one that schedules `pay` (step 0) never does.
    saver.lose = (metadata) => metadata.step === 0;
    const first = build()
      .invoke({ log: [] }, { ...thread("lost-checkpoint"), durability: "async", signal: controller.signal })
      .catch((e: unknown) => e);
    expect(await first).toBeInstanceOf(Error);
    expect(charges).toBe(1);
    const latest = await saver.getTuple(thread("lost-checkpoint"));
    expect(latest?.metadata?.step).toBe(-1); // only the input checkpoint was saved

    // Run 2, "a new process": resumes from the input checkpoint.
    saver.lose = undefined;
    const out = await build().invoke(null, { ...thread("lost-checkpoint"), durability: "async" });
    expect(out.log).toEqual(["charge-1"]);
    expect(charges).toBe(1);
    expect(taskIds).toHaveLength(2);
    expect(taskIds[1]).not.toBe(taskIds[0]); // LangGraph's task id changed; the journal key did not
  });

  const Order = Annotation.Root({
    log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
    item: Annotation<string>({ reducer: (_, next) => next, default: () => "" }),
  });
  /** The receipts in a run's log (a subgraph's output repeats the log it was given). */
  const receipts = (log: string[]) => [...new Set(log.filter((l) => !l.startsWith("prep")))].sort();

  /**
   * START -> prep -> (one Send per item, or one plain edge) -> outer -> END, where outer is a subgraph
   * START -> reserve -> charge -> END whose steps are journaled, and charge is nested one level
   * deeper in a second subgraph (`outerStoresNothing`: outer compiled with `checkpointer: false`).
   * The root checkpoint that schedules `outer` (step 1) is lost, and the first "process" dies once
   * every charge ran.
   */
  async function subgraphCrash(items: string[] | undefined, outerStoresNothing = false) {
    const store = new MemoryLedgerStore();
    const saver = new LosingSaver();
    const effects: string[] = [];
    const namespaces: string[] = [];
    const controller = new AbortController();
    const expected = items?.length ?? 1;
    let run = 1;
    const build = () => {
      const inner = new StateGraph(Order)
        .addNode("pay", async (state) => {
          namespaces.push(getConfig()?.configurable?.checkpoint_ns as string);
          const receipt = await durableStep("charge", () => {
            effects.push(`charge:${state.item}`);
            return `charge-${state.item}-${effects.length}`;
          });
          if (run === 1) {
            if (effects.filter((e) => e.startsWith("charge")).length === expected) controller.abort();
            await new Promise(() => {}); // the first "process" dies here
          }
          return { log: [receipt] };
        })
        .addEdge(START, "pay")
        .addEdge("pay", END)
        .compile();
      const outer = new StateGraph(Order)
        .addNode("reserve", async (state) => {
          const hold = await durableStep("reserve", () => {
            effects.push(`reserve:${state.item}`);
            return `hold-${state.item}`;
          });
          return { log: [hold] };
        })
        .addNode("charge", inner)
        .addEdge(START, "reserve")
        .addEdge("reserve", "charge")
        .addEdge("charge", END)
        .compile(outerStoresNothing ? { checkpointer: false } : {});
      const graph = new StateGraph(Order)
        .addNode("prep", async () => ({ log: ["prep"], item: "only" }))
        .addNode("outer", outer)
        .addEdge(START, "prep")
        .addEdge("outer", END);
      const routed =
        items === undefined
          ? graph.addEdge("prep", "outer")
          : graph.addConditionalEdges("prep", () =>
              items.map((item) => new Send("outer", { item, log: [] })),
            );
      return routed.compile({
        checkpointer: new DurableCheckpointer({ saver, ledger: new Ledger({ store }) }),
      });
    };

    // Step 0 ran prep; the checkpoint of step 1, which schedules `outer`, never lands.
    saver.lose = (metadata, ns) => ns === "" && metadata.step === 1;
    saver.ackLost = true;
    const config = { ...thread("lost-subgraph"), durability: "async" as const };
    const first = build()
      .invoke({ log: [] }, { ...config, signal: controller.signal })
      .catch((e: unknown) => e);
    expect(await first).toBeInstanceOf(Error);
    expect((await saver.getTuple(thread("lost-subgraph")))?.metadata?.step).toBe(0);
    const before = [...effects];

    run = 2;
    saver.lose = undefined;
    const out = await build().invoke(null, config);
    return { before, effects, namespaces, out };
  }

  it("a step in a nested subgraph runs once, though the resumed run's subgraph namespaces are new", async () => {
    const { before, effects, namespaces, out } = await subgraphCrash(undefined);
    expect(before).toEqual(["reserve:only", "charge:only"]);
    expect(effects).toEqual(before);
    expect(receipts(out.log)).toEqual(["charge-only-2", "hold-only"]);
    expect(namespaces).toHaveLength(2);
    expect(namespaces[1]).not.toBe(namespaces[0]); // new task ids at every level; the journal keys held
  });

  for (const outerStoresNothing of [false, true]) {
    it(`subgraph steps reached by Sends run once each, and each Send replays its own result${outerStoresNothing ? " (the subgraph above the inner one compiled with checkpointer: false)" : ""}`, async () => {
      await sendsReplay(outerStoresNothing);
    });
  }

  async function sendsReplay(outerStoresNothing: boolean) {
    const { before, effects, out } = await subgraphCrash(["a", "b"], outerStoresNothing);
    expect([...before].sort()).toEqual(["charge:a", "charge:b", "reserve:a", "reserve:b"]);
    expect(effects).toEqual(before);
    const position = new Map(before.map((effect, index) => [effect, index + 1]));
    expect(receipts(out.log)).toEqual(
      [
        `charge-a-${position.get("charge:a")}`,
        `charge-b-${position.get("charge:b")}`,
        "hold-a",
        "hold-b",
      ].sort(),
    );
  }
});

describe("durableStep in the functional API", () => {
  for (const durability of ["async", "sync"] as const) {
    it(`journals a step inside a task() across an interrupt resume (durability ${durability})`, async () => {
      const { checkpointer } = durable(new MemorySaver());
      let charges = 0;
      const charge = task("charge", async (order: string) =>
        durableStep("charge", () => `charge-${order}-${++charges}`),
      );
      const checkout = entrypoint({ name: "checkout", checkpointer }, async (order: string) => {
        const receipt = await charge(order);
        const approved = interrupt({ receipt }) as string;
        return { receipt, approved };
      });
      const config = { configurable: { thread_id: `functional-${durability}` }, durability };
      const first = await checkout.invoke("o1", config);
      expect(first).toMatchObject({ __interrupt__: [{ value: { receipt: "charge-o1-1" } }] });
      const out = await checkout.invoke(new Command({ resume: "yes" }), config);
      expect(out).toEqual({ receipt: "charge-o1-1", approved: "yes" });
      expect(charges).toBe(1);
    });
  }
});
