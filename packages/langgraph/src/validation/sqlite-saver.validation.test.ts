/*
 * LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718 tests, plus
 * its 8 getDeltaChannelHistory tests)
 * against DurableCheckpointer over SqliteSaver, each block of the suite on its own temp database file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import {
  validateCheckpointer,
  validateDeltaChannelHistory,
} from "../../../redis/src/saver/testing/validation-suite.js";
import { durableInitializer } from "./durable-initializer.js";

let dir: string | undefined;
let files = 0;

const initializer = durableInitializer({
  saverName: "SqliteSaver",
  beforeAll: async () => {
    dir = mkdtempSync(join(tmpdir(), "durable-langgraph-validation-"));
  },
  afterAll: async () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  },
  createSaver: () => {
    if (dir === undefined) throw new Error("temp dir not created");
    return SqliteSaver.fromConnString(join(dir, `checkpoints${++files}.sqlite`));
  },
  destroySaver: (saver) => {
    saver.db.close();
  },
});

validateCheckpointer(initializer);
// Not part of validate(): the suite's 8 tests of getDeltaChannelHistory.
validateDeltaChannelHistory(initializer);
