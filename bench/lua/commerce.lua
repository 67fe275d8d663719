-- Commerce scenarios as many different players: each request takes the next bearer token
-- from a file (one per line).
-- Arguments: <mode> <tokens file> <sku id> <run prefix>
--   check: GET /api/v1/commerce/entitlements/check?sku_id=<sku>
--   spend: POST /api/v1/commerce/wallet/spend of 1 unit, a fresh Idempotency-Key each time
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  mode = args[1]
  tokens = {}
  for line in io.lines(args[2]) do
    tokens[#tokens + 1] = line
  end
  sku = args[3]
  prefix = args[4] or ("bench" .. os.time())
  counter = thread_number * 1000003
  if mode == "check" then
    -- A check's request depends only on its token: build them all once, so the load
    -- generator spends its time sending requests, not formatting them.
    checks = {}
    for i, token in ipairs(tokens) do
      checks[i] = wrk.format("GET", "/api/v1/commerce/entitlements/check?sku_id=" .. sku, {
        ["Authorization"] = "Bearer " .. token,
      })
    end
  end
end

function request()
  counter = counter + 1
  local index = (counter * 7919) % #tokens + 1
  if mode == "check" then
    return checks[index]
  end
  local token = tokens[index]
  local body = string.format('{"sku_id":"%s","quantity":1,"reason":"bench"}', sku)
  return wrk.format("POST", "/api/v1/commerce/wallet/spend", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("%s-%d-%d", prefix, thread_number, counter),
  }, body)
end
