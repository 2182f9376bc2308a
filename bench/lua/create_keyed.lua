-- POST a new todo for a random user (users file in args[1]), as create.lua, with an
-- Idempotency-Key never sent before: args[2] (the server's name, so that the API's and
-- the reference's never meet), the time, the thread, a counter and a random number.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local users
local prefix
local n = 0

function init(args)
   common.seed()
   users = common.lines(args[1])
   prefix = args[2] or "bench"
end

function request()
   n = n + 1
   local key = string.format("%s-%x-%x-%x-%08x", prefix, os.time(), thread_index or 0, n,
      math.random(0, 0x7fffffff))
   local body = string.format(
      '{"title": "Bench todo %d-%d", "description": "Created by wrk", "is_completed": false}',
      thread_index or 0, n)
   local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = key }
   return wrk.format("POST", common.list_path(users[math.random(#users)]), headers, body)
end
