import type { OperationRecord } from "@durable-tools/core";
import { ToolMessage } from "@langchain/core/messages";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { expect } from "vitest";

/*
 * Helpers shared by this package's tests (not exported from the package entry point).
 */

export function thread(id: string): { configurable: { thread_id: string } } {
  return { configurable: { thread_id: id } };
}

let callCount = 0;

/**
 * Invokes `tool` as a model's tool call (a fresh call id each time) and parses the ToolMessage it
 * answers with: the envelope from its content, the operation record from its artifact.
 */
// biome-ignore lint/suspicious/noExplicitAny: tests read either envelope branch's fields, as JSON.parse lets them.
export async function callTool<Envelope = any>(
  tool: Pick<StructuredToolInterface, "name" | "invoke">,
  args: object,
  config?: RunnableConfig,
): Promise<{ envelope: Envelope; record: OperationRecord | undefined }> {
  const call = { type: "tool_call" as const, id: `call_${++callCount}`, name: tool.name, args };
  const message = (await tool.invoke(call, config)) as ToolMessage;
  expect(message).toBeInstanceOf(ToolMessage);
  return {
    envelope: JSON.parse(message.content as string),
    record: message.artifact as OperationRecord | undefined,
  };
}
