export {
  type ConformanceOptions,
  claimRequest,
  describeLedgerStoreConformance,
  T0,
  testEvent,
} from "./conformance.js";
export { type CrossProcessRaceOptions, describeCrossProcessRace } from "./race.js";
