-- wrk script for bench/peers.mjs: what each request carries in the Authorization header.
--
--   wrk -t1 -c50 -d10s -s bench/wrk/tokens.lua URL -- mode=none
--   wrk ... -- mode=fixed file=TOKENS                    the first token of FILE on every request
--   BENCH_WRK_DYNAMIC=cycle wrk ... -- mode=cycle file=TOKENS offset=N
--        a different token on every request: FILE's tokens (one per line) in order from line N+1, cycling
--   BENCH_WRK_DYNAMIC=zipf wrk ... -- mode=zipf file=USERS renew=FRESH s=1 ttl=60 offset=N seed=S
--        a realistic mix: user u (line u of USERS holds its current token) is drawn per request from a Zipf
--        distribution with exponent s over all users (user 1 the most frequent); each user's token is
--        replaced ttl seconds after it was issued (a per-user phase, as if tokens were issued at random
--        times), by the next unused token of FRESH from line N+1 (cycling if FRESH runs out).
--
-- With BENCH_WRK_STATUSES=1 in wrk's environment (bench/peers.mjs PEERS_STATUSES=1, a diagnostic: wrk then hands
-- every response to Lua, which costs it CPU) the statuses are counted and printed: `statuses 200=N 503=M ...`.
--
-- One wrk thread (-t1) is assumed: each thread would otherwise run its own copy of the sequence. When wrk ends,
-- `done` prints one line the bench parses:
--   tokens mode=cycle sent=<requests built> next=<offset to continue from> pool=<tokens in FILE> wrapped=<0|1>
--   tokens mode=zipf sent=<requests built> renewed=<tokens replaced> next=<offset in FRESH> pool=<lines of FRESH> wrapped=<0|1> users=<distinct users drawn>

local function lines(path)
  local t = {}
  for l in io.lines(path) do
    if #l > 0 then t[#t + 1] = l end
  end
  if #t == 0 then error("no tokens in " .. path) end
  return t
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

-- per-thread state (each wrk thread has its own Lua state)
mode = "none"
sent = 0
renewed = 0
next_offset = 0
pool = 0
wrapped = 0
users_seen = 0

local tokens, fresh, current, epoch, phase, seen, cdf
local dynamic = os.getenv("BENCH_WRK_DYNAMIC")
local headers = {}
local ttl, offset

function init(args)
  local opt = {}
  for _, a in ipairs(args) do
    local k, v = string.match(a, "^([%w_]+)=(.*)$")
    if not k then error("tokens.lua: argument " .. a .. " is not key=value") end
    opt[k] = v
  end
  mode = opt.mode or "none"
  offset = tonumber(opt.offset or "0")
  if mode == "none" then
    -- the static request wrk builds once
  elseif mode == "fixed" then
    wrk.headers["Authorization"] = "Bearer " .. lines(opt.file)[1]
  elseif mode == "cycle" then
    tokens = lines(opt.file)
    pool = #tokens
    offset = offset % pool
  elseif mode == "zipf" then
    tokens = lines(opt.file)
    fresh = lines(opt.renew)
    pool = #fresh
    offset = offset % pool
    ttl = tonumber(opt.ttl or "60")
    local s = tonumber(opt.s or "1")
    math.randomseed(tonumber(opt.seed or "1"))
    -- cumulative Zipf weights 1/k^s, k = 1..users
    cdf = {}
    local total = 0
    for k = 1, #tokens do
      total = total + 1 / (k ^ s)
      cdf[k] = total
    end
    for k = 1, #tokens do cdf[k] = cdf[k] / total end
    current, epoch, phase, seen = {}, {}, {}, {}
    local now = os.time()
    for u = 1, #tokens do
      current[u] = tokens[u]
      phase[u] = math.random() * ttl
      epoch[u] = math.floor((now + phase[u]) / ttl)
    end
  else
    error("tokens.lua: unknown mode " .. mode)
  end
  next_offset = offset
  if (mode == "cycle" or mode == "zipf") ~= (request ~= nil) or (request ~= nil and dynamic ~= mode) then
    error("tokens.lua: run wrk with BENCH_WRK_DYNAMIC=" .. mode .. " in its environment for mode=" .. mode .. " (and without it otherwise)")
  end
  -- wrk's own wrk.init, which called this function, now builds the static request from wrk.headers
end

local function zipf_user()
  local r = math.random()
  local lo, hi = 1, #cdf
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < r then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function cycle_request()
  local i = (offset + sent) % pool
  if offset + sent >= pool then wrapped = 1 end
  sent = sent + 1
  next_offset = (i + 1) % pool
  headers["Authorization"] = "Bearer " .. tokens[i + 1]
  return wrk.format(nil, nil, headers)
end

local function zipf_request()
  local u = zipf_user()
  if not seen[u] then
    seen[u] = true
    users_seen = users_seen + 1
  end
  local e = math.floor((os.time() + phase[u]) / ttl)
  if e ~= epoch[u] then
    -- this user's token expired: the IdP issued a new one, never seen by the proxy
    epoch[u] = e
    local i = (offset + renewed) % pool
    if offset + renewed >= pool then wrapped = 1 end
    renewed = renewed + 1
    next_offset = (i + 1) % pool
    current[u] = fresh[i + 1]
  end
  sent = sent + 1
  headers["Authorization"] = "Bearer " .. current[u]
  return wrk.format(nil, nil, headers)
end

-- request() is defined only for the modes that change the header per request, so that `none` and `fixed`
-- keep wrk's cheaper static request (built once per thread). wrk decides between the two when it loads the
-- script, before init() sees the arguments: hence an environment variable, BENCH_WRK_DYNAMIC=cycle|zipf, that
-- the bench sets with the matching mode= argument (init() checks that they agree).
if dynamic == "cycle" then
  request = cycle_request
elseif dynamic == "zipf" then
  request = zipf_request
end

statuses = ""
local status_counts = {}
if os.getenv("BENCH_WRK_STATUSES") == "1" then
  response = function(status, headers, body)
    status_counts[status] = (status_counts[status] or 0) + 1
    local parts = {}
    for k, v in pairs(status_counts) do parts[#parts + 1] = k .. "=" .. v end
    statuses = table.concat(parts, " ")
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    if st and #st > 0 then io.write("statuses " .. st .. "\n") end
    local m = t:get("mode")
    if m == "cycle" then
      io.write(string.format("tokens mode=cycle sent=%d next=%d pool=%d wrapped=%d\n", t:get("sent"), t:get("next_offset"), t:get("pool"), t:get("wrapped")))
    elseif m == "zipf" then
      io.write(string.format("tokens mode=zipf sent=%d renewed=%d next=%d pool=%d wrapped=%d users=%d\n", t:get("sent"), t:get("renewed"), t:get("next_offset"), t:get("pool"), t:get("wrapped"), t:get("users_seen")))
    end
  end
end
