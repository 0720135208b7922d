/*
 * The Lua scripts behind RedisLedgerStore. Each state change is one script: it reads the record hash,
 * checks the guard, writes the record and appends its events to the operation's stream, atomically.
 * KEYS are always the record hash and the event stream of ONE operation; they share a hash tag, so the
 * scripts run unchanged on Redis Cluster. User data (arguments, results, events) is passed as opaque
 * JSON strings and never decoded in Lua (cjson would turn [] into {} and round large numbers).
 *
 * Shared argument layout: ARGV[1] = now (ms), ARGV[2] = number of events n, ARGV[3..2+n] = events.
 */

/** Appends the n events that follow ARGV[2] to the stream KEYS[2]. */
const APPEND_EVENTS = `
local function append_events()
  local n = tonumber(ARGV[2])
  for i = 1, n do
    redis.call('XADD', KEYS[2], '*', 'e', ARGV[2 + i])
  end
  return 2 + n
end
`;

/** Terminal records expire relative to the caller's clock (`now`), so logical and Redis expiry agree. */
const EXPIRE = `
local function expire_terminal(expires_at, now)
  if expires_at == '' then
    redis.call('PERSIST', KEYS[1])
    redis.call('PERSIST', KEYS[2])
    return
  end
  local ttl = tonumber(expires_at) - now
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
`;

/**
 * Claim: create if absent (or expired when terminal), take over an expired lease with the same
 * fingerprint (token + 1), else return the record. Returns { outcome, previousOwner, ...HGETALL }.
 * After the events: fingerprint, owner, leaseMs, state, attempt, then field/value pairs to create with.
 */
export const CLAIM_SCRIPT = `${APPEND_EVENTS}
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local takeover_n = tonumber(ARGV[3 + n])
local base = 3 + n + takeover_n
local fp, owner, lease_ms = ARGV[base + 1], ARGV[base + 2], tonumber(ARGV[base + 3])
local cur = redis.call('HMGET', KEYS[1], 'state', 'fp', 'owner', 'token', 'lease', 'expires')
local previous_token = 0
if cur[1] then
  local terminal = cur[1] == 'CONFIRMED' or cur[1] == 'FAILED'
  if terminal and cur[6] ~= '' and tonumber(cur[6]) <= now then
    previous_token = tonumber(cur[4])
    redis.call('DEL', KEYS[1])
  elseif (not terminal) and cur[5] ~= '' and tonumber(cur[5]) <= now and cur[2] == fp then
    redis.call('HSET', KEYS[1], 'owner', owner, 'token', tonumber(cur[4]) + 1, 'lease', now + lease_ms, 'updated', now)
    for i = 1, takeover_n do
      redis.call('XADD', KEYS[2], '*', 'e', ARGV[3 + n + i])
    end
    local out = redis.call('HGETALL', KEYS[1])
    table.insert(out, 1, cur[3])
    table.insert(out, 1, 'taken_over')
    return out
  else
    local out = redis.call('HGETALL', KEYS[1])
    table.insert(out, 1, '')
    table.insert(out, 1, 'existing')
    return out
  end
end
local fields = { 'owner', owner, 'token', previous_token + 1, 'lease', now + lease_ms, 'created', now,
  'updated', now, 'expires', '', 'fp', fp }
for i = base + 4, #ARGV do
  table.insert(fields, ARGV[i])
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
append_events()
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, '')
table.insert(out, 1, 'created')
return out
`;

/** Shared guard: returns an error reply the client maps to a typed error, or nil when the fence holds. */
const FENCE = `
local function fence_error(owner, token)
  local cur = redis.call('HMGET', KEYS[1], 'state', 'owner', 'token')
  if not cur[1] then return { 'not_found' }, cur end
  if cur[3] ~= token or cur[2] ~= owner then return { 'stale', cur[2], cur[3] }, cur end
  return nil, cur
end
`;

/**
 * Guarded transition. After the events: owner, token, from, to, terminal ('1'/'0'), expiresAt
 * ('' = never), then field/value pairs to set.
 */
export const TRANSITION_SCRIPT = `${FENCE}${EXPIRE}
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local base = 2 + n
local owner, token, from, to = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
local terminal, expires_at = ARGV[base + 5], ARGV[base + 6]
local err, cur = fence_error(owner, token)
if err then return err end
if cur[1] ~= from then return { 'state', cur[1] } end
local fields = { 'state', to, 'updated', now }
for i = base + 7, #ARGV do
  table.insert(fields, ARGV[i])
end
if terminal == '1' then
  table.insert(fields, 'owner') table.insert(fields, '')
  table.insert(fields, 'lease') table.insert(fields, '')
  table.insert(fields, 'expires') table.insert(fields, expires_at)
else
  table.insert(fields, 'expires') table.insert(fields, '')
end
redis.call('HSET', KEYS[1], unpack(fields))
for i = 1, n do
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[2 + i])
end
if terminal == '1' then expire_terminal(expires_at, now) end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
`;

/** Guarded lease renewal. ARGV: now, 0, owner, token, leaseExpiresAt. */
export const RENEW_SCRIPT = `${FENCE}
local now = tonumber(ARGV[1])
local err = fence_error(ARGV[3], ARGV[4])
if err then return err end
redis.call('HSET', KEYS[1], 'lease', ARGV[5], 'updated', now)
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
`;

/** Guarded delete of an in-flight record. ARGV: now, n, events..., owner, token, eventsTtlMs. */
export const RELEASE_SCRIPT = `${FENCE}
local n = tonumber(ARGV[2])
local base = 2 + n
local err = fence_error(ARGV[base + 1], ARGV[base + 2])
if err then return err end
redis.call('DEL', KEYS[1])
for i = 1, n do
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[2 + i])
end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[base + 3]))
return { 'ok' }
`;
