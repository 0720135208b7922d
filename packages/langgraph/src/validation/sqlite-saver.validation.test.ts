/*
 * LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718 tests)
 * against DurableCheckpointer over SqliteSaver, each block of the suite on its own temp database file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { validateCheckpointer } from "../../../redis/src/saver/testing/validation-suite.js";
import { durableInitializer, expectFailures, ONLY_CHANGED_CHANNEL_VALUES } from "./durable-initializer.js";

let dir: string | undefined;
let files = 0;

// SqliteSaver stores each checkpoint whole, whatever newVersions says (the suite skips this test for a
// bare SqliteSaver for that reason); DurableCheckpointer delegates storage, so it stores whole too.
expectFailures({ [ONLY_CHANGED_CHANNEL_VALUES]: "SqliteSaver stores whole checkpoints" });

validateCheckpointer(
  durableInitializer({
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
  }),
);
