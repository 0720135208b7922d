// Store factory for the cross-process race: each racer opens the shared file itself.
import { SqliteLedgerStore } from "../sqlite-ledger-store.js";

export default (path: string) => SqliteLedgerStore.fromPath(path, { busyTimeoutMs: 60_000 });
