-- etcd v3 JSON gateway read: POST /v3/kv/range {"key":"<b64>","serializable":true}
-- (serializable: answered from the member's own store, like a StrongBox follower read).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
common.install(function(key, _)
  return wrk.format("POST", "/v3/kv/range", {["Content-Type"] = "application/json"},
    '{"key":"' .. common.b64(key) .. '","serializable":true}')
end)
