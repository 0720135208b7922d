import type { RunnableConfig } from "@langchain/core/runnables";

/** The checkpoint namespace a config names ("" for the root graph). */
export function namespaceOf(config: RunnableConfig): string {
  return (config.configurable?.checkpoint_ns as string | undefined) ?? "";
}
