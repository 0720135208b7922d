/*
 * LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, 718 tests, plus
 * its 8 getDeltaChannelHistory tests)
 * against DurableCheckpointer over MemorySaver.
 */
import { MemorySaver } from "@langchain/langgraph-checkpoint";
import {
  validateCheckpointer,
  validateDeltaChannelHistory,
} from "../../../redis/src/saver/testing/validation-suite.js";
import { durableInitializer } from "./durable-initializer.js";

const initializer = durableInitializer({
  saverName: "MemorySaver",
  createSaver: () => new MemorySaver(),
});

validateCheckpointer(initializer);
// Not part of validate(): the suite's 8 tests of getDeltaChannelHistory.
validateDeltaChannelHistory(initializer);
