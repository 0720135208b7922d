/*
 * The Lua scripts behind RedisLedgerStore. KEYS are always the record string, the event stream and a
 * scratch key (written and removed within one script, see `compacting`) of ONE operation; they share a
 * hash tag, so the scripts run unchanged on Redis Cluster. A new record is usually created without a
 * script, by `SET record text NX GET` (see record-text.ts for the text); every other change is one
 * script that reads the record, checks the guard, rewrites it and appends the change's events to the
 * stream, atomically. cjson is never used: it would turn [] into {} and round large numbers; the
 * scripts only touch the record's plain lines, and the out line's top-level members as text
 * (`merged_out`). Redis does not undo the writes of a script that fails, so every script checks and
 * computes what can fail before its first write (the TypeScript side has checked the arguments too).
 *
 * A record created by SET carries its creation events in its last line ("pending"); the first script
 * that changes the operation writes them to the stream in one entry with its own events (`append`),
 * under the id rule of `pendingEntryId` in stream-ids.ts, so the stream keeps append order. Every
 * script calls `append` before it changes a field, so the owner, created and meta lines it copies
 * beside them are still those of the creation.
 */

import { PER_MS } from "./stream-ids.js";

/*
 * Each script is built from the helpers it uses: RECORD_FUNCTIONS (parse and write a record's lines),
 * STREAM_FUNCTIONS (append events to the operation's stream), FENCE_FUNCTIONS (the owner and token
 * guard), TTL_CHECK; a helper one script alone uses is part of that script. Redis defines every local
 * function again on every call of a script, so none carries helpers it does not call.
 */

const RECORD_FUNCTIONS = `
local PER_MS = ${PER_MS}
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
local function failed(reply) return type(reply) == 'table' and reply.err ~= nil end
-- The first id of the millisecond after ms (a string of digits).
local function next_ms(ms) return string.format('%.0f', tonumber(ms) + 1) end
local function last_entry() return redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1] end
`;

/** Appending events to KEYS[2] (exported for the tests that run them alone). */
export const STREAM_FUNCTIONS = `${RECORD_FUNCTIONS}
-- Runs write (XADDs to KEYS[2]). 'keep': the writer is a record without expiry (in flight, or
-- finished for good), so the stream must not expire either: a TTL it still has from a released run
-- of the key (RELEASE) is removed, else it would take this run's events with it. PTTL tells both that
-- and whether the stream is new, for what EXISTS cost.
-- Redis 7 gives a new stream a first node of stream-node-max-bytes (4 KB by default) whatever it holds,
-- so a stream write created is copied to KEYS[3] (COPY allocates each node at its size) and renamed
-- back: entries, ids and TTL kept, about 3 KB less per operation, for 8 µs of Redis time (DUMP +
-- RESTORE took 20). Best effort, under pcall: where COPY or RENAME is refused (ACLs, renamed commands)
-- the stream stays as XADD made it and no copy is left behind, and a refusal never stops a script that
-- has already written. Returns whether the stream is now permanent ('keep').
local function compacting(write, keep)
  local ttl = redis.call('PTTL', KEYS[2])
  write()
  if keep and ttl >= 0 then redis.call('PERSIST', KEYS[2]) end
  if ttl == -2 and redis.pcall('COPY', KEYS[2], KEYS[3], 'REPLACE') == 1 then
    if failed(redis.pcall('RENAME', KEYS[3], KEYS[2])) then redis.pcall('DEL', KEYS[3]) end
  end
  return keep == true
end
-- XADD under an id Redis picks. While the stream's last id is ahead of Redis' clock (a caller's
-- clock ahead of Redis' put it there), Redis counts n up within that millisecond; an id whose n
-- reaches PER_MS would share its seq with the next millisecond's (stream-ids.ts), so that entry is
-- taken back and added as <ms + 1>-0 instead: no extra command unless that happens.
local function xadd_auto(fields)
  local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
  local ms, n = string.match(id, '^(%d+)-(%d+)$')
  if tonumber(n) < PER_MS then return end
  redis.call('XDEL', KEYS[2], id)
  redis.call('XADD', KEYS[2], next_ms(ms) .. '-0', unpack(fields))
end
-- XADD of a pending creation entry under the id rule of pendingEntryId (stream-ids.ts): <created>-0
-- (whole milliseconds), the usual case; XADD refuses an id that is not greater than the stream's
-- last, and then it goes just after the last entry. Where neither is possible (a created time that is
-- no stream id, a stream emptied by hand) Redis picks the id.
local function xadd_pending(created, fields)
  local ms = string.match(created, '^%d+')
  if ms and not failed(redis.pcall('XADD', KEYS[2], ms .. '-0', unpack(fields))) then return end
  local last = last_entry()
  if last then
    local last_ms, n = string.match(last[1], '^(%d+)-(%d+)$')
    n = tonumber(n) + 1
    local id = n < PER_MS and (last_ms .. '-' .. n) or (next_ms(last_ms) .. '-0')
    if not failed(redis.pcall('XADD', KEYS[2], id, unpack(fields))) then return end
  end
  xadd_auto(fields)
end
local function xadd_fields(fields, keep)
  return compacting(function() xadd_auto(fields) end, keep)
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
-- both in one entry then, under the id rule of pendingEntryId (stream-ids.ts).
-- 'whole': the entry carries the whole creation fields even without creation events (a release or a
-- replacement, which set the stream's TTL themselves, so never with 'keep'). 'keep': as in compacting,
-- and so is what it returns (false when it wrote nothing).
local function append(f, entry, whole, keep)
  if f[12] == '' then
    if whole then
      local fields = { 'r', creation_fields(f, true) }
      if entry ~= '' then fields[3], fields[4] = 'e', entry end
      return xadd_fields(fields, keep)
    end
    return entry ~= '' and xadd_fields({ 'e', entry }, keep)
  end
  local fields = { 'e', f[12], 'r', creation_fields(f, whole) }
  if entry ~= '' then
    fields[5] = 'f'
    fields[6] = entry
  end
  f[12] = ''
  return compacting(function() xadd_pending(f[9], fields) end, keep)
end
`;

const FENCE_FUNCTIONS = `
-- The record a guarded script may change: the caller must be its owner with its fencing token. A
-- finished record has no owner (''), so an empty owner is never one.
-- 'resent' (a transition's): whether the record already is what this very call wrote, in which case
-- the reply is { 'ok', record } and nothing is written again.
local function fenced(owner, token, resent)
  local s = redis.call('GET', KEYS[1])
  if not s then return nil, { 'not_found' } end
  local f = parse(s)
  if resent and resent(f) then return nil, { 'ok', s } end
  if owner == '' or f[4] ~= token or f[3] ~= owner then return nil, { 'stale', f[3], f[4] } end
  return f, nil
end
-- Whether one of the stream's last RECENT_ENTRIES entries holds this entry value (a change's events:
-- their ids are unique per run), as the change's own events (field 'e', or 'f' beside pending
-- creation events): a call re-sent after its first run wrote them, even if other writes (another
-- caller's events, a lease renewal) landed in between.
local RECENT_ENTRIES = 32
local function recent_entries_hold(entry)
  for _, found in ipairs(redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', RECENT_ENTRIES)) do
    local fields = found[2]
    for i = 1, #fields, 2 do
      if (fields[i] == 'e' or fields[i] == 'f') and fields[i + 1] == entry then return true end
    end
  end
  return false
end
`;

const TTL_CHECK = `
-- A TTL a script was given: a positive whole number of milliseconds, as the store sends (checked
-- before any write, since Redis does not undo the writes of a script that fails).
local function whole_ms(value) return string.match(value, '^[1-9]%d*$') ~= nil end
`;

/**
 * Claim by script: what Redis 6.2 uses (it cannot combine SET NX with GET), and the rare paths of a
 * native claim (an expired terminal record to replace, an expired lease to take over).
 * ARGV: now, fingerprint, owner, lease expiry of a takeover, new record text, creation events,
 * takeover events. Replies: { 'created' | 'taken_over' | 'existing', record text, previous owner }.
 */
export const CLAIM_SCRIPT = `${STREAM_FUNCTIONS}
-- A call ioredis sent again after the connection dropped before its reply (autoResendUnfulfilledCommands,
-- on by default) finds what its first run wrote. A claim: its own new record (every line as ARGV[5]
-- has it but the token, which the script chose) is 'created', its own takeover (this owner, at this
-- time, with this lease) 'taken_over'. Owner ids are unique per run, so another run's record never
-- looks like either.
local function resent_claim(f, mine)
  if f[3] ~= ARGV[3] or f[7] ~= ARGV[1] then return nil end
  local same = true
  for i = 1, 11 do
    if i ~= 4 and f[i] ~= mine[i] then
      same = false
      break
    end
  end
  if same then return 'created' end
  if f[5] == ARGV[4] then return 'taken_over' end
  return nil
end
local now = tonumber(ARGV[1])
-- Parsed before anything is written (a script's writes are not undone if it fails later).
local created = parse(ARGV[5])
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
    local previous, next_token = f[3], tostring(tonumber(f[4]) + 1)
    append(f, ARGV[7], false, true)
    f[3] = ARGV[3]
    f[4] = next_token
    f[5] = ARGV[4]
    f[7] = ARGV[1]
    local out = text(f)
    redis.call('SET', KEYS[1], out)
    return { 'taken_over', out, previous }
  else
    local resent = resent_claim(f, created)
    if resent then return { resent, s, '' } end
    return { 'existing', s, '' }
  end
end
created[4] = tostring(token)
created[12] = ''
local out = text(created)
-- A released run's stream may still be there, with its TTL: this run's events make it permanent.
if ARGV[6] ~= '' then xadd_fields({ 'e', ARGV[6] }, true) end
redis.call('SET', KEYS[1], out)
return { 'created', out, '' }
`;

/**
 * Guarded transition. ARGV: now, owner, token, from, to, attempt ('' = unchanged), lease ('' =
 * unchanged, '-' = none), terminal ('1'/'0'), expiresAt ('' = never), out ('' = unchanged: the
 * patch's result, error, effect and reason as outLine writes them), events, TTL in whole ms of a
 * terminal record with an expiry ('' = none), the names of the out members the patch sets
 * (',result,effect,'). Everything is checked before the first write.
 * Replies: { 'ok', record text } | { 'not_found' } | { 'stale', owner, token } | { 'state', state }.
 */
export const TRANSITION_SCRIPT = `${STREAM_FUNCTIONS}${FENCE_FUNCTIONS}${TTL_CHECK}
-- A transition (TRANSITION's ARGV) re-sent after its first run: the record is in the target state with
-- this call's token, and one of the stream's recent entries holds this call's events (their ids are
-- unique per run: another transition of the same run, a retry's SUBMITTED -> SUBMITTED at the same
-- millisecond, has other events). Its events are written with the record, so finding them means this
-- very call was applied, whatever landed after it (a lease renewal, another caller's events). A
-- transition without events is written again: the same write twice.
local function resent_transition(f)
  if ARGV[2] == '' or ARGV[11] == '' or f[4] ~= ARGV[3] or f[1] ~= ARGV[5] then return false end
  return recent_entries_hold(ARGV[11])
end
-- The top-level members of a JSON object text without whitespace (the out line), in order, as
-- { name, value text } pairs. The names are the store's own (no escapes); a value is skipped over by
-- its strings and brackets alone.
local function members(s)
  local found, pos, len = {}, 2, #s
  while pos < len do
    local _, colon, name = string.find(s, '^"([^"]*)":', pos)
    local i, depth = colon + 1, 0
    while true do
      i = string.find(s, '[",{}%[%]]', i)
      local c = string.sub(s, i, i)
      if c == '"' then
        repeat
          i = string.find(s, '["\\\\]', i + 1)
          local escape = string.sub(s, i, i) == '\\\\'
          if escape then i = i + 1 end
        until not escape
      elseif c == '{' or c == '[' then
        depth = depth + 1
      elseif depth == 0 then
        break
      elseif c ~= ',' then
        depth = depth - 1
      end
      i = i + 1
    end
    found[#found + 1] = { name, string.sub(s, colon + 1, i - 1) }
    pos = i + 1
  end
  return found
end
-- The out line after a patch's out (as outLine writes it, '' for none) whose member names are listed
-- in 'names' (',result,effect,'): MemoryLedgerStore's merge, a member the patch leaves out keeps its
-- value. Only a patch that leaves out a member the line has costs a scan of the line.
local function merged_out(old, patch, names)
  if patch == '' then return old end
  if old == '' then return patch end
  local kept = {}
  for _, member in ipairs(members(old)) do
    if not string.find(names, ',' .. member[1] .. ',', 1, true) then
      kept[#kept + 1] = ',"' .. member[1] .. '":' .. member[2]
    end
  end
  if #kept == 0 then return patch end
  return string.sub(patch, 1, -2) .. table.concat(kept) .. '}'
end
local f, err = fenced(ARGV[2], ARGV[3], resent_transition)
if err then return err end
if f[1] ~= ARGV[4] then return { 'state', f[1] } end
local ttl = ARGV[12]
if ttl ~= '' and not whole_ms(ttl) then return redis.error_reply('TTL must be a whole number of ms, got ' .. ttl) end
local out_line = merged_out(f[11], ARGV[10], ARGV[13])
-- A record that will expire keeps its stream's TTL (set below); any other makes the stream permanent.
local kept = append(f, ARGV[11], false, ttl == '')
f[1] = ARGV[5]
f[7] = ARGV[1]
if ARGV[6] ~= '' then f[8] = ARGV[6] end
f[11] = out_line
if ARGV[8] == '1' then
  f[3] = ''
  f[5] = ''
  f[6] = ARGV[9]
else
  f[6] = ''
  if ARGV[7] == '-' then f[5] = '' elseif ARGV[7] ~= '' then f[5] = ARGV[7] end
end
local out = text(f)
if ttl ~= '' then
  -- Expiry relative to the caller's clock, so logical and Redis expiry agree.
  redis.call('SET', KEYS[1], out, 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('SET', KEYS[1], out)
  if ARGV[8] == '1' and not kept then redis.call('PERSIST', KEYS[2]) end
end
return { 'ok', out }
`;

/**
 * Guarded lease renewal, or an owner letting its lease go (an expiry of now). ARGV: now, owner, token,
 * leaseExpiresAt. Replies as TRANSITION. The renewal timer is not awaited by the owner's
 * transitions, so one can reach Redis after a transition stamped later: the record's time does not
 * go back.
 */
export const RENEW_SCRIPT = `${RECORD_FUNCTIONS}${FENCE_FUNCTIONS}
local f, err = fenced(ARGV[2], ARGV[3])
if err then return err end
f[5] = ARGV[4]
if f[7] == '' or tonumber(ARGV[1]) > tonumber(f[7]) then f[7] = ARGV[1] end
local out = text(f)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return { 'ok', out }
`;

/** Guarded delete of an in-flight record. ARGV: owner, token, events, eventsTtlMs (whole ms). */
export const RELEASE_SCRIPT = `${STREAM_FUNCTIONS}${FENCE_FUNCTIONS}${TTL_CHECK}
local f, err = fenced(ARGV[1], ARGV[2])
if err then
  -- Re-sent after its first run deleted the record (see resent_claim): its events are in the stream.
  if err[1] == 'not_found' and ARGV[3] ~= '' and recent_entries_hold(ARGV[3]) then return { 'ok' } end
  return err
end
if not whole_ms(ARGV[4]) then return redis.error_reply('TTL must be a whole number of ms, got ' .. ARGV[4]) end
append(f, ARGV[3], true)
redis.call('DEL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return { 'ok' }
`;

/**
 * Events that accompany no state change. ARGV: one entry value, the TTL of a released operation's
 * events (whole ms). Writes pending creation events first. The stream of a record without expiry (in
 * flight, or finished for good) becomes permanent; of a record that expires, or of no record (a
 * released run), it keeps its TTL; a stream this append creates with no record (the events of a call
 * that read the record just before it expired) gets the released events' TTL, never none.
 */
export const APPEND_SCRIPT = `${STREAM_FUNCTIONS}${TTL_CHECK}
if not whole_ms(ARGV[2]) then return redis.error_reply('TTL must be a whole number of ms, got ' .. ARGV[2]) end
local s = redis.call('GET', KEYS[1])
if not s then
  local new_stream = redis.call('EXISTS', KEYS[2]) == 0
  xadd_fields({ 'e', ARGV[1] }, false)
  if new_stream then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
  return 1
end
local f = parse(s)
-- Pending creation events go to the stream first, and leave the record.
local pending = f[12] ~= ''
append(f, ARGV[1], false, f[6] == '')
if pending then redis.call('SET', KEYS[1], text(f), 'KEEPTTL') end
return 1
`;
