import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";

/**
 * LangGraph's serializer, except that it takes 50 ms over the value "slow" and throws a TypeError
 * ("cannot serialize this value") on "unserializable": for tests of a write still being serialized
 * when the next call comes (they assert ordering, not timing), and of one that fails there.
 */
export function slowSerde() {
  const json = new JsonPlusSerializer();
  return {
    dumpsTyped: async (value: unknown) => {
      if (value === "unserializable") throw new TypeError("cannot serialize this value");
      if (value === "slow") await new Promise((resolve) => setTimeout(resolve, 50));
      return json.dumpsTyped(value);
    },
    loadsTyped: (type: string, bytes: Uint8Array | string) => json.loadsTyped(type, bytes),
  };
}
