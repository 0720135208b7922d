import type { RunnableConfig } from "@langchain/core/runnables";

/** The checkpoint namespace a config names ("" for the root graph). */
export function namespaceOf(config: RunnableConfig): string {
  return (config.configurable?.checkpoint_ns as string | undefined) ?? "";
}

/** The thread a config names (its `thread_id` as a string), if any. */
export function threadOf(config: RunnableConfig): string | undefined {
  const threadId = config.configurable?.thread_id;
  return threadId === undefined || threadId === null ? undefined : String(threadId);
}
