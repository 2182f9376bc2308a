-- Shared by every bench script: id files, per-thread seeding, status counting, and a
-- machine-readable summary line that bench/wrk.py parses.
--
-- wrk runs each script in one Lua state per thread plus a main state: `setup` and `done`
-- run in the main state, `init`, `request` and `response` in the thread states. Values
-- cross between them only through thread:set / thread:get.

local M = {}

M.base = "/api/v1/users/"
M.json = { ["Content-Type"] = "application/json" }

function M.lines(path)
   local lines = {}
   for line in io.lines(path) do
      if line ~= "" then lines[#lines + 1] = line end
   end
   if #lines == 0 then error("no lines in " .. path) end
   return lines
end

-- "user_id todo_id" lines, as bench/seed.py writes them.
function M.pairs(path)
   local pairs_ = {}
   for _, line in ipairs(M.lines(path)) do
      local user, id = line:match("^(%S+)%s+(%S+)$")
      if user then pairs_[#pairs_ + 1] = { user, id } end
   end
   return pairs_
end

-- "user_id todo_id value" lines (an ETag, a token), as bench/scenarios.py writes them.
function M.triples(path)
   local rows = {}
   for _, line in ipairs(M.lines(path)) do
      local user, id, value = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
      if user then rows[#rows + 1] = { user, id, value } end
   end
   if #rows == 0 then error("no `user_id todo_id value` lines in " .. path) end
   return rows
end

-- "user_id list_id todo_id ..." lines (a list and its todos), as bench/seed.py writes them.
function M.lists(path)
   local lists = {}
   for _, line in ipairs(M.lines(path)) do
      local list = { todos = {} }
      for field in line:gmatch("%S+") do
         if not list.user then
            list.user = field
         elseif not list.id then
            list.id = field
         else
            list.todos[#list.todos + 1] = field
         end
      end
      if list.id then lists[#lists + 1] = list end
   end
   return lists
end

function M.todo_path(pair)
   return M.base .. pair[1] .. "/todos/" .. pair[2]
end

function M.list_path(user)
   return M.base .. user .. "/todos"
end

local threads = {}

function M.setup(thread)
   threads[#threads + 1] = thread
   thread:set("thread_index", #threads)
end

-- Called from each script's init: every thread draws its own random sequence.
function M.seed()
   math.randomseed(os.time() * 1000 + (thread_index or 0) * 7919)
end

statuses = {}

function M.response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function M.done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses") or {}) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(counts) do
      parts[#parts + 1] = string.format('"%d": %d', status, n)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
      '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f, "mean_us": %.1f, ' ..
      '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, table.concat(parts, ", ")))
end

return M
