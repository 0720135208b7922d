import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import {
  Annotation,
  type BaseCheckpointSaver,
  Command,
  END,
  interrupt,
  MemorySaver,
  Send,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { describe, expect, it, vi } from "vitest";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";
import { askAfterSubgraphs, DURABILITIES, type Durability, durable, thread } from "./test-support.js";

/*
 * How a durable step's task is named across the ways LangGraph runs a task again: under every
 * durability and a switch between them, inside subgraphs that store no checkpoints, after a crash
 * with many Sends, and after a human edits an interrupted thread's state. Side effects are counted
 * outside the ledger (`effects`), exactly.
 */

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
  note: Annotation<string>({ reducer: (_, next) => next, default: () => "" }),
});

/** Ground truth: how many times each side effect ran. */
function counter() {
  const effects: Record<string, number> = {};
  const hit = (name: string) => {
    effects[name] = (effects[name] ?? 0) + 1;
    return `${name}#${effects[name]}`;
  };
  return { effects, hit };
}

/** A node that runs the durable step "charge", then stops at interrupt("ok?"); it logs both. */
function chargeThenAsk(hit: (name: string) => string) {
  return async () => ({
    log: [await durableStep("charge", () => hit("charge")), interrupt("ok?") as string],
  });
}

/** A subgraph `p1 -> p2`, each node one durable step. */
function twoStepSubgraph(hit: (name: string) => string, prefix: string, checkpointer?: false) {
  return new StateGraph(State)
    .addNode("p1", async () => ({ log: [await durableStep("charge", () => hit(`${prefix}p1`))] }))
    .addNode("p2", async () => ({ log: [await durableStep("charge", () => hit(`${prefix}p2`))] }))
    .addEdge(START, "p1")
    .addEdge("p1", "p2")
    .addEdge("p2", END)
    .compile(checkpointer === false ? { checkpointer: false } : {});
}

describe("durableStep in a subgraph a node invokes, the node then interrupted and resumed", () => {
  for (const durability of DURABILITIES) {
    for (const subCheckpointer of [undefined, false] as const) {
      it(`runs each step once (durability ${durability}, subgraphs compiled ${subCheckpointer === false ? "with checkpointer: false" : "without a checkpointer"})`, async () => {
        const { checkpointer } = durable(new MemorySaver());
        const { effects, hit } = counter();
        const first = twoStepSubgraph(hit, "a.", subCheckpointer);
        const second = twoStepSubgraph(hit, "b.", subCheckpointer);
        // Two subgraphs in one node: the second runs in the namespace `outer:<task id>|1`.
        const app = askAfterSubgraphs([first, second], checkpointer, State);
        await app.invoke({ log: [] }, thread("sub-in-node", durability));
        const out = await app.invoke(new Command({ resume: "yes" }), thread("sub-in-node", durability));
        expect(effects).toEqual({ "a.p1": 1, "a.p2": 1, "b.p1": 1, "b.p2": 1 });
        expect(out.log).toEqual(["a.p1#1", "a.p2#1", "b.p1#1", "b.p2#1", "yes"]);
      });
    }
  }
});

describe("durableStep when one thread's invocations use different durabilities", () => {
  /** Runs `graph` to its interrupt under `first`, resumes it under `then`. */
  async function switching(
    build: (checkpointer: BaseCheckpointSaver) => unknown,
    first: object,
    then: object,
  ) {
    const { checkpointer } = durable(new MemorySaver());
    const app = build(checkpointer) as App;
    await app.invoke({ log: [] }, { configurable: { thread_id: "switch" }, ...first });
    return app.invoke(new Command({ resume: "yes" }), { configurable: { thread_id: "switch" }, ...then });
  }

  for (const first of DURABILITIES) {
    for (const then of DURABILITIES) {
      it(`a step before an interrupt runs once: ${first}, then resumed under ${then}`, async () => {
        const { effects, hit } = counter();
        const out = await switching(
          (checkpointer) => prepPayGraph(hit).compile({ checkpointer }),
          { durability: first },
          { durability: then },
        );
        expect(effects).toEqual({ charge: 1 });
        expect(out.log).toEqual(["prep", "charge#1", "yes"]);
      });

      it(`a step in a subgraph node, before the subgraph's interrupt, runs once: ${first}, then ${then}`, async () => {
        const { effects, hit } = counter();
        const out = await switching(
          (checkpointer) => {
            const sub = new StateGraph(State)
              .addNode("pay", chargeThenAsk(hit))
              .addEdge(START, "pay")
              .addEdge("pay", END)
              .compile();
            return new StateGraph(State)
              .addNode("sub", sub)
              .addEdge(START, "sub")
              .addEdge("sub", END)
              .compile({ checkpointer });
          },
          { durability: first },
          { durability: then },
        );
        expect(effects).toEqual({ charge: 1 });
        expect(out.log).toEqual(["charge#1", "yes"]);
      });
    }
  }

  // A subgraph that finished inside the node before its interrupt starts over from its beginning on
  // the resume: under "exit" it stored nothing, and with `checkpointer: false` it never stores. Its
  // steps run after LangGraph cleared `__pregel_resuming`; they look up the other name all the same.
  for (const [stores, first, then] of [
    [true, "exit", "async"],
    [true, "exit", "sync"],
    [false, "exit", "async"],
    [false, "exit", "sync"],
    [false, "async", "exit"],
    [false, "sync", "exit"],
  ] as const) {
    it(`a step in a subgraph that finished before its node's interrupt runs once: ${first}, then ${then} (subgraph ${stores ? "stored" : "compiled with checkpointer: false"})`, async () => {
      const { effects, hit } = counter();
      const out = await switching(
        (checkpointer) =>
          askAfterSubgraphs([twoStepSubgraph(hit, "", stores ? undefined : false)], checkpointer, State),
        { durability: first },
        { durability: then },
      );
      expect(effects).toEqual({ p1: 1, p2: 1 });
      expect(out.log).toEqual(["p1#1", "p2#1", "yes"]);
    });
  }

  it("checkpointDuring: false and durability async on one thread, either way round", async () => {
    for (const [first, then] of [
      [{ checkpointDuring: false }, { durability: "async" }],
      [{ durability: "async" }, { checkpointDuring: false }],
    ]) {
      const { effects, hit } = counter();
      await switching(
        (checkpointer) =>
          new StateGraph(State)
            .addNode("pay", chargeThenAsk(hit))
            .addEdge(START, "pay")
            .addEdge("pay", END)
            .compile({ checkpointer }),
        first as object,
        then as object,
      );
      expect(effects).toEqual({ charge: 1 });
    }
  });
});

/** What the tests call on a compiled graph (graphs with different nodes have different types). */
interface App {
  invoke(input: unknown, config: object): Promise<{ log: string[] }>;
}

/** The interrupts a run stopped at. */
const interruptsOf = (out: unknown) => (out as { __interrupt__?: unknown[] }).__interrupt__;

function prepPayGraph(hit: (name: string) => string) {
  return new StateGraph(State)
    .addNode("prep", async () => ({ log: ["prep"] }))
    .addNode("pay", chargeThenAsk(hit))
    .addEdge(START, "prep")
    .addEdge("prep", "pay")
    .addEdge("pay", END);
}

describe("durableStep under durability exit set without `durability`", () => {
  for (const [label, options] of [
    ["checkpointDuring: false", { checkpointDuring: false }],
    ['configurable.__pregel_durability "exit"', { configurable: { __pregel_durability: "exit" } }],
  ] as const) {
    it(`${label}: the step runs at once, and once across an interrupt resume`, async () => {
      const { checkpointer } = durable(new MemorySaver());
      const { effects, hit } = counter();
      const app = prepPayGraph(hit).compile({ checkpointer });
      const config = { ...options, configurable: { thread_id: "exit-like", ...options.configurable } };
      const first = await app.invoke({ log: [] }, config);
      expect(interruptsOf(first)).toHaveLength(1);
      // LangGraph stored nothing until the run stopped: no checkpoint was waited for.
      const out = await app.invoke(new Command({ resume: "yes" }), config);
      expect(effects).toEqual({ charge: 1 });
      expect(out.log).toEqual(["prep", "charge#1", "yes"]);
    });
  }
});

describe("durableStep in a subgraph reached by more than 64 Sends, after a crash lost the checkpoint that sent them", () => {
  it("runs each item's step once", async () => {
    const N = 70;
    const store = new MemoryLedgerStore();
    const saver = new MemorySaver();
    const { effects, hit } = counter();
    const controller = new AbortController();
    let run = 1;
    let done = 0;
    const build = () => {
      const reserve = new StateGraph(Order)
        .addNode("reserve", async (state) => {
          const hold = await durableStep("reserve", () => hit(state.item));
          if (run === 1) {
            if (++done === N) controller.abort(); // the first "process" dies once every item ran
            await new Promise(() => {});
          }
          return { log: [hold] };
        })
        .addEdge(START, "reserve")
        .addEdge("reserve", END)
        .compile();
      // A fresh DurableCheckpointer per "process": nothing remembered in memory.
      return fanOut(
        N,
        reserve,
        new DurableCheckpointer({ saver, ledger: new Ledger({ store }), channelDeltas: false }),
      );
    };
    const config = thread("fan-out", "async");
    const first = await build()
      .invoke({ log: [] }, { ...config, signal: controller.signal })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Error);
    expect(Object.keys(effects)).toHaveLength(N);
    // The crash cost the root checkpoint that holds the Sends (step 1): the next process resumes from
    // step 0, re-creates it under a new id, and every Send's subgraph starts in a new namespace.
    const lost = await saver.getTuple({ configurable: { thread_id: "fan-out" } });
    expect(lost?.metadata?.step).toBe(1);
    delete saver.storage["fan-out"]?.[""]?.[lost?.checkpoint.id ?? ""];
    expect((await saver.getTuple({ configurable: { thread_id: "fan-out" } }))?.metadata?.step).toBe(0);

    run = 2;
    const out = await build().invoke(null, config);
    expect(Object.entries(effects).filter(([, count]) => count !== 1)).toEqual([]);
    expect(Object.keys(effects)).toHaveLength(N);
    expect(out.log.filter((entry) => entry !== "prep")).toHaveLength(N);
  }, 30_000);
});

describe("durableStep in subgraphs reached by more than 64 Sends, the sending checkpoint seen by the DurableCheckpointer", () => {
  for (const durability of ["async", "sync"] as const) {
    it(`names each Send's subgraph without reading that checkpoint back (durability ${durability})`, async () => {
      const N = 70;
      const saver = new MemorySaver();
      const getTuple = vi.spyOn(saver, "getTuple");
      const { effects, hit } = counter();
      const reserve = new StateGraph(Order)
        .addNode("reserve", async (state) => ({ log: [await durableStep("reserve", () => hit(state.item))] }))
        .addEdge(START, "reserve")
        .addEdge("reserve", END)
        .compile();
      const app = fanOut(
        N,
        reserve,
        new DurableCheckpointer({
          saver,
          ledger: new Ledger({ store: new MemoryLedgerStore() }),
          channelDeltas: false, // (deltas read holders by id: not what this counts)
        }),
      );
      const out = await app.invoke({ log: [] }, thread("sends-seen", durability));
      expect(Object.keys(effects)).toHaveLength(N);
      expect(Object.values(effects).every((count) => count === 1)).toBe(true);
      expect(out.log.filter((entry) => entry !== "prep")).toHaveLength(N);
      // Root checkpoints read by id: none. (LangGraph's own loads: the root's latest, and one per
      // subgraph in the subgraph's namespace.)
      const byId = getTuple.mock.calls.filter(
        ([config]) => (config.configurable?.checkpoint_ns ?? "") === "" && config.configurable?.checkpoint_id,
      );
      expect(byId).toEqual([]);
      expect(getTuple).toHaveBeenCalledTimes(1 + N);
    });
  }
});

const Order = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
  item: Annotation<string>({ reducer: (_, next) => next, default: () => "" }),
});

const orderGraph = () => new StateGraph(Order);

/** `prep`, then N Sends to `reserve` (a subgraph node), then the end. */
function fanOut(
  n: number,
  reserve: Parameters<ReturnType<typeof orderGraph>["addNode"]>[1],
  checkpointer: DurableCheckpointer,
) {
  return orderGraph()
    .addNode("prep", async () => ({ log: ["prep"] }))
    .addNode("reserve", reserve)
    .addEdge(START, "prep")
    .addConditionalEdges("prep", () =>
      Array.from({ length: n }, (_, i) => new Send("reserve", { item: `i${i}`, log: [] })),
    )
    .addEdge("reserve", END)
    .compile({ checkpointer });
}

describe("durableStep after a human edits an interrupted thread with updateState", () => {
  /** START -> prep -> pay (a step, then interrupt) -> END. */
  function edited(durability: Durability) {
    const { checkpointer } = durable(new MemorySaver());
    const { effects, hit } = counter();
    const app = new StateGraph(State)
      .addNode("prep", async () => ({ log: ["prep"] }))
      .addNode("pay", async (state) => {
        const receipt = await durableStep("charge", () => hit("charge"));
        const ok = interrupt("ok?") as string;
        return { log: [receipt, ok, state.note] };
      })
      .addEdge(START, "prep")
      .addEdge("prep", "pay")
      .addEdge("pay", END)
      .compile({ checkpointer });
    return { app, effects, config: thread(`edited-${durability}`, durability) };
  }

  /** Interrupt; the edits, at the head; optionally invoke(null) first; the resume: the step replays. */
  async function editThenResume(durability: Durability, notes: string[], invokeNullFirst = false) {
    const { app, effects, config } = edited(durability);
    await app.invoke({ log: [] }, config);
    for (const note of notes) await app.updateState(config, { note });
    expect((await app.getState(config)).next).toEqual(["pay"]);
    if (invokeNullFirst) expect(interruptsOf(await app.invoke(null, config))).toHaveLength(1);
    const out = await app.invoke(new Command({ resume: "yes" }), config);
    expect(effects).toEqual({ charge: 1 });
    expect(out.log).toEqual(["prep", "charge#1", "yes", notes.at(-1)]);
  }

  for (const durability of DURABILITIES) {
    it(`an edit at the head, then the resume: the completed step is not run again (durability ${durability})`, () =>
      editThenResume(durability, ["edited"]));
  }

  it("an edit at the head, then invoke(null): the node runs again to its interrupt, the step replays", () =>
    editThenResume("async", ["edited"], true));

  it("two edits at the head in a row: the step still replays", () =>
    editThenResume("async", ["first edit", "second edit"]));

  it("an edit of the checkpoint once the thread moved past it branches: the step runs again there", async () => {
    const { app, effects, config } = edited("async");
    await app.invoke({ log: [] }, config);
    const interrupted = (await app.getState(config)).config;
    await app.invoke(new Command({ resume: "yes" }), config); // pay completes
    const branch = await app.updateState(interrupted, { note: "edited later" });
    const out = await app.invoke(new Command({ resume: "again" }), branch);
    expect(effects).toEqual({ charge: 2 });
    expect(out.log).toContain("charge#2");
  });

  it("an edit of an interrupted checkpoint the thread has moved past branches: the step runs again there", async () => {
    const { app, effects, config } = edited("async");
    await app.invoke({ log: [] }, config);
    const interrupted = (await app.getState(config)).config;
    await app.invoke({ log: ["new input"] }, config); // the thread moves on; pay runs anew and asks again
    expect(effects).toEqual({ charge: 2 });
    const branch = await app.updateState(interrupted, { note: "edited later" });
    await app.invoke(new Command({ resume: "yes" }), branch);
    expect(effects).toEqual({ charge: 3 });
  });

  it("a node that had finished and that the edit triggers again runs anew", async () => {
    const { checkpointer } = durable(new MemorySaver());
    const { effects, hit } = counter();
    const app = new StateGraph(State)
      .addNode("a", async () => ({ log: [await durableStep("charge", () => hit("a"))] }))
      .addNode("b", async () => {
        const receipt = await durableStep("charge", () => hit("b"));
        return { log: [receipt, interrupt("ok?") as string] };
      })
      .addNode("edit", async () => ({}))
      .addConditionalEdges(START, () => ["a", "b"], ["a", "b", "edit"])
      .addEdge("edit", "a")
      .addEdge("a", END)
      .addEdge("b", END)
      .compile({ checkpointer });
    const config = thread("retrigger");
    await app.invoke({ log: [] }, config);
    expect(effects).toEqual({ a: 1, b: 1 });
    // At the head, as if `edit` ran: it triggers `a` again, which had finished there.
    await app.updateState(config, { note: "edited" }, "edit");
    expect((await app.getState(config)).next).toEqual(["a"]);
    await app.invoke(null, config);
    expect(effects).toEqual({ a: 2, b: 1 });
  });

  for (const durability of DURABILITIES) {
    it(`an edit at the head of a thread interrupted inside a subgraph node: its steps replay (durability ${durability})`, async () => {
      const { checkpointer } = durable(new MemorySaver());
      const { effects, hit } = counter();
      const sub = new StateGraph(State)
        .addNode("reserve", async () => ({ log: [await durableStep("reserve", () => hit("reserve"))] }))
        .addNode("pay", chargeThenAsk(hit))
        .addEdge(START, "reserve")
        .addEdge("reserve", "pay")
        .addEdge("pay", END)
        .compile();
      const app = new StateGraph(State)
        .addNode("prep", async () => ({ log: ["prep"] }))
        .addNode("sub", sub)
        .addEdge(START, "prep")
        .addEdge("prep", "sub")
        .addEdge("sub", END)
        .compile({ checkpointer });
      const config = thread(`edited-sub-${durability}`, durability);
      await app.invoke({ log: [] }, config);
      // The edit re-schedules the subgraph node, which starts over in a new namespace.
      await app.updateState(config, { note: "edited" }, "prep");
      expect((await app.getState(config)).next).toEqual(["sub"]);
      // The subgraph starts over in a new namespace: its steps replay, and it asks again.
      const again = await app.invoke(new Command({ resume: "yes" }), config);
      expect(interruptsOf(again)).toHaveLength(1);
      const out = await app.invoke(new Command({ resume: "yes" }), config);
      expect(effects).toEqual({ reserve: 1, charge: 1 });
      expect(out.log.slice(-3)).toEqual(["reserve#1", "charge#1", "yes"]); // (the subgraph returns the log it got)
    });
  }

  it("an edit of the subgraph's own state at its head: its step replays", async () => {
    const { checkpointer } = durable(new MemorySaver());
    const { effects, hit } = counter();
    const sub = new StateGraph(State)
      .addNode("pay", async (state) => {
        const receipt = await durableStep("charge", () => hit("charge"));
        return { log: [receipt, interrupt("ok?") as string, state.note] };
      })
      .addEdge(START, "pay")
      .addEdge("pay", END)
      .compile();
    const app = new StateGraph(State)
      .addNode("sub", sub)
      .addEdge(START, "sub")
      .addEdge("sub", END)
      .compile({ checkpointer });
    const config = thread("edited-sub-state");
    await app.invoke({ log: [] }, config);
    const subState = (await app.getState(config, { subgraphs: true })).tasks[0]?.state;
    expect(subState).toBeDefined();
    await app.updateState((subState as { config: typeof config }).config, { note: "edited" });
    const out = await app.invoke(new Command({ resume: "yes" }), config);
    expect(effects).toEqual({ charge: 1 });
    expect(out.log).toEqual(["charge#1", "yes", "edited"]);
  });
});

describe("what the alias lookup costs", () => {
  for (const durability of DURABILITIES) {
    it(`one ledger store read more per step only where the step may have run before, subgraphs included; none on a fresh run (durability ${durability})`, async () => {
      const store = new MemoryLedgerStore();
      const checkpointer = new DurableCheckpointer({
        saver: new MemorySaver(),
        ledger: new Ledger({ store }),
      });
      const reads = vi.spyOn(store, "get");
      const { effects, hit } = counter();
      const stored = twoStepSubgraph(hit, "s.");
      const unstored = twoStepSubgraph(hit, "u.", false);
      const later = twoStepSubgraph(hit, "l.");
      const app = new StateGraph(State)
        .addNode("pay", async () => {
          const receipt = await durableStep("charge", () => hit("charge"));
          const a = await stored.invoke({ log: [] });
          const b = await unstored.invoke({ log: [] });
          return { log: [receipt, ...a.log, ...b.log, interrupt("ok?") as string] };
        })
        .addNode("after", async () => {
          const { log } = await later.invoke({ log: [] });
          return { log: [await durableStep("notify", () => hit("notify")), ...log] };
        })
        .addEdge(START, "pay")
        .addEdge("pay", "after")
        .addEdge("after", END)
        .compile({ checkpointer });
      const config = thread(`cost-${durability}`, durability);
      await app.invoke({ log: [] }, config);
      expect(reads).not.toHaveBeenCalled();
      await app.invoke(new Command({ resume: "yes" }), config);
      // charge and the steps of the subgraphs the resumed task runs again, not `after`'s: the
      // unstored subgraph starts over, and so does the stored one under "exit" (which stored
      // nothing); under "async" and "sync" LangGraph resumes the stored one, finished: no step runs.
      expect(reads).toHaveBeenCalledTimes(durability === "exit" ? 5 : 3);
      const once = { charge: 1, "s.p1": 1, "s.p2": 1, "u.p1": 1, "u.p2": 1, notify: 1, "l.p1": 1, "l.p2": 1 };
      expect(effects).toEqual(once);
      // New input on the thread is a fresh run too: its tasks run in checkpoints of its own.
      reads.mockClear();
      await app.invoke({ log: [] }, config);
      expect(reads).not.toHaveBeenCalled();
      expect(effects).toEqual({ ...once, charge: 2, "s.p1": 2, "s.p2": 2, "u.p1": 2, "u.p2": 2 });
    });
  }

  it("reads the ledger once more per step only in the tasks a resumed run starts with", async () => {
    const { checkpointer, ledger } = durable(new MemorySaver());
    const get = vi.spyOn(ledger, "get");
    const { effects, hit } = counter();
    const app = new StateGraph(State)
      .addNode("pay", async () => {
        const a = await durableStep("charge", () => hit("charge"));
        const b = await durableStep("ship", () => hit("ship"));
        return { log: [a, b, interrupt("ok?") as string] };
      })
      .addNode("after", async () => ({ log: [await durableStep("notify", () => hit("notify"))] }))
      .addEdge(START, "pay")
      .addEdge("pay", "after")
      .addEdge("after", END)
      .compile({ checkpointer });
    await app.invoke({ log: [] }, thread("cost"));
    expect(get).not.toHaveBeenCalled();
    await app.invoke(new Command({ resume: "yes" }), thread("cost"));
    expect(get).toHaveBeenCalledTimes(2); // charge and ship in the resumed task; not notify
    expect(effects).toEqual({ charge: 1, ship: 1, notify: 1 });
  });
});
