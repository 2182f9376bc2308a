-- GET one todo with a request header whose value comes with the todo: `user_id todo_id
-- value` lines in args[1], the header's name in args[2], and in args[3] what goes before
-- the value (`Bearer ` for a JWT; nothing for an ETag in If-None-Match).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local rows
local name
local prefix

function init(args)
   common.seed()
   rows = common.triples(args[1])
   name = args[2]
   prefix = args[3] or ""
end

function request()
   local row = rows[math.random(#rows)]
   return wrk.format("GET", common.todo_path(row), { [name] = prefix .. row[3] })
end
