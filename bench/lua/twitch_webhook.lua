-- POST /api/v1/webhooks/twitch with pre-signed EventSub notifications, each with a fresh
-- message id (signing needs HMAC-SHA256, so bench/drops.py signs them before the run).
-- Arguments: <file of "message_id<TAB>timestamp<TAB>signature<TAB>body" lines> <threads>.
local made = 0

function setup(thread)
  thread:set("tid", made)
  made = made + 1
end

function init(args)
  lines = {}
  for line in io.lines(args[1]) do
    lines[#lines + 1] = line
  end
  stride = tonumber(args[2])
  start = (tid or 0) + 1
  i = start
end

function request()
  local line = lines[i]
  i = i + stride
  if i > #lines then
    i = start -- out of fresh messages: from here on they are redeliveries (still 2xx)
  end
  local id, ts, sig, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)")
  local headers = {
    ["Content-Type"] = "application/json",
    ["Twitch-Eventsub-Message-Id"] = id,
    ["Twitch-Eventsub-Message-Timestamp"] = ts,
    ["Twitch-Eventsub-Message-Signature"] = sig,
    ["Twitch-Eventsub-Message-Type"] = "notification",
    ["Twitch-Eventsub-Subscription-Type"] = "drop.entitlement.grant",
    ["Twitch-Eventsub-Subscription-Version"] = "1",
  }
  return wrk.format("POST", "/api/v1/webhooks/twitch", headers, body)
end
