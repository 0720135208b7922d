import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  blobField,
  checkpointMember,
  encodePart,
  namespaceBounds,
  parseBlobField,
  parseCheckpointMember,
  threadIndexPattern,
  threadKeys,
  writeField,
} from "./saver-keys.js";

/** Well-formed strings of any code points (the Lua scripts and ZRANGEBYLEX see their UTF-8 bytes). */
const part = fc.oneof(
  fc.string({ unit: "grapheme" }),
  fc.string({
    unit: fc.constantFrom(":", ";", "{", "}", " ", "\n", "\t", "%", "[", "(", "~", "a", "é", "😀"),
  }),
);
const prefix = fc.string({ minLength: 1 }).filter((p) => !/[{}]/.test(p));

/** What ZRANGEBYLEX does: memcmp of the UTF-8 bytes; `[x` includes x, `(x` excludes it. */
function inLexRange(member: string, min: string, max: string): boolean {
  const bytes = Buffer.from(member, "utf8");
  const from = Buffer.compare(bytes, Buffer.from(min.slice(1), "utf8"));
  const to = Buffer.compare(bytes, Buffer.from(max.slice(1), "utf8"));
  return (min[0] === "[" ? from >= 0 : from > 0) && (max[0] === "[" ? to <= 0 : to < 0);
}

describe("RedisSaver key layout", () => {
  it("encodes every part without the characters the layout and the Lua scripts split on", () => {
    fc.assert(
      fc.property(part, (value) => {
        expect(encodePart(value)).not.toMatch(/[:;{}\s]/);
      }),
    );
  });

  it("encodes exactly as encodeURIComponent, on its fast path for unreserved characters too", () => {
    const unreserved = fc.string({ unit: fc.constantFrom(..."az09AZ-_.!~*'()") });
    fc.assert(
      fc.property(fc.oneof(part, unreserved), (value) => {
        expect(encodePart(value)).toBe(encodeURIComponent(value));
      }),
    );
  });

  it("reads a checkpoint member back as the namespace and id it was made of", () => {
    fc.assert(
      fc.property(part, part, (ns, checkpointId) => {
        expect(parseCheckpointMember(checkpointMember(ns, checkpointId))).toEqual({ ns, checkpointId });
      }),
    );
  });

  it("bounds a namespace's members exactly: its own checkpoints, no other namespace's", () => {
    fc.assert(
      fc.property(part, part, part, (ns, otherNs, checkpointId) => {
        const { min, max } = namespaceBounds(ns);
        expect(inLexRange(checkpointMember(ns, checkpointId), min, max)).toBe(true);
        expect(inLexRange(checkpointMember(otherNs, checkpointId), min, max)).toBe(otherNs === ns);
      }),
    );
  });

  it("bounds a checkpoint's writes exactly as the get script does (`[<member>:` .. `(<member>;`)", () => {
    fc.assert(
      fc.property(
        part,
        part,
        part,
        part,
        fc.integer({ min: -10, max: 1000 }),
        (ns, id, otherId, task, idx) => {
          const member = checkpointMember(ns, id);
          const other = checkpointMember(ns, otherId);
          const [min, max] = [`[${member}:`, `(${member};`];
          expect(inLexRange(writeField(member, task, idx), min, max)).toBe(true);
          expect(inLexRange(writeField(other, task, idx), min, max)).toBe(other === member);
        },
      ),
    );
  });

  it("reads a blob field back as the namespace, channel and version it was made of", () => {
    fc.assert(
      fc.property(part, part, fc.oneof(part, fc.integer()), (ns, channel, version) => {
        expect(parseBlobField(blobField(ns, channel, version))).toEqual({
          ns,
          channel,
          version: String(version),
        });
      }),
    );
  });

  it("puts all five keys of a thread in one hash tag, which is the thread and nothing else", () => {
    /** What Redis Cluster hashes: from the first "{" to the first "}" after it. */
    const tagOf = (key: string) => key.slice(key.indexOf("{") + 1, key.indexOf("}", key.indexOf("{")));
    fc.assert(
      fc.property(prefix, part, part, (p, threadId, otherThread) => {
        const keys = threadKeys(p, threadId);
        expect(new Set(keys.map(tagOf))).toEqual(new Set([tagOf(keys[0])]));
        expect(tagOf(threadKeys(p, otherThread)[0]) === tagOf(keys[0])).toBe(otherThread === threadId);
      }),
    );
  });

  it("parses the thread out of its index key, and only out of an index key of its own prefix", () => {
    fc.assert(
      fc.property(prefix, prefix, part, (p, otherPrefix, threadId) => {
        const { parse } = threadIndexPattern(p);
        const [cp, idx] = threadKeys(p, threadId);
        expect(parse(idx)).toBe(threadId);
        expect(parse(cp)).toBeUndefined();
        if (otherPrefix !== p) expect(parse(threadKeys(otherPrefix, threadId)[1])).toBeUndefined();
      }),
    );
  });

  it("escapes glob characters of the prefix in the SCAN pattern", () => {
    expect(threadIndexPattern("a*b?[c]\\").pattern).toBe("{a\\*b\\?\\[c\\]\\\\:*}:idx");
  });

  it("refuses a lone surrogate with an error that says so, instead of merging it with U+FFFD", () => {
    expect(() => encodePart("thread-\uD800")).toThrow(/lone UTF-16 surrogate/);
    expect(() => threadKeys("lgcp", "\uDC00")).toThrow(/lone UTF-16 surrogate/);
    expect(encodePart("pair-😀")).toBe("pair-%F0%9F%98%80");
  });
});
