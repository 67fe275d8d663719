-- POST /api/v1/auth/device/login with a device id never used before on every request:
-- "<run prefix>-<thread>-<counter>". The run prefix comes from the driver (random per run),
-- so repeated runs against the same database still create new guests.
local thread_count = 0

function setup(thread)
  -- Runs in the main Lua state, once per thread: hand each thread its own number.
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  prefix = args[1] or ("bench" .. os.time())
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format('{"device_id":"%s-%d-%d"}', prefix, thread_number, counter)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
