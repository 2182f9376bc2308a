-- POST /todos/bulk: args[2] new todos at once (20 unless given) for a random user (users
-- file in args[1]), with every field a client writes, varied from todo to todo.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local users
local size
local n = 0
local priorities = { "none", "low", "medium", "high" }
local tags = { '[]', '["work"]', '["home", "errands"]', '["urgent", "work", "finance"]' }

function init(args)
   common.seed()
   users = common.lines(args[1])
   size = tonumber(args[2]) or 20
end

local function todo(i)
   n = n + 1
   local due = "null"
   if i % 2 == 0 then
      due = string.format('"2026-12-%02dT%02d:00:00Z"', 1 + i % 28, i % 24)
   end
   return string.format(
      '{"title": "Bulk todo %d-%d", "description": %s, "is_completed": %s, ' ..
      '"priority": "%s", "due_at": %s, "tags": %s}',
      thread_index or 0, n, i % 3 == 0 and "null" or '"Created by wrk in bulk"',
      i % 5 == 0 and "true" or "false", priorities[i % 4 + 1], due, tags[i % 4 + 1])
end

function request()
   local items = {}
   for i = 1, size do items[i] = todo(i) end
   local body = '{"todos": [' .. table.concat(items, ", ") .. ']}'
   return wrk.format("POST", common.list_path(users[math.random(#users)]) .. "/bulk",
      common.json, body)
end
