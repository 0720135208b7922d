/*
 * The Lua scripts behind RedisLedgerStore. KEYS are always the record string, the event stream and a
 * scratch key (written and removed within one script, see `compacting`) of ONE operation; they share a
 * hash tag, so the scripts run unchanged on Redis Cluster. A new record is usually created without a
 * script, by `SET record text NX GET` (see record-text.ts for the text); every other change is one
 * script that reads the record, checks the guard, rewrites it and appends the change's events to the
 * stream, atomically. cjson is never used: it would turn [] into {} and round large numbers; the
 * scripts only touch the record's plain lines.
 *
 * A record created by SET carries its creation events in its last line ("pending"); the first script
 * that changes the operation writes them to the stream in one entry with its own events (`append`),
 * under the id rule of `pendingEntryId` in stream-ids.ts, so the stream keeps append order. Every
 * script calls `append` before it changes a field, so the owner, created and meta lines it copies
 * beside them are still those of the creation.
 */

/** The Lua helpers every script starts with (exported for the tests that run them alone). */
export const RECORD_FUNCTIONS = `
local function parse(s)
  local f, pos = {}, 1
  for i = 1, 11 do
    local nl = string.find(s, '\\n', pos, true)
    f[i] = string.sub(s, pos, nl - 1)
    pos = nl + 1
  end
  f[12] = string.sub(s, pos)
  return f
end
local function text(f) return table.concat(f, '\\n', 1, 12) end
-- Runs write (XADDs to KEYS[2]). Redis 7 gives a new stream a first node of stream-node-max-bytes
-- (4 KB by default) whatever it holds, so a stream write created is copied to KEYS[3] (COPY allocates
-- each node at its size) and renamed back: entries, ids and TTL kept, about 3 KB less per operation,
-- for 8 µs of Redis time (DUMP + RESTORE took 20). Best effort, under pcall: where COPY or RENAME is
-- refused (ACLs, renamed commands) the stream stays as XADD made it and no copy is left behind, and a
-- refusal never stops a script that has already written.
local function compacting(write)
  local new = redis.call('EXISTS', KEYS[2]) == 0
  write()
  if not new or redis.pcall('COPY', KEYS[2], KEYS[3], 'REPLACE') ~= 1 then return end
  local renamed = redis.pcall('RENAME', KEYS[3], KEYS[2])
  if type(renamed) == 'table' and renamed.err then redis.pcall('DEL', KEYS[3]) end
end
local function xadd_entry(entry)
  compacting(function() redis.call('XADD', KEYS[2], '*', 'e', entry) end)
end
-- The record's creation fields (owner, created and meta lines) that creation events leave out, as field
-- 'r' beside them (parseCreationFields). Without 'whole', less the arguments when they are the meta's
-- last member (not in a record of the earlier layout, whose own "args" member comes first): a reader
-- takes them from the record, or once the record is gone from the next entry with whole fields,
-- which release and replacement write (eventsOfEntries in stream-ids.ts).
local function creation_fields(f, whole)
  local meta = f[10]
  local at = (not whole) and string.find(meta, ',"@args":', 1, true)
  if at and not string.find(string.sub(meta, 1, at), '"args":', 1, true) then
    meta = string.sub(meta, 1, at - 1) .. '}'
  end
  return f[3] .. '\\n' .. f[9] .. '\\n' .. meta
end
-- Appends a change's events (an entry value, or ''), after the creation events the record still holds:
-- both in one entry then, under the id rule of pendingEntryId (stream-ids.ts). The first try is the
-- usual case (the stream has nothing at or after <created>-0); XADD refuses an id that is not greater.
-- 'whole': the entry carries the whole creation fields even without creation events (a release).
local function append(f, entry, whole)
  if f[12] == '' then
    if whole then
      local fields = { 'r', creation_fields(f, true) }
      if entry ~= '' then fields[3], fields[4] = 'e', entry end
      compacting(function() redis.call('XADD', KEYS[2], '*', unpack(fields)) end)
    elseif entry ~= '' then
      xadd_entry(entry)
    end
    return
  end
  local fields = { 'e', f[12], 'r', creation_fields(f, whole) }
  if entry ~= '' then
    fields[5] = 'f'
    fields[6] = entry
  end
  compacting(function()
    local added = redis.pcall('XADD', KEYS[2], f[9] .. '-0', unpack(fields))
    if type(added) == 'table' and added.err then
      local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1][1]
      local ms, n = string.match(last, '^(%d+)-(%d+)$')
      redis.call('XADD', KEYS[2], ms .. '-' .. (tonumber(n) + 1), unpack(fields))
    end
  end)
  f[12] = ''
end
local function fenced(owner, token)
  local s = redis.call('GET', KEYS[1])
  if not s then return nil, { 'not_found' } end
  local f = parse(s)
  if f[4] ~= token or f[3] ~= owner then return nil, { 'stale', f[3], f[4] } end
  return f, nil
end
`;

/**
 * Claim by script: what Redis 6.2 uses (it cannot combine SET NX with GET), and the rare paths of a
 * native claim (an expired terminal record to replace, an expired lease to take over).
 * ARGV: now, fingerprint, owner, leaseMs, new record text, creation events, takeover events.
 * Replies: { 'created' | 'taken_over' | 'existing', record text, previous owner }.
 */
export const CLAIM_SCRIPT = `${RECORD_FUNCTIONS}
local now = tonumber(ARGV[1])
local s = redis.call('GET', KEYS[1])
local token = 1
if s then
  local f = parse(s)
  local terminal = f[1] == 'CONFIRMED' or f[1] == 'FAILED'
  if terminal and f[6] ~= '' and tonumber(f[6]) <= now then
    token = tonumber(f[4]) + 1
    -- The stream goes on with the new record: the replaced run's arguments stay readable in it.
    if redis.call('EXISTS', KEYS[2]) == 1 then append(f, '', true) end
    redis.call('PERSIST', KEYS[2])
  elseif (not terminal) and f[5] ~= '' and tonumber(f[5]) <= now and f[2] == ARGV[2] then
    append(f, ARGV[7])
    local previous = f[3]
    f[3] = ARGV[3]
    f[4] = tostring(tonumber(f[4]) + 1)
    f[5] = tostring(now + tonumber(ARGV[4]))
    f[7] = ARGV[1]
    local out = text(f)
    redis.call('SET', KEYS[1], out)
    return { 'taken_over', out, previous }
  else
    return { 'existing', s, '' }
  end
end
local f = parse(ARGV[5])
f[4] = tostring(token)
f[12] = ''
if ARGV[6] ~= '' then xadd_entry(ARGV[6]) end
local out = text(f)
redis.call('SET', KEYS[1], out)
return { 'created', out, '' }
`;

/**
 * Guarded transition. ARGV: now, owner, token, from, to, attempt ('' = unchanged), lease ('' =
 * unchanged, '-' = none), terminal ('1'/'0'), expiresAt ('' = never), out ('' = unchanged), events.
 * Replies: { 'ok', record text } | { 'not_found' } | { 'stale', owner, token } | { 'state', state }.
 */
export const TRANSITION_SCRIPT = `${RECORD_FUNCTIONS}
local f, err = fenced(ARGV[2], ARGV[3])
if err then return err end
if f[1] ~= ARGV[4] then return { 'state', f[1] } end
append(f, ARGV[11])
f[1] = ARGV[5]
f[7] = ARGV[1]
if ARGV[6] ~= '' then f[8] = ARGV[6] end
if ARGV[10] ~= '' then f[11] = ARGV[10] end
if ARGV[8] == '1' then
  f[3] = ''
  f[5] = ''
  f[6] = ARGV[9]
else
  f[6] = ''
  if ARGV[7] == '-' then f[5] = '' elseif ARGV[7] ~= '' then f[5] = ARGV[7] end
end
local out = text(f)
if ARGV[8] == '1' and ARGV[9] ~= '' then
  -- Expiry relative to the caller's clock, so logical and Redis expiry agree.
  local ttl = tonumber(ARGV[9]) - tonumber(ARGV[1])
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], out, 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('SET', KEYS[1], out)
  if ARGV[8] == '1' then redis.call('PERSIST', KEYS[2]) end
end
return { 'ok', out }
`;

/** Guarded lease renewal. ARGV: now, owner, token, leaseExpiresAt. Replies as TRANSITION. */
export const RENEW_SCRIPT = `${RECORD_FUNCTIONS}
local f, err = fenced(ARGV[2], ARGV[3])
if err then return err end
f[5] = ARGV[4]
f[7] = ARGV[1]
local out = text(f)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return { 'ok', out }
`;

/** Guarded delete of an in-flight record. ARGV: owner, token, events, eventsTtlMs. */
export const RELEASE_SCRIPT = `${RECORD_FUNCTIONS}
local f, err = fenced(ARGV[1], ARGV[2])
if err then return err end
append(f, ARGV[3], true)
redis.call('DEL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
return { 'ok' }
`;

/** Events that accompany no state change. ARGV: one entry value. Writes pending creation events first. */
export const APPEND_SCRIPT = `${RECORD_FUNCTIONS}
local s = redis.call('GET', KEYS[1])
if s then
  local f = parse(s)
  if f[12] ~= '' then
    append(f, ARGV[1])
    redis.call('SET', KEYS[1], text(f), 'KEEPTTL')
    return 1
  end
end
xadd_entry(ARGV[1])
return 1
`;
