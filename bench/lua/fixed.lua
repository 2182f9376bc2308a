-- The URL given to wrk, unchanged (page 1, page 1,000, the long list): only the summary.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
setup, response, done = common.setup, common.response, common.done
