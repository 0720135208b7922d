import { MAX_KEY_LENGTH, sha256Hex, validateKey } from "@durable-tools/core";

/**
 * The key a model's `idempotency_key` names, scoped by the call's scope (the LangGraph thread, else
 * the tool's `scope`): two threads whose models both pick `welcome-email-1` are two operations. The
 * tenant scopes it too, as every key (it is part of the ledger key's namespace). Without a scope the
 * key is used as given. The form is `s:<16 hex of the scope's hash>/<key>` (the key hashed when that
 * would exceed the key length limit), so the model's key stays readable in the ledger.
 *
 * @throws InvalidKeyError when the model's key is not 1-255 printable ASCII characters.
 */
export function scopedModelKey(key: string, scope: string | undefined): string {
  validateKey(key);
  if (scope === undefined) return key;
  const prefix = `s:${sha256Hex(JSON.stringify(scope)).slice(0, 16)}/`;
  const scoped = `${prefix}${key}`;
  return scoped.length <= MAX_KEY_LENGTH ? scoped : `${prefix}#${sha256Hex(key)}`;
}
