import { isLedgerUnavailableError } from "@durable-tools/core";
import { type CheckpointMetadata, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { BRANCH_KEY, CheckpointLineage, isBranch, originOf } from "./checkpoint-lineage.js";

describe("CheckpointLineage", () => {
  it("answers what it learned, per thread and namespace", async () => {
    const lineage = new CheckpointLineage();
    lineage.learn("t", "", "c1", { parentId: "c0", source: "loop" });
    lineage.learn("t", "sub:1", "c1", { parentId: null, source: "input" });
    expect(await lineage.originOf("t", "", "c1", 0)).toEqual({ parentId: "c0", source: "loop" });
    expect(await lineage.originOf("t", "sub:1", "c1", 0)).toEqual({ parentId: null, source: "input" });
  });

  it("waits for a checkpoint LangGraph has not handed over yet", async () => {
    const lineage = new CheckpointLineage();
    const waiting = lineage.originOf("t", "", "c2", 5_000);
    const second = lineage.originOf("t", "", "c2", 5_000);
    lineage.learn("t", "", "c2", { parentId: "c1", source: "loop" });
    expect(await waiting).toEqual({ parentId: "c1", source: "loop" });
    expect(await second).toEqual({ parentId: "c1", source: "loop" });
  });

  it("fails closed when the checkpoint never comes", async () => {
    const lineage = new CheckpointLineage();
    const error = await lineage.originOf("t", "", "never", 20).catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /checkpoint never of thread t was not handed to the DurableCheckpointer within 20 ms/,
    );
    // A late arrival after the timeout is still learned for later callers.
    lineage.learn("t", "", "never", { parentId: "p", source: "loop" });
    expect(await lineage.originOf("t", "", "never", 0)).toEqual({ parentId: "p", source: "loop" });
  });

  it("forgets the oldest checkpoints beyond its bound", async () => {
    const lineage = new CheckpointLineage();
    for (let i = 0; i <= 10_000; i++) lineage.learn("t", "", `c${i}`, { parentId: null, source: "loop" });
    expect(await lineage.originOf("t", "", "c10000", 0)).toEqual({ parentId: null, source: "loop" });
    await expect(lineage.originOf("t", "", "c0", 10)).rejects.toThrow(/was not handed/);
  });

  it("forgets the least recently used first: learning again, peek and originOf keep a checkpoint", async () => {
    const lineage = new CheckpointLineage();
    const loop = { parentId: null, source: "loop" };
    for (let i = 0; i < 10_000; i++) lineage.learn("t", "", `c${i}`, loop);
    lineage.peek("t", "", "c0");
    await lineage.originOf("t", "", "c1", 0);
    lineage.learn("t", "", "c2", { parentId: "c1", source: "loop" });
    // Three other threads' checkpoints push out the three least recently used: c3, c4, c5.
    for (let i = 0; i < 3; i++) lineage.learn(`other-${i}`, "", "x", loop);
    expect(lineage.peek("t", "", "c0")).toEqual(loop);
    expect(lineage.peek("t", "", "c1")).toEqual(loop);
    expect(lineage.peek("t", "", "c2")).toEqual({ parentId: "c1", source: "loop" });
    for (const gone of ["c3", "c4", "c5"]) expect(lineage.peek("t", "", gone)).toBeUndefined();
    expect(lineage.peek("t", "", "c6")).toEqual(loop);
  });

  it("counts a checkpoint marked as starting a branch as a fork, and only that one", () => {
    const checkpoint = { ...emptyCheckpoint(), id: "c2" };
    const parent = { configurable: { checkpoint_id: "c1" } };
    const loop: CheckpointMetadata = { source: "loop", step: 3, parents: {} };
    const marked = originOf(checkpoint, parent, { ...loop, [BRANCH_KEY]: true } as CheckpointMetadata);
    expect(marked).toMatchObject({ parentId: "c1", source: "fork", step: 3 });
    expect(isBranch(marked)).toBe(true);
    const plain = originOf(checkpoint, parent, loop);
    expect(plain).toMatchObject({ parentId: "c1", source: "loop", step: 3 });
    expect(isBranch(plain)).toBe(false);
  });
});
