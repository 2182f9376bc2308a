-- PATCH the title and completion of a random existing todo (sample file in args[1]).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local todos
local n = 0

function init(args)
   common.seed()
   todos = common.pairs(args[1])
end

function request()
   n = n + 1
   local body = string.format('{"title": "Edited %d-%d", "is_completed": %s}',
      thread_index or 0, n, n % 2 == 0 and "true" or "false")
   return wrk.format("PATCH", common.todo_path(todos[math.random(#todos)]), common.json, body)
end
