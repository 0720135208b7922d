/*
 * The Lua scripts behind RedisLedgerStore. Each state change is one script: it reads the record hash,
 * checks the guard, writes the record and appends the change's events to the operation's stream,
 * atomically. KEYS are always the record hash and the event stream of ONE operation; they share a
 * hash tag, so the scripts run unchanged on Redis Cluster.
 *
 * The record hash keeps the guard scalars as fields (st state, fp fingerprint, ow owner, tk fencing
 * token, ls lease expiry, ex expiry, up updated, at attempt) and two opaque JSON strings the scripts
 * never parse: `meta` (key, tool, tenant, args, correlation id, created; written once) and `out`
 * (result or error, effect, reason; written when the record settles). cjson is never used on user
 * data: it would turn [] into {} and round large numbers.
 *
 * A state change's events travel as one pre-serialised JSON array and become one stream entry.
 */

/** What every script returns about the record: HMGET of these, in this order. */
export const RECORD_FIELDS = ["st", "fp", "ow", "tk", "ls", "ex", "up", "at", "meta", "out"] as const;
const RECORD_FIELDS_LUA = RECORD_FIELDS.map((field) => `'${field}'`).join(", ");

const READ = `
local function read_record(status, extra)
  local out = redis.call('HMGET', KEYS[1], ${RECORD_FIELDS_LUA})
  table.insert(out, 1, extra)
  table.insert(out, 1, status)
  return out
end
`;

const FENCE = `
local function fence_error(owner, token)
  local cur = redis.call('HMGET', KEYS[1], 'st', 'ow', 'tk')
  if not cur[1] then return { 'not_found' }, cur end
  if cur[3] ~= token or cur[2] ~= owner then return { 'stale', cur[2], cur[3] }, cur end
  return nil, cur
end
`;

/**
 * Claim. ARGV: now, fingerprint, owner, leaseMs, state, attempt, meta, events.
 * Creates the record if absent (or terminal and expired), else returns it untouched: one round trip
 * for a replay. A record whose lease expired comes back as 'expired' and is taken over by TAKEOVER
 * (a rare path, so its events are not sent with every claim).
 * Replies: { 'created', token } | { 'expired' | 'existing', '', ...fields }.
 */
export const CLAIM_SCRIPT = `
local now = tonumber(ARGV[1])
local fp, owner, lease_ms = ARGV[2], ARGV[3], tonumber(ARGV[4])
-- One read of every field: the guard needs six, a replay's answer all of them.
local cur = redis.call('HMGET', KEYS[1], ${RECORD_FIELDS_LUA})
local token = 1
if cur[1] then
  local terminal = cur[1] == 'CONFIRMED' or cur[1] == 'FAILED'
  if terminal and cur[6] ~= '' and tonumber(cur[6]) <= now then
    token = tonumber(cur[4]) + 1
    redis.call('DEL', KEYS[1])
    redis.call('PERSIST', KEYS[2])
  else
    local status = 'existing'
    if (not terminal) and cur[5] ~= '' and tonumber(cur[5]) <= now and cur[2] == fp then status = 'expired' end
    table.insert(cur, 1, '')
    table.insert(cur, 1, status)
    return cur
  end
end
redis.call('HSET', KEYS[1], 'st', ARGV[5], 'fp', fp, 'ow', owner, 'tk', token, 'ls', now + lease_ms,
  'ex', '', 'up', now, 'at', ARGV[6], 'meta', ARGV[7])
if ARGV[8] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[8]) end
return { 'created', token }
`;

/**
 * Takeover of an expired lease. ARGV: now, fingerprint, owner, leaseMs, expectedToken, events.
 * Takes the record over (token + 1) only if it is still in flight, expired, with the same fingerprint
 * and the token the caller saw; otherwise returns it as it is now.
 * Replies: { 'taken_over', previousOwner, ...fields } | { 'existing' | 'missing', '', ...fields }.
 */
export const TAKEOVER_SCRIPT = `${READ}
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'st', 'fp', 'ow', 'tk', 'ls')
if not cur[1] then return { 'missing' } end
local terminal = cur[1] == 'CONFIRMED' or cur[1] == 'FAILED'
if terminal or cur[4] ~= ARGV[5] or cur[2] ~= ARGV[2] or cur[5] == '' or tonumber(cur[5]) > now then
  return read_record('existing', '')
end
redis.call('HSET', KEYS[1], 'ow', ARGV[3], 'tk', tonumber(cur[4]) + 1, 'ls', now + tonumber(ARGV[4]), 'up', now)
if ARGV[6] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[6]) end
return read_record('taken_over', cur[3])
`;

/**
 * Guarded transition. ARGV: now, owner, token, from, to, attempt ('' = unchanged), lease ('' = unchanged,
 * '-' = none), terminal ('1'/'0'), expiresAt ('' = never), out ('' = unchanged), events.
 */
export const TRANSITION_SCRIPT = `${FENCE}${READ}
local now = tonumber(ARGV[1])
local err, cur = fence_error(ARGV[2], ARGV[3])
if err then return err end
if cur[1] ~= ARGV[4] then return { 'state', cur[1] } end
local fields = { 'st', ARGV[5], 'up', now }
if ARGV[6] ~= '' then table.insert(fields, 'at') table.insert(fields, ARGV[6]) end
if ARGV[10] ~= '' then table.insert(fields, 'out') table.insert(fields, ARGV[10]) end
if ARGV[8] == '1' then
  table.insert(fields, 'ow') table.insert(fields, '')
  table.insert(fields, 'ls') table.insert(fields, '')
  table.insert(fields, 'ex') table.insert(fields, ARGV[9])
else
  table.insert(fields, 'ex') table.insert(fields, '')
  if ARGV[7] == '-' then table.insert(fields, 'ls') table.insert(fields, '')
  elseif ARGV[7] ~= '' then table.insert(fields, 'ls') table.insert(fields, ARGV[7]) end
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[11] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[11]) end
if ARGV[8] == '1' then
  if ARGV[9] == '' then
    redis.call('PERSIST', KEYS[1])
    redis.call('PERSIST', KEYS[2])
  else
    -- Expiry relative to the caller's clock, so logical and Redis expiry agree.
    local ttl = tonumber(ARGV[9]) - now
    if ttl < 1 then ttl = 1 end
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return read_record('ok', '')
`;

/** Guarded lease renewal. ARGV: now, owner, token, leaseExpiresAt. */
export const RENEW_SCRIPT = `${FENCE}${READ}
local err = fence_error(ARGV[2], ARGV[3])
if err then return err end
redis.call('HSET', KEYS[1], 'ls', ARGV[4], 'up', ARGV[1])
return read_record('ok', '')
`;

/** Guarded delete of an in-flight record. ARGV: owner, token, events, eventsTtlMs. */
export const RELEASE_SCRIPT = `${FENCE}
local err = fence_error(ARGV[1], ARGV[2])
if err then return err end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[3]) end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
return { 'ok' }
`;
