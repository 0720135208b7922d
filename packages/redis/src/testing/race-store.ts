// Store factory for the cross-process race: each racer opens its own connection.
import { RedisLedgerStore } from "../redis-ledger-store.js";

export default (url: string) => RedisLedgerStore.fromUrl(url, { prefix: "race", operationTimeoutMs: 10_000 });
