-- 80% reads, 20% writes across many users: 50% GET one, 30% list 50, 10% create,
-- 10% PATCH (users file in args[1], sample file in args[2]).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local users
local todos
local n = 0

function init(args)
   common.seed()
   users = common.lines(args[1])
   todos = common.pairs(args[2])
end

function request()
   n = n + 1
   local roll = math.random(100)
   if roll <= 50 then
      return wrk.format("GET", common.todo_path(todos[math.random(#todos)]))
   elseif roll <= 80 then
      return wrk.format("GET", common.list_path(users[math.random(#users)]) .. "?limit=50")
   elseif roll <= 90 then
      local body = string.format('{"title": "Mixed todo %d-%d"}', thread_index or 0, n)
      return wrk.format("POST", common.list_path(users[math.random(#users)]), common.json, body)
   end
   local body = string.format('{"is_completed": %s}', n % 2 == 0 and "true" or "false")
   return wrk.format("PATCH", common.todo_path(todos[math.random(#todos)]), common.json, body)
end
