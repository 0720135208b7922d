/*
 * The Lua scripts behind RedisSaver. KEYS are always the five keys of ONE thread (see saver-keys.ts),
 * in this order: 1 checkpoints hash, 2 checkpoint index, 3 blobs hash, 4 writes hash, 5 writes index.
 * They share a hash tag, so every script runs in one cluster slot; no script touches a key it was not
 * given. Stored values are opaque bytes to Lua; only the second header line of a checkpoint record
 * (its space-separated blob fields) is read here.
 *
 * Writing scripts take ARGV[1] = ttl in ms ("0" = no expiry). When set, all five keys of the thread
 * get that TTL again after the write, so a thread expires as a whole, never checkpoint by checkpoint.
 */

const REFRESH_TTL = `
local function refresh_ttl()
  local ttl = tonumber(ARGV[1])
  if ttl > 0 then
    for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
`;

const WRITE_CHECKPOINT = `${REFRESH_TTL}
-- ARGV[first_blob - 1]: how many of the trailing blob pairs are written only if absent (HSETNX);
-- the others are set, 500 pairs per HSET (unpack's stack stays small).
local function write_checkpoint(first_blob)
  local keep_from = #ARGV + 1 - 2 * tonumber(ARGV[first_blob - 1])
  for i = first_blob, keep_from - 1, 1000 do
    redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 999, keep_from - 1)))
  end
  for i = keep_from, #ARGV, 2 do
    redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1])
  end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
  refresh_ttl()
end
`;

/**
 * put: the checkpoint record, its index entry and the blobs of its new channel versions, atomically.
 * ARGV: ttl, member (<ns>:<id>), record, n, then blob field/value pairs, the last n of them written
 * only if absent (a value the checkpoint holds at a version it did not mint: see redis-saver.ts).
 * Running it twice leaves what running it once does.
 */
export const PUT_CHECKPOINT_SCRIPT = `${WRITE_CHECKPOINT}
write_checkpoint(5)
return 1
`;

/**
 * put if the namespace's latest checkpoint is the expected one (compare-and-set: two workers resuming
 * one thread cannot both write on the same parent). ARGV: ttl, member, record, the namespace's
 * ZRANGEBYLEX min and max, the expected latest member ('' = none), n, then blob field/value pairs
 * (the last n only if absent, as in put). Replies: { 'ok' } | { 'conflict', latest member or '' }.
 *
 * Safe to run twice: when its reply is lost with the connection, ioredis sends it again on reconnect
 * (autoResendUnfulfilledCommands). The second run finds its own checkpoint the latest; when that
 * member holds this very record, byte for byte, the write is done and the reply is ok. Any other
 * record under the member (another writer's checkpoint of the same id) is still a conflict.
 */
export const PUT_CHECKPOINT_IF_LATEST_SCRIPT = `${WRITE_CHECKPOINT}
local latest = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[5], ARGV[4], 'LIMIT', 0, 1)[1] or ''
if latest ~= ARGV[6] then
  if latest == ARGV[2] and redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3] then return { 'ok' } end
  return { 'conflict', latest }
end
write_checkpoint(8)
return { 'ok' }
`;

/**
 * putWrites: all writes of one task call, atomically. ARGV: ttl, then (field, value, overwrite)
 * triples. A regular write (idx >= 0) that is already stored is kept (first write wins, as in
 * MemorySaver); special channels (__error__, __interrupt__, ... with negative idx) overwrite.
 */
export const PUT_WRITES_SCRIPT = `${REFRESH_TTL}
for i = 2, #ARGV, 3 do
  local stored
  if ARGV[i + 2] == '1' then
    stored = redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  else
    stored = redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  -- The index member is added with its first value; an overwrite finds it there already.
  if stored == 1 then redis.call('ZADD', KEYS[5], 0, ARGV[i]) end
end
refresh_ttl()
return 1
`;

/**
 * Reads one checkpoint with everything it references, in one round trip and one consistent snapshot.
 * ARGV: member (<ns>:<id>, or '' for the latest of the namespace), then the namespace's ZRANGEBYLEX
 * bounds ('[<ns>:' and '(<ns>;'). Returns {} when absent, else
 * { member, record, blob values (one per field of the record's line 2, nil when missing)...,
 *   write values... }.
 */
export const GET_CHECKPOINT_SCRIPT = `
local function hmget_into(key, fields, out)
  local n = #fields
  local i = 1
  while i <= n do
    local j = math.min(i + 499, n)
    local values = redis.call('HMGET', key, unpack(fields, i, j))
    for k = 1, j - i + 1 do table.insert(out, values[k]) end
    i = j + 1
  end
end

local member = ARGV[1]
if member == '' then
  local latest = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[3], ARGV[2], 'LIMIT', 0, 1)
  if #latest == 0 then return {} end
  member = latest[1]
end
local record = redis.call('HGET', KEYS[1], member)
if not record then return {} end
local out = { member, record }
local first = string.find(record, '\\n', 1, true)
local second = string.find(record, '\\n', first + 1, true)
local fields = {}
for field in string.gmatch(string.sub(record, first + 1, second - 1), '%S+') do
  table.insert(fields, field)
end
hmget_into(KEYS[3], fields, out)
local writes = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. member .. ':', '(' .. member .. ';')
hmget_into(KEYS[4], writes, out)
return out
`;
