-- One census scenario as many different players: each request takes the next player from a
-- file of "<bearer token> <canonical id> <device id>" lines and fills the request's templates.
-- Arguments: <players file> <method> <path> <body or "-"> <run prefix> [<If-Match>]
-- Templates in the path and body: {n} a number never used before in this run, {me} the
-- player's canonical id, {other} another player's, {device} the player's device id. Writes carry a fresh Idempotency-Key.
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  players = {}
  for line in io.lines(args[1]) do
    local token, id, device = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
    players[#players + 1] = { token = token, id = id, device = device }
  end
  method = args[2]
  path = args[3]
  body = args[4] ~= "-" and args[4] or nil
  prefix = args[5]
  if_match = args[6]
  counter = thread_number * 1000003
  templated = (path .. (body or "")):find("{") ~= nil
  if not templated and method == "GET" then
    -- A read that depends only on its player: build them all once, so the load generator
    -- spends its time sending requests, not formatting them.
    prebuilt = {}
    for i, player in ipairs(players) do
      prebuilt[i] = wrk.format(method, path, { ["Authorization"] = "Bearer " .. player.token })
    end
  end
end

local function fill(text, player, other)
  local filled = text:gsub("{n}", tostring(counter)):gsub("{me}", player.id)
  return (filled:gsub("{other}", other.id):gsub("{device}", player.device))
end

function request()
  counter = counter + 1
  local index = (counter * 7919) % #players + 1
  if prebuilt then
    return prebuilt[index]
  end
  local player = players[index]
  local other = players[index % #players + 1]
  local headers = { ["Authorization"] = "Bearer " .. player.token }
  if method ~= "GET" then
    headers["Idempotency-Key"] = string.format("%s-%d-%d", prefix, thread_number, counter)
  end
  if if_match then
    headers["If-Match"] = if_match
  end
  local filled = nil
  if body then
    headers["Content-Type"] = "application/json"
    filled = fill(body, player, other)
  end
  return wrk.format(method, fill(path, player, other), headers, filled)
end
