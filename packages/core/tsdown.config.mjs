import { packageBuild } from "../../tsdown.base.mjs";

export default packageBuild(["src/index.ts", "src/testing/index.ts"], {
  "testing/race-worker": "src/testing/race-worker.ts",
});
