-- DELETE each disposable todo once (file in args[1], thread count in args[2]): thread k
-- takes lines k, k + threads, ... so no id is deleted twice. Running out wraps around,
-- and the repeats answer 404, which the bench counts as errors.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local todos
local next_index
local step

function init(args)
   todos = common.pairs(args[1])
   step = tonumber(args[2]) or 1
   next_index = thread_index or 1
end

function request()
   local pair = todos[(next_index - 1) % #todos + 1]
   next_index = next_index + step
   return wrk.format("DELETE", common.todo_path(pair))
end
