-- GET one todo: a random (user, todo) pair from the sample file (args[1]).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local todos

function init(args)
   common.seed()
   todos = common.pairs(args[1])
end

function request()
   return wrk.format("GET", common.todo_path(todos[math.random(#todos)]))
end
