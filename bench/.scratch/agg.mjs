import { readFileSync, readdirSync } from "node:fs";
const dir = process.argv[2];
const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile"))[0];
const p = JSON.parse(readFileSync(`${dir}/${f}`, "utf8"));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const counts = new Map();
for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
const total = p.samples.length;
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.replace(/.*node_modules\/\.pnpm\//, "pnpm:").replace(/.*\/work\/main\//, "")}:${n.callFrame.lineNumber + 1}`;
const cat = (n) => {
  const u = n.callFrame.url;
  if (!u) return n.callFrame.functionName.startsWith("(") ? n.callFrame.functionName : "native/builtin";
  if (u.includes("ioredis") || u.includes("redis-parser") || u.includes("standard-as-callback")) return "ioredis";
  if (u.includes("packages/redis")) return "packages/redis";
  if (u.includes("packages/core")) return "packages/core";
  if (u.startsWith("node:")) return "node internals";
  return "other";
};
const byCat = new Map();
const incl = new Map();
for (const [id, c] of counts) {
  const n = byId.get(id);
  self.set(label(n), (self.get(label(n)) ?? 0) + c);
  byCat.set(cat(n), (byCat.get(cat(n)) ?? 0) + c);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur));
    if (seen.has(l)) continue;
    seen.add(l);
    incl.set(l, (incl.get(l) ?? 0) + c);
  }
}
const pct = (c) => ((100 * c) / total).toFixed(1) + "%";
console.log("samples", total);
console.log("== self by category"); for (const [k, v] of [...byCat].sort((a, b) => b[1] - a[1])) console.log(pct(v), k);
console.log("== top self"); for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 35)) console.log(pct(v), k);
console.log("== top inclusive (packages)"); for (const [k, v] of [...incl].filter(([k]) => k.includes("packages/")).sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(pct(v), k);
