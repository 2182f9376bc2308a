-- List the first page of a random user's list in its manual order (lists file in args[1],
-- `user_id list_id ...` a line): `?list_id=...&sort=position&limit=50`.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local lists

function init(args)
   common.seed()
   lists = common.lists(args[1])
end

function request()
   local list = lists[math.random(#lists)]
   return wrk.format("GET", common.list_path(list.user) .. "?list_id=" .. list.id ..
      "&sort=position&limit=50")
end
