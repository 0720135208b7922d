export { type ConformanceOptions, describeLedgerStoreConformance } from "./conformance.js";
export { type CrossProcessRaceOptions, describeCrossProcessRace } from "./race.js";
