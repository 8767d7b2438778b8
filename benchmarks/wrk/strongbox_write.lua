-- StrongBox KV v2 write: POST /v1/secret/data/bench/key-NNNN {"data":{"value":"<1 KiB>"}}.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
common.install(function(key, value)
  return wrk.format("POST", "/v1/secret/data/" .. key,
    {["X-Vault-Token"] = common.token, ["Content-Type"] = "application/json"},
    '{"data":{"value":"' .. value .. '"}}')
end)
