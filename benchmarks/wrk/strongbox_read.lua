-- StrongBox KV v2 read: GET /v1/secret/data/bench/key-NNNN with the bench token.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")
common.install(function(key, _)
  return wrk.format("GET", "/v1/secret/data/" .. key, {["X-Vault-Token"] = common.token})
end)
