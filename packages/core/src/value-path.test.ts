import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { child, childPath, pathText, type ValuePath } from "./value-path.js";

describe("value paths", () => {
  it("write out a chain of keys exactly as childPath writes it step by step (property)", () => {
    const key = fc.oneof(fc.string(), fc.nat(10_000), fc.constantFrom("card", "_a$1", "0", "", "é"));
    fc.assert(
      fc.property(fc.constantFrom("$", "$.v"), fc.array(key, { maxLength: 12 }), (root, keys) => {
        let path: ValuePath = root;
        for (const k of keys) path = child(path, k);
        expect(pathText(path)).toBe(keys.reduce<string>((text, k) => childPath(text, k), root));
      }),
    );
  });

  it("names the location of an error deep inside a payload", () => {
    const path = child(child(child("$", "items"), 3), "odd key");
    expect(pathText(path)).toBe('$.items[3]["odd key"]');
  });
});
