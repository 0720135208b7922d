import { defineConfig } from "tsdown";

const shared = { dts: true, platform: "node", target: "node20" };

/**
 * The build every package shares: ESM + CJS with declarations, for Node 20. `scripts` are entry
 * points run as processes (top-level await), built as ESM only.
 */
export function packageBuild(entry, scripts) {
  const library = { ...shared, entry, format: ["esm", "cjs"], clean: true };
  if (scripts === undefined) return defineConfig(library);
  return defineConfig([library, { ...shared, entry: scripts, format: ["esm"], clean: false }]);
}
