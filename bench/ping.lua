-- wrk script for bench/monitors.py's heartbeat part: a plain GET /ping/<uuid> per
-- request, round-robin over the keys in PING_KEYS (one per line), each thread
-- starting at its own offset. done() prints one RESULT line with the status counts.
local keys = {}
for line in io.lines(os.getenv("PING_KEYS")) do
  keys[#keys + 1] = "/ping/" .. line
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("position", thread_count * 997)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

ok, failed = 0, 0  -- globals: done() reads them per thread

function request()
  position = position + 1
  return wrk.format("GET", keys[(position % #keys) + 1])
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_failed = total_failed + thread:get("failed")
  end
  io.write(string.format(
    "RESULT ok=%d failed=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    total_ok, total_failed, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  ))
end
