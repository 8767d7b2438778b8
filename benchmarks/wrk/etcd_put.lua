-- etcd v3 JSON gateway write: POST /v3/kv/put {"key":"<b64>","value":"<b64 of 1 KiB>"}.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
common.install(function(key, value)
  return wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"},
    '{"key":"' .. common.b64(key) .. '","value":"' .. common.b64(value) .. '"}')
end)
