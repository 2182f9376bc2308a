-- List the first page of 50 of a random user (users file in args[1]).
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local users

function init(args)
   common.seed()
   users = common.lines(args[1])
end

function request()
   return wrk.format("GET", common.list_path(users[math.random(#users)]) .. "?limit=50")
end
