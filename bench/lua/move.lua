-- Move a random todo of a random list just after another of the same list, drawn at
-- random (lists file in args[1], `user_id list_id todo_id ...` a line): POST .../move with
-- {"list_id": <its list>, "after": <the neighbour>}.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local lists

function init(args)
   common.seed()
   lists = {}
   for _, list in ipairs(common.lists(args[1])) do
      if #list.todos >= 2 then lists[#lists + 1] = list end
   end
   if #lists == 0 then error("no list of two todos or more in " .. args[1]) end
end

function request()
   local list = lists[math.random(#lists)]
   local count = #list.todos
   local moved = math.random(count)
   -- Any other todo of the list: one of the count - 1 that are not the moved one.
   local after = math.random(count - 1)
   if after >= moved then after = after + 1 end
   local body = string.format('{"list_id": "%s", "after": "%s"}', list.id, list.todos[after])
   local path = common.todo_path({ list.user, list.todos[moved] }) .. "/move"
   return wrk.format("POST", path, common.json, body)
end
