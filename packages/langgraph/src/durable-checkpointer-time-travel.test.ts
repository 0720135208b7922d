import type { RunnableConfig } from "@langchain/core/runnables";
import { Command, END, interrupt, START, StateGraph } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { BRANCH_KEY } from "./checkpoint-lineage.js";
import { DurableCheckpointer } from "./durable-checkpointer.js";
import { durableStep } from "./durable-step.js";
import { CheckpointConflictError, isCheckpointConflictError } from "./errors.js";
import {
  approveThenCharge,
  DURABILITIES,
  durableOver,
  gate,
  holdSlow,
  State,
  savers,
  thread,
} from "./test-support.js";

/*
 * Time travel: a run given the checkpoint_id of a checkpoint its thread has moved past branches from
 * it, as stock LangGraph does, whatever source its first checkpoint has; runs that resume the head
 * stay refused when another run wrote first (optimistic concurrency).
 */

/** START -> a -> b -> END, counting node runs. */
function twoSteps(runs: { a: number; b: number }) {
  return new StateGraph(State)
    .addNode("a", async () => {
      runs.a++;
      return { log: ["a"] };
    })
    .addNode("b", async () => {
      runs.b++;
      return { log: ["b"] };
    })
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", END);
}

/** The config of the checkpoint in the thread's history that is about to run `node`. */
async function checkpointBefore(
  app: {
    getStateHistory(
      config: RunnableConfig,
    ): AsyncIterableIterator<{ next: string[]; config: RunnableConfig }>;
  },
  config: RunnableConfig,
  node: string,
): Promise<RunnableConfig> {
  for await (const snapshot of app.getStateHistory(config)) {
    if (snapshot.next.includes(node)) return snapshot.config;
  }
  throw new Error(`no checkpoint before ${node}`);
}

describe.each(savers)("time travel through a DurableCheckpointer over $name", ({ create }) => {
  const setup = durableOver(create);

  for (const durability of DURABILITIES) {
    it(`new input at an older checkpoint_id branches from it (durability ${durability})`, async () => {
      const { checkpointer } = setup();
      const runs = { a: 0, b: 0 };
      const app = twoSteps(runs).compile({ checkpointer });
      const config = thread("new-input");
      await app.invoke({ log: ["x"] }, config);
      const older = await checkpointBefore(app, config, "b");

      const out = await app.invoke({ log: ["new-input"] }, { ...older, durability });

      // What stock LangGraph returns for the same calls over its bare saver.
      expect(out.log).toEqual(["x", "a", "new-input", "a", "b"]);
      expect(runs).toEqual({ a: 2, b: 2 });
      const head = await app.getState(config);
      expect(head.values.log).toEqual(["x", "a", "new-input", "a", "b"]);
      // The branch's first checkpoint is built on the older one, and marked as starting a branch.
      const first: { parent?: string; metadata?: Record<string, unknown> }[] = [];
      for await (const snapshot of app.getStateHistory(config)) {
        if (snapshot.parentConfig?.configurable?.checkpoint_id === older.configurable?.checkpoint_id) {
          first.push({ metadata: snapshot.metadata as Record<string, unknown> });
        }
      }
      // The original run's next checkpoint (not marked) and the branch's first one (marked).
      expect(first.map((f) => f.metadata?.[BRANCH_KEY] === true).sort()).toEqual([false, true]);
    });
  }

  for (const how of ["invoke(null)", "Command(update)"] as const) {
    it(`a fork from an older checkpoint_id under durability exit (${how}) goes through`, async () => {
      const { checkpointer } = setup();
      const runs = { a: 0, b: 0 };
      const app = twoSteps(runs).compile({ checkpointer });
      const config = thread(`exit-fork-${how}`);
      await app.invoke({ log: ["x"] }, config);
      const older = await checkpointBefore(app, config, "b");
      const at = { ...older, durability: "exit" as const };

      const out =
        how === "invoke(null)"
          ? await app.invoke(null, at)
          : await app.invoke(new Command({ update: { log: ["edit"] } }), at);

      const expected = how === "invoke(null)" ? ["x", "a", "b"] : ["x", "a", "edit", "b"];
      expect(out.log).toEqual(expected);
      expect(runs).toEqual({ a: 1, b: 2 });
      expect((await app.getState(config)).values.log).toEqual(expected);
    });
  }

  for (const durability of ["async", "sync"] as const) {
    it(`resuming an older interrupt again branches, and the branch's steps run anew (durability ${durability})`, async () => {
      const { checkpointer } = setup();
      let ships = 0;
      const app = new StateGraph(State)
        .addNode("ask", async () => ({ log: [interrupt("ok?") as string] }))
        .addNode("ship", async () => ({ log: [await durableStep("ship", () => `ship-${++ships}`)] }))
        .addEdge(START, "ask")
        .addEdge("ask", "ship")
        .addEdge("ship", END)
        .compile({ checkpointer });
      const config = thread(`again-${durability}`);
      await app.invoke({ log: [] }, config);
      const atInterrupt = (await app.getState(config)).config;
      expect((await app.invoke(new Command({ resume: "yes" }), config)).log).toEqual(["yes", "ship-1"]);

      const out = await app.invoke(new Command({ resume: "again" }), { ...atInterrupt, durability });

      // Stock LangGraph over its bare saver returns the same and ships again: a branch's tasks are new.
      expect(out.log).toEqual(["yes", "ship-2"]);
      expect(ships).toBe(2);
    });
  }

  it("a branch read back by another process is still a branch: its steps do not replay the original's", async () => {
    const { checkpointer, saver, ledger } = setup();
    let ships = 0;
    const build = (cp: DurableCheckpointer) =>
      new StateGraph(State)
        .addNode("ask", async () => ({ log: [interrupt("ok?") as string] }))
        .addNode("ship", async () => {
          const confirmed = interrupt("ship?") as string;
          return { log: [confirmed, await durableStep("ship", () => `ship-${++ships}`)] };
        })
        .addEdge(START, "ask")
        .addEdge("ask", "ship")
        .addEdge("ship", END)
        .compile({ checkpointer: cp });
    const app = build(checkpointer);
    const config = thread("branch-restart");
    await app.invoke({ log: [] }, config);
    const atAsk = (await app.getState(config)).config;
    await app.invoke(new Command({ resume: "yes" }), config);
    expect((await app.invoke(new Command({ resume: "go" }), config)).log).toEqual(["yes", "go", "ship-1"]);
    // Branch at the first interrupt: the branch stops at ship's interrupt, built on the same checkpoint
    // at the same step as the original's.
    await app.invoke(new Command({ resume: "again" }), atAsk);

    // Another process (a new DurableCheckpointer that learns the branch from the saver) finishes it.
    const later = build(new DurableCheckpointer({ saver, ledger }));
    const out = await later.invoke(new Command({ resume: "go-again" }), config);

    expect(out.log).toEqual(["yes", "go-again", "ship-2"]);
    expect(ships).toBe(2);
  });

  it("a run that resumed the head stays refused after another run wrote, even once its parent was loaded by checkpoint_id elsewhere", async () => {
    const { checkpointer } = setup();
    let charges = 0;
    const entered = gate();
    const release = gate();
    const app = approveThenCharge(checkpointer, () => `charge-${++charges}`, holdSlow(entered, release));
    const config = thread("stale-head");
    await app.invoke({ log: [] }, config);
    const head = (await app.getState(config)).config;
    const headId = head.configurable?.checkpoint_id as string;

    // Worker A resumes the head and is held inside the node (it has loaded the head).
    const slow = app.invoke(new Command({ resume: "slow" }), config).catch((e: unknown) => e);
    await entered.opened;
    // Worker B resumes the same head and finishes first.
    expect((await app.invoke(new Command({ resume: "fast" }), config)).log).toEqual(["fast", "charge-1"]);
    const latestId = (await app.getState(config)).config.configurable?.checkpoint_id;
    // Someone looks at the old head by its id, and a run branches from it on purpose: both are fine.
    expect((await app.getState(head)).values.log).toEqual([]);
    // (LangGraph replays the answer the old head was resumed with: stock gives the same log.)
    const branch = await app.invoke(new Command({ resume: "branch" }), head);
    expect(branch.log).toEqual(["fast", "charge-1"]);
    const branchHeadId = (await app.getState(config)).config.configurable?.checkpoint_id;

    // A's own checkpoint, built on the old head, is still refused.
    release.open();
    const error = await slow;
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(error).toMatchObject({ parentCheckpointId: headId, latestCheckpointId: branchHeadId });
    expect(branchHeadId).not.toBe(latestId);
    expect((error as Error).message).toContain(
      `this run built on checkpoint ${headId}, but the thread has moved on to checkpoint ${branchHeadId}, written by another run of this thread (two runs resumed it at once)`,
    );
    // The charge ran once: B ran it, the branch and A (same task of the same checkpoint) replayed it.
    expect(charges).toBe(1);
    expect((await app.getState(config)).values.log).toEqual(["fast", "charge-1"]);
  });

  it("two runs given the head's checkpoint_id at once: one goes through, the other is refused", async () => {
    const { checkpointer } = setup();
    let charges = 0;
    let inside = 0;
    const bothInside = gate();
    const app = approveThenCharge(
      checkpointer,
      () => `charge-${++charges}`,
      () => {
        // Both runs have loaded the head before either writes a checkpoint.
        if (++inside === 2) bothInside.open();
        return bothInside.opened;
      },
    );
    const config = thread("head-by-id");
    await app.invoke({ log: [] }, config);
    const head = (await app.getState(config)).config;

    const results = await Promise.allSettled([
      app.invoke(new Command({ resume: "yes" }), head),
      app.invoke(new Command({ resume: "yes" }), head),
    ]);

    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    expect(refused).toHaveLength(1);
    expect(isCheckpointConflictError(refused[0]?.reason)).toBe(true);
    expect(refused[0]?.reason).toMatchObject({ parentCheckpointId: head.configurable?.checkpoint_id });
    expect(charges).toBe(1);
    expect((await app.getState(config)).values.log).toEqual(["yes", "charge-1"]);
  });
});
