-- GET /api/v1/ugc/<id>/download for random published items, as one signed-in player.
-- Arguments: <file of ugc ids, one per line> <bearer token>.
function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  headers = { ["Authorization"] = "Bearer " .. args[2] }
  math.randomseed(os.time() + math.random(1000000))
end

function request()
  local id = ids[math.random(1, #ids)]
  return wrk.format("GET", "/api/v1/ugc/" .. id .. "/download", headers)
end
