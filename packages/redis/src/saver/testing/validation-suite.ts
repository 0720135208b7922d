/*
 * Loads LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation) without
 * vitest `globals: true` for the whole workspace. The suite calls describe/it/expect/beforeAll/...
 * as globals, so this module puts vitest's functions on globalThis first and only then imports the
 * suite (a dynamic import: static imports would be evaluated before the assignment).
 */
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

Object.assign(globalThis, { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it });

const suite = await import("@langchain/langgraph-checkpoint-validation");

/** Registers the 718 conformance tests for the saver the initializer creates. */
export function validateCheckpointer<T extends BaseCheckpointSaver>(
  initializer: CheckpointSaverTestInitializer<T>,
): void {
  suite.validate(initializer);
}

/**
 * The suite's 8 tests of `getDeltaChannelHistory` (exported by the package but not part of
 * `validate()`). Register them after `validateCheckpointer`, whose beforeAll starts the server.
 */
export function validateDeltaChannelHistory<T extends BaseCheckpointSaver>(
  initializer: CheckpointSaverTestInitializer<T>,
): void {
  suite.deltaChannelHistoryTests(initializer);
}
