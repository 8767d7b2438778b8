-- common.lua: what every side_by_side wrk script shares (loaded with dofile, not by wrk).
--
-- Contract: a system script calls `install(build)` where `build(key, value)` returns one
-- complete request (wrk.format) for key "bench/key-NNNN" and a 1,024-character value.
-- install() defines wrk's callbacks:
--   setup(thread)   numbers the threads (each thread gets its own random seed)
--   init(args)      pre-builds SBS_KEYS requests (one per key; values from a pool of 64
--                   random 1,024-character base64-alphabet strings), so request() is a lookup
--   request()       a request for a uniformly random key
--   response(...)   counts responses with status >= 300 (wrk itself counts only >= 400)
--   done(...)       prints one line "SBS_RESULT {json}" with requests, duration, socket
--                   errors, non-2xx and latency percentiles in microseconds
-- Settings come from the environment (never argv: a token in argv is visible in ps):
--   SBS_KEYS (default 2000), SBS_TOKEN (StrongBox token; etcd scripts ignore it).

local M = {}
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local VALUE_CHARS = 1024
local POOL = 64

function M.b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = math.floor(n / 262144) % 64, math.floor(n / 4096) % 64
    local c3, c4 = math.floor(n / 64) % 64, n % 64
    out[#out + 1] = ALPHABET:sub(c1 + 1, c1 + 1) .. ALPHABET:sub(c2 + 1, c2 + 1)
      .. (b and ALPHABET:sub(c3 + 1, c3 + 1) or "=") .. (c and ALPHABET:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local function random_value()
  local chars = {}
  for i = 1, VALUE_CHARS do
    local k = math.random(64)
    chars[i] = ALPHABET:sub(k, k)
  end
  return table.concat(chars)
end

M.token = os.getenv("SBS_TOKEN") or ""
M.keys = tonumber(os.getenv("SBS_KEYS") or "2000")

function M.install(build)
  local threads = {}
  local requests = {}
  non2xx = 0

  function setup(thread)
    threads[#threads + 1] = thread
    thread:set("thread_no", #threads)
  end

  function init(args)
    math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
    local values = {}
    for i = 1, POOL do values[i] = random_value() end
    for i = 0, M.keys - 1 do
      requests[i + 1] = build(string.format("bench/key-%04d", i), values[i % POOL + 1])
    end
  end

  function request()
    return requests[math.random(#requests)]
  end

  function response(status, headers, body)
    if status >= 300 then non2xx = non2xx + 1 end
  end

  function done(summary, latency, _)
    local bad = 0
    for _, thread in ipairs(threads) do bad = bad + (thread:get("non2xx") or 0) end
    local e = summary.errors
    local p = {}
    for _, q in ipairs({50, 90, 99, 99.9}) do
      p[#p + 1] = string.format('"%s":%d', tostring(q), latency:percentile(q))
    end
    io.write(string.format(
      'SBS_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,'
        .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,'
        .. '"timeouts":%d,"latency_mean_us":%.1f,"latency_max_us":%d,"percentiles_us":{%s}}\n',
      summary.requests, summary.duration, summary.bytes, bad, e.connect, e.read, e.write,
      e.status, e.timeout, latency.mean, latency.max, table.concat(p, ",")))
  end
end

return M
