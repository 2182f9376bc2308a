-- Poll a random user's change feed with the token its last answer gave (`user_id token`
-- lines in args[1]): nothing has changed since, so each answer is an empty page.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done

local tokens

function init(args)
   common.seed()
   tokens = common.pairs(args[1])
end

function request()
   local pair = tokens[math.random(#tokens)]
   return wrk.format("GET", common.base .. pair[1] .. "/changes?since=" .. pair[2])
end
