export { type ConformanceOptions, describeLedgerStoreConformance } from "./conformance.js";
