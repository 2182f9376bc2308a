-- POST again a create whose Idempotency-Key was already used: `user_id key` lines in
-- args[1], each sent once before the run with the body below, so every request is a
-- replay (201, Idempotent-Replayed: true) and creates nothing.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local keys

function init(args)
   common.seed()
   keys = common.pairs(args[1])
end

function request()
   local pair = keys[math.random(#keys)]
   -- The body bench/scenarios.py sent with the key (`_replay_body`).
   local body = string.format('{"title": "Replayed %s"}', pair[2])
   local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = pair[2] }
   return wrk.format("POST", common.list_path(pair[1]), headers, body)
end
