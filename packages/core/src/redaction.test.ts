import { describe, expect, it } from "vitest";
import { isDurableToolsError } from "./errors.js";
import { Redactor } from "./redaction.js";

const redactor = new Redactor({
  paths: ["args.card.number", "args.items[*].iban", "result.token"],
  secret: "s3cret",
});

describe("Redactor", () => {
  it("replaces sensitive argument paths by a keyed hash and leaves the rest", () => {
    const args = {
      card: { number: "4242424242424242", exp: "12/30" },
      items: [{ iban: "DE1" }, { iban: "DE2" }],
    };
    const out = redactor.redact("args", args) as typeof args;
    expect(out.card.exp).toBe("12/30");
    expect(out.card.number).toMatch(/^\[REDACTED:[0-9a-f]{32}\]$/);
    expect(out.items[0]?.iban).toMatch(/^\[REDACTED:/);
    expect(out.items[0]?.iban).not.toBe(out.items[1]?.iban);
    expect(JSON.stringify(out)).not.toContain("4242424242424242");
    expect(args.card.number).toBe("4242424242424242");
  });

  it("hashes equal values equally (correlatable) and depends on the secret", () => {
    const other = new Redactor({ paths: ["result.token"], secret: "other" });
    expect(redactor.hash("x")).toBe(redactor.hash("x"));
    expect(other.hash("x")).not.toBe(redactor.hash("x"));
  });

  it("applies result paths only to results", () => {
    expect(redactor.redact("result", { token: "t", id: 1 })).toEqual({ token: redactor.hash("t"), id: 1 });
    expect(redactor.redact("args", { token: "t" })).toEqual({ token: "t" });
  });

  it("rejects paths outside args/result and a missing secret", () => {
    expect(() => new Redactor({ paths: ["card.number"], secret: "s" })).toThrow(/must start with "args\."/);
    let error: unknown;
    try {
      new Redactor({ paths: ["args.a"], secret: "" });
    } catch (e) {
      error = e;
    }
    expect(isDurableToolsError(error) && error.code).toBe("INVALID_CONFIGURATION");
  });
});
