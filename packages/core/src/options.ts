import { InvalidConfigurationError } from "./errors.js";

/** Checks an option that must be a positive whole number (of `unit`); returns it. */
export function positiveInteger(name: string, value: number, unit = "milliseconds"): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidConfigurationError(
      `${name} must be a positive integer number of ${unit}, got ${value}.`,
    );
  }
  return value;
}
