import { defineConfig } from "tsdown";

export default defineConfig({
  entry: ["src/index.ts", "src/testing/index.ts", "src/testing/race-worker.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  platform: "node",
  target: "node20",
});
