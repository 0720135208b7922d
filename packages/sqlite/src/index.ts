export {
  SQLITE_SCHEMA_VERSION,
  SqliteLedgerStore,
  type SqliteLedgerStoreOptions,
} from "./sqlite-ledger-store.js";
