import { parseCallbackConfigArg } from "@langchain/core/callbacks/manager";
import type { ToolRunnableConfig } from "@langchain/core/tools";

/**
 * Where `DurableTool.call` leaves the input as it arrived, before LangChain parsed it through the
 * schema. A wrapped tool is invoked with this input (its own schema parses it once, so transforms run
 * once); the parsed arguments are what the ledger fingerprints and stores.
 */
const RAW_INPUT = Symbol("durable-tools.rawInput");

/** A copy of the config argument of `StructuredTool.call` that carries the raw input. */
export function withRawInput(
  configArg: Parameters<typeof parseCallbackConfigArg>[0],
  raw: unknown,
): ToolRunnableConfig {
  // parseCallbackConfigArg returns the caller's own object: copy it.
  return Object.assign({ ...parseCallbackConfigArg(configArg) }, { [RAW_INPUT]: raw }) as ToolRunnableConfig;
}

/** The raw input `withRawInput` stashed, if the call went through `DurableTool.call`. */
export function rawInputOf(config: ToolRunnableConfig | undefined): { raw: unknown } | undefined {
  if (config === undefined || !(RAW_INPUT in config)) return undefined;
  return { raw: (config as Record<symbol, unknown>)[RAW_INPUT] };
}
