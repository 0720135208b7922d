export { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";
