-- Messaging scenarios as many different players.
-- Arguments: <mode> <file> [<wrk threads>]
--   list:  <file> holds one bearer token per line; GET /api/v1/inbox?limit=50
--   claim: <file> holds "<token> <message id>" per line; POST /api/v1/inbox/<id>/claim, each
--          line once (a thread takes every thread_count-th line)
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  mode = args[1]
  requests = {}
  for line in io.lines(args[2]) do
    if mode == "list" then
      requests[#requests + 1] = wrk.format("GET", "/api/v1/inbox?limit=50", {
        ["Authorization"] = "Bearer " .. line,
      })
    else
      local token, message = line:match("^(%S+) (%S+)$")
      requests[#requests + 1] = wrk.format("POST", "/api/v1/inbox/" .. message .. "/claim", {
        ["Authorization"] = "Bearer " .. token,
      })
    end
  end
  counter = thread_number
  step = tonumber(args[3] or "2")
end

function request()
  local index
  if mode == "list" then
    counter = counter + 1
    index = (counter * 7919) % #requests + 1
  else
    index = counter
    counter = counter + step  -- threads interleave: no line is claimed twice
    if index > #requests then index = #requests end
  end
  return requests[index]
end
