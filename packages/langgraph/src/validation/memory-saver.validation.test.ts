/*
 * LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718 tests)
 * against DurableCheckpointer over MemorySaver.
 */
import { MemorySaver } from "@langchain/langgraph-checkpoint";
import { validateCheckpointer } from "../../../redis/src/saver/testing/validation-suite.js";
import { durableInitializer, expectFailures, ONLY_CHANGED_CHANNEL_VALUES } from "./durable-initializer.js";

// MemorySaver stores each checkpoint whole, whatever newVersions says (the suite skips this test for a
// bare MemorySaver for that reason); DurableCheckpointer delegates storage, so it stores whole too.
expectFailures({ [ONLY_CHANGED_CHANNEL_VALUES]: "MemorySaver stores whole checkpoints" });

validateCheckpointer(
  durableInitializer({
    saverName: "MemorySaver",
    createSaver: () => new MemorySaver(),
  }),
);
