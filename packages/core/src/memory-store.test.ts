import { MemoryLedgerStore } from "./memory-store.js";
import { describeLedgerStoreConformance } from "./testing/index.js";

describeLedgerStoreConformance("MemoryLedgerStore", { create: () => new MemoryLedgerStore() });
