import { packageBuild } from "../../tsdown.base.mjs";

export default packageBuild(["src/index.ts"]);
