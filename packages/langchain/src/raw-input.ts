import type { ToolRunnableConfig } from "@langchain/core/tools";

/**
 * Where `DurableTool.call` leaves the input as it arrived, before LangChain parsed it through the
 * schema. A wrapped tool is invoked with this input (its own schema parses it once, so transforms run
 * once); the parsed arguments are what the ledger fingerprints and stores.
 */
const RAW_INPUT = Symbol("durable-tools.rawInput");

type ConfigArg = ToolRunnableConfig | readonly unknown[] | { name?: unknown } | undefined;

/** A copy of the config argument of `StructuredTool.call` that carries the raw input. */
export function withRawInput(configArg: ConfigArg, raw: unknown): ToolRunnableConfig {
  // The deprecated forms (a callback array or a handler) are what LangChain's parseCallbackConfigArg accepts.
  const config =
    configArg === undefined || configArg === null
      ? {}
      : Array.isArray(configArg) || "name" in (configArg as object)
        ? { callbacks: configArg }
        : { ...(configArg as ToolRunnableConfig) };
  return Object.assign(config, { [RAW_INPUT]: raw }) as ToolRunnableConfig;
}

/** The raw input `withRawInput` stashed, if the call went through `DurableTool.call`. */
export function rawInputOf(config: ToolRunnableConfig | undefined): { raw: unknown } | undefined {
  if (config === undefined || !(RAW_INPUT in config)) return undefined;
  return { raw: (config as Record<symbol, unknown>)[RAW_INPUT] };
}
