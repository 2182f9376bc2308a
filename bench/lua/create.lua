-- POST a new todo for a random user (users file in args[1]).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local users
local n = 0

function init(args)
   common.seed()
   users = common.lines(args[1])
end

function request()
   n = n + 1
   local body = string.format(
      '{"title": "Bench todo %d-%d", "description": "Created by wrk", "is_completed": false}',
      thread_index or 0, n)
   return wrk.format("POST", common.list_path(users[math.random(#users)]), common.json, body)
end
