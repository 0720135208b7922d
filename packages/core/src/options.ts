import { InvalidConfigurationError } from "./errors.js";

/** Checks an option that must be a positive whole number (of `unit`); returns it. */
export function positiveInteger(name: string, value: number, unit = "milliseconds"): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidConfigurationError(
      `${name} must be a positive integer number of ${unit}, got ${value}.`,
    );
  }
  // Stores write it as text (a Redis TTL, a SQL integer): past this it is no longer exact.
  if (!Number.isSafeInteger(value)) {
    throw new InvalidConfigurationError(
      `${name} must be at most ${Number.MAX_SAFE_INTEGER} ${unit}, got ${value}.`,
    );
  }
  return value;
}
