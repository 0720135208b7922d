import { defineConfig } from "vitest/config";

// Tests import sibling packages through the "source" export condition, so no build is needed.
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/*/src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    // Installs redis-server/redis-cli (apt-get, as root) when missing, before any test file runs.
    globalSetup: ["./test/support/global-setup.ts"],
  },
});
