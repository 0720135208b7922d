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
  });

  it("remembers nothing with limit 0", () => {
    const keys = new RecentKeys(0);
    keys.add("a");
    expect(keys.has("a")).toBe(false);
  });

  it("forgets one key, or the keys under a prefix", () => {
    const all = ["t1/a", "t1/b", "t2/a", "x"];
    const keys = new RecentKeys(10);
    for (const key of all) keys.add(key);
    keys.delete("x");
    keys.deleteByPrefix("t1/");
    expect(all.filter((key) => keys.has(key))).toEqual(["t2/a"]);
  });
});
