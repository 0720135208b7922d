import { InvalidConfigurationError, MAX_KEY_LENGTH } from "@durable-tools/core";
import {
  extendInteropZodObject,
  getInteropZodObjectShape,
  type InteropZodObject,
  isInteropZodObject,
  isZodSchemaV3,
} from "@langchain/core/utils/types";
import { z as z3 } from "zod/v3";
import { z as z4 } from "zod/v4";

/** The argument a model may pass to name the operation itself. */
export const IDEMPOTENCY_KEY_ARG = "idempotency_key";

const DESCRIPTION =
  "Optional. A key naming this exact operation (1-255 printable ASCII characters). Reuse it when repeating the same operation; a new operation needs a new key.";

type JsonSchemaObject = { type?: unknown; properties?: Record<string, unknown>; [key: string]: unknown };

/** Adds the optional `idempotency_key` argument to a zod (v3 or v4) or JSON-schema object schema. */
export function withIdempotencyKeyArg<S>(schema: S): S {
  if (isInteropZodObject(schema)) {
    const field = isZodSchemaV3(schema)
      ? z3.string().min(1).max(MAX_KEY_LENGTH).optional().describe(DESCRIPTION)
      : z4.string().min(1).max(MAX_KEY_LENGTH).optional().describe(DESCRIPTION);
    return extendInteropZodObject(schema as InteropZodObject, { [IDEMPOTENCY_KEY_ARG]: field }) as S;
  }
  const json = schema as JsonSchemaObject;
  if (typeof json === "object" && json !== null && json.type === "object") {
    return {
      ...json,
      properties: {
        ...(json.properties ?? {}),
        [IDEMPOTENCY_KEY_ARG]: {
          type: "string",
          minLength: 1,
          maxLength: MAX_KEY_LENGTH,
          description: DESCRIPTION,
        },
      },
    } as S;
  }
  throw new InvalidConfigurationError(
    'durableTool needs an object schema (a zod object or a JSON schema with type "object") so the tool has named arguments.',
  );
}

/** Whether a zod or JSON-schema object schema already declares an `idempotency_key` argument of its own. */
export function hasIdempotencyKeyArg(schema: unknown): boolean {
  if (isInteropZodObject(schema)) {
    return Object.hasOwn(getInteropZodObjectShape(schema as InteropZodObject), IDEMPOTENCY_KEY_ARG);
  }
  const properties = (schema as JsonSchemaObject | null)?.properties;
  return (
    typeof properties === "object" && properties !== null && Object.hasOwn(properties, IDEMPOTENCY_KEY_ARG)
  );
}

/** Splits the model's `idempotency_key` from the arguments the side effect sees. */
export function splitIdempotencyKey<A>(input: A): { args: A; key: string | undefined } {
  if (typeof input !== "object" || input === null || !(IDEMPOTENCY_KEY_ARG in input)) {
    return { args: input, key: undefined };
  }
  const { [IDEMPOTENCY_KEY_ARG]: key, ...args } = input as Record<string, unknown>;
  return { args: args as A, key: key === undefined || key === null ? undefined : (key as string) };
}
