import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const requireHere = createRequire(import.meta.url);

/** A package's version: its package.json, found by walking up from its entry point (not every package exports it). */
export function versionOf(pkg: string): string {
  try {
    let dir = dirname(requireHere.resolve(pkg));
    for (;;) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
          name?: string;
          version?: string;
        };
        if (manifest.name === pkg && manifest.version) return manifest.version;
      } catch {
        // no package.json here
      }
      const parent = dirname(dir);
      if (parent === dir) return "unknown";
      dir = parent;
    }
  } catch {
    return "unknown";
  }
}
