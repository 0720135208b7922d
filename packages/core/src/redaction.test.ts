import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalize } from "./canonical.js";
import { isDurableToolsError } from "./errors.js";
import { Ledger } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";
import { Redactor } from "./redaction.js";
import { encodeValue } from "./value-codec.js";

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

/** A card whose number lives in a private field; JSON sees `{ number }`. */
class SealedCard {
  readonly #pan: string;
  constructor(pan: string) {
    this.#pan = pan;
  }
  toJSON() {
    return { number: this.#pan, brand: "visa" };
  }
}

/** A card whose own field is `pan`, which toJSON() renames to `number`. */
class RenamingCard {
  constructor(readonly pan: string) {}
  toJSON() {
    return { number: this.pan };
  }
}

describe("Redactor: paths name the JSON form (what the fingerprint and the store see)", () => {
  const PAN = "4242424242424242";
  const cardRedactor = new Redactor({
    paths: ["args.card.number", "result.receipt.token"],
    secret: "s3cret",
  });

  it.each([
    ["a private field", new SealedCard(PAN), { number: cardRedactor.hash(PAN), brand: "visa" }],
    ["a field toJSON() renames", new RenamingCard(PAN), { number: cardRedactor.hash(PAN) }],
  ])("redacts inside a class instance with toJSON() and %s", (_, card, expected) => {
    const args = { card, amount: 5 };
    expect(canonicalize(args)).toContain(PAN);
    const out = cardRedactor.redact("args", args);
    expect(out).toEqual({ card: expected, amount: 5 });
    expect(JSON.stringify(encodeValue(out))).not.toContain(PAN);
  });

  it("follows toJSON() in results too, and a toJSON() that returns another instance", () => {
    class Receipt {
      constructor(private readonly secret: string) {}
      toJSON() {
        return new (class Inner {
          constructor(readonly value: string) {}
          toJSON() {
            return { token: this.value, id: "r_1" };
          }
        })(this.secret);
      }
    }
    const out = cardRedactor.redact("result", { receipt: new Receipt("tok_live_123") });
    expect(out).toEqual({ receipt: { token: cardRedactor.hash("tok_live_123"), id: "r_1" } });
  });

  it("keeps a Date or boxed value on the way untouched when nothing inside it is named", () => {
    const at = new Date("2026-01-02T03:04:05.000Z");
    const r = new Redactor({ paths: ["args.at.x", "args.n.x"], secret: "s" });
    const out = r.redact("args", { at, n: new Number(1) }) as { at: unknown; n: unknown };
    expect(out.at).toBe(at);
    expect(out.n).toEqual(new Number(1));
  });

  it("keeps a `__proto__` key as data", () => {
    const args = JSON.parse('{"__proto__":{"pan":"4242"},"card":{"number":"1"}}') as object;
    const out = cardRedactor.redact("args", args) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(JSON.stringify(out)).toBe(
      `{"__proto__":{"pan":"4242"},"card":{"number":"${cardRedactor.hash("1")}"}}`,
    );
  });

  it("stores the arguments and the claim event without the clear value (ledger)", async () => {
    for (const card of [new SealedCard(PAN), new RenamingCard(PAN)]) {
      const ledger = new Ledger({
        store: new MemoryLedgerStore(),
        redact: { paths: ["args.card.number"], secret: "s3cret" },
      });
      const result = await ledger.execute({ tool: "pay", args: { card, amount: 5 }, submit: () => "ok" });
      const stored = JSON.stringify([result.record.args, await ledger.readEvents()]);
      expect(stored).not.toContain(PAN);
      expect((result.record.args as { card: { number: string } }).card.number).toBe(cardRedactor.hash(PAN));
    }
  });

  // --- property: redacting a value dressed up in classes, Dates and boxes is redacting its JSON --------

  type Shape = "str" | "num" | "bool" | "null" | "date" | Shape[] | { [key: string]: Shape };
  const shape = fc.letrec<{ node: Shape; obj: { [key: string]: Shape } }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom<Shape>("str", "num", "bool", "null", "date"),
      fc.array(tie("node"), { maxLength: 3 }),
      tie("obj"),
    ),
    obj: fc.dictionary(fc.constantFrom("a", "b", "c", "d"), tie("node"), { maxKeys: 4 }),
  })).obj;

  class Hidden {
    readonly #value: unknown;
    constructor(value: unknown) {
      this.#value = value;
    }
    toJSON() {
      return this.#value;
    }
  }
  class Renamed {
    constructor(value: object) {
      for (const [key, item] of Object.entries(value)) (this as Record<string, unknown>)[`own_${key}`] = item;
    }
    toJSON() {
      return Object.fromEntries(Object.entries(this).map(([key, item]) => [key.slice(4), item]));
    }
  }

  /** The shape as plain JSON (unique string leaves) and the same JSON dressed up, chosen by `pick`. */
  function build(
    node: Shape,
    pick: () => number,
    counter: { n: number },
  ): { plain: unknown; dressed: unknown } {
    const n = ++counter.n;
    const choose = (...options: unknown[]): unknown => options[pick() % options.length];
    if (node === "str")
      return { plain: `v${n}x`, dressed: choose(`v${n}x`, new String(`v${n}x`), new Hidden(`v${n}x`)) };
    if (node === "num") return { plain: n, dressed: choose(n, new Number(n)) };
    if (node === "bool")
      return { plain: n % 2 === 0, dressed: choose(n % 2 === 0, new Boolean(n % 2 === 0)) };
    if (node === "null") return { plain: null, dressed: choose(null, new Hidden(null)) };
    if (node === "date") {
      const iso = new Date(Date.UTC(2001, 0, 1) + n * 1000).toISOString();
      return { plain: iso, dressed: choose(iso, new Date(iso)) };
    }
    if (Array.isArray(node)) {
      const items = node.map((item) => build(item, pick, counter));
      const dressed = items.map((item) => item.dressed);
      return { plain: items.map((item) => item.plain), dressed: choose(dressed, new Hidden(dressed)) };
    }
    const entries = Object.entries(node).map(([key, item]) => [key, build(item, pick, counter)] as const);
    const plain = Object.fromEntries(entries.map(([key, item]) => [key, item.plain]));
    const dressed = Object.fromEntries(entries.map(([key, item]) => [key, item.dressed]));
    return {
      plain,
      dressed: choose(dressed, new Hidden(dressed), new Renamed(dressed), new Hidden(new Renamed(dressed))),
    };
  }

  /** Every path to a node of plain JSON, as segments. */
  function pathsOf(value: unknown, prefix: string[] = []): string[][] {
    if (value === null || typeof value !== "object") return [];
    const children = Array.isArray(value)
      ? value.map((item, index) => [String(index), item] as const)
      : Object.entries(value);
    return children.flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
  }

  /** The strings at or under the nodes `paths` name in plain JSON. */
  function secretsUnder(value: unknown, paths: string[][]): string[] {
    if (paths.some((segments) => segments.length === 0))
      return JSON.stringify(value).match(/"v\d+x"|"\d{4}-[^"]+"/g) ?? [];
    if (value === null || typeof value !== "object") return [];
    const children = Array.isArray(value)
      ? value.map((item, index) => [String(index), item] as const)
      : Object.entries(value);
    return children.flatMap(([key, item]) =>
      secretsUnder(
        item,
        paths.filter((s) => s[0] === "*" || s[0] === key).map((s) => s.slice(1)),
      ),
    );
  }

  const masked = (value: unknown) => canonicalize(value).replace(/\[REDACTED:[0-9a-f]{32}\]/g, "[REDACTED]");

  it("property: redacting the dressed-up value equals redacting its JSON, and no named value survives", () => {
    fc.assert(
      fc.property(
        shape,
        fc.array(fc.nat(), { minLength: 1, maxLength: 64 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 4 }),
        (tree, choices, picks) => {
          let i = 0;
          const pick = () => choices[i++ % choices.length] as number;
          const { plain, dressed } = build(tree, pick, { n: 0 });
          expect(canonicalize(dressed)).toBe(canonicalize(plain)); // the same fingerprint
          const all = pathsOf(plain);
          fc.pre(all.length > 0);
          const segments = picks.map(([which, star, useStar]) => {
            const path = [...(all[which % all.length] as string[])];
            if (useStar) path[star % path.length] = "*";
            return path;
          });
          const paths = segments.map(
            (path) => `args${path.map((s) => (/^\d+$/.test(s) || s === "*" ? `[${s}]` : `.${s}`)).join("")}`,
          );
          const redactor = new Redactor({ paths, secret: "k" });
          const fromDressed = redactor.redact("args", dressed);
          expect(masked(fromDressed)).toBe(masked(redactor.redact("args", plain)));
          const stored = JSON.stringify(encodeValue(fromDressed));
          for (const secret of secretsUnder(plain, segments)) expect(stored).not.toContain(secret);
        },
      ),
      { numRuns: 300 },
    );
  });
});
