-- List the first page of a random user (users file in args[1]); args[2] is the query
-- string, `?limit=50` unless given (the filtered and sorted list passes its own).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local users
local query

function init(args)
   common.seed()
   users = common.lines(args[1])
   query = args[2] or "?limit=50"
end

function request()
   return wrk.format("GET", common.list_path(users[math.random(#users)]) .. query)
end
