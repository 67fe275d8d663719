-- POST /api/v1/leaderboards/<season>/scores as many different players: each request takes
-- the next bearer token from a file (one per line) and a random score.
-- Arguments: <tokens file> <season id>.
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  path = "/api/v1/leaderboards/" .. args[2] .. "/scores"
  counter = thread_number * 1000
  math.randomseed(os.time() + thread_number)
end

function request()
  counter = counter + 1
  local token = tokens[(counter * 7919) % #tokens + 1]
  local body = string.format('{"score":%d}', math.random(0, 1000000))
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
