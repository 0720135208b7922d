import { describe, expect, it } from "vitest";
import { RecentKeys } from "./recent-keys.js";

describe("RecentKeys", () => {
  it("remembers at most `limit` keys and forgets the oldest first", () => {
    const keys = new RecentKeys(2);
    keys.add("a");
    keys.add("b");
    keys.add("a"); // already there: stays where it was
    keys.add("c");
    expect([keys.has("a"), keys.has("b"), keys.has("c")]).toEqual([false, true, true]);
    expect(keys.size).toBe(2);
  });

  it("remembers nothing with limit 0", () => {
    const keys = new RecentKeys(0);
    keys.add("a");
    expect(keys.has("a")).toBe(false);
    expect(keys.size).toBe(0);
  });

  it("forgets one key, the keys under a prefix, or all of them", () => {
    const keys = new RecentKeys(10);
    for (const key of ["t1/a", "t1/b", "t2/a", "x"]) keys.add(key);
    keys.delete("x");
    keys.deleteByPrefix("t1/");
    expect([...["t1/a", "t1/b", "t2/a", "x"]].filter((key) => keys.has(key))).toEqual(["t2/a"]);
    keys.deleteByPrefix("");
    expect(keys.size).toBe(0);
  });
});
