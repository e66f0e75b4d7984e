-- wrk script for bench/ingest.py: sends pre-built compressed Sentry envelopes, each once.
-- bench/ingest.py writes the bodies to BODIES (concatenated) and their sizes to
-- BODIES.sizes (one per line), and passes the number to send per thread. wrk
-- only stops after its --duration, so a thread that has its answers stops its
-- loop and leaves a file named INGEST_DONE.<n>; bench/ingest.py then sends
-- SIGINT, which ends the run at once with the summary.
-- Each thread writes the id of every 2xx answer to INGEST_IDS.<n>, one per line,
-- so bench/ingest.py can check that every event answered 2xx was stored.
local bodies_path = os.getenv("INGEST_BODIES")
local per_thread = tonumber(os.getenv("INGEST_PER_THREAD"))
local headers_template = {
  ["Content-Type"] = "application/x-sentry-envelope",
  ["Content-Encoding"] = os.getenv("INGEST_ENCODING") or "gzip",
  ["X-Sentry-Auth"] = os.getenv("INGEST_AUTH"),
}

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("offset", thread_count * per_thread)
  thread:set("number", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local bodies = {}
local ids_file = nil
sent, answered, accepted, rejected = 0, 0, 0, 0  -- globals: done() reads them per thread

function init(args)
  local data = assert(io.open(bodies_path, "rb")):read("*a")
  local position = 1
  local index = 0
  for line in io.lines(bodies_path .. ".sizes") do
    local size = tonumber(line)
    if index >= offset and index < offset + per_thread + 64 then
      table.insert(bodies, data:sub(position, position + size - 1))
    end
    position = position + size
    index = index + 1
  end
  ids_file = assert(io.open(os.getenv("INGEST_IDS") .. "." .. number, "w"))
  ids_file:setvbuf("full")
end

function request()
  sent = sent + 1
  local body = bodies[sent] or bodies[#bodies]
  return wrk.format("POST", nil, headers_template, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 200 and status < 300 then
    accepted = accepted + 1
    local id = body and body:match('"id"%s*:%s*"([%x%-]+)"')
    if id and ids_file then ids_file:write(id, "\n") end
  else
    rejected = rejected + 1
  end
  if answered == per_thread then
    ids_file:close()
    ids_file = nil  -- answers still in flight until the thread stops are counted, not listed
    assert(io.open(os.getenv("INGEST_DONE") .. "." .. number, "w")):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total_accepted, total_rejected = 0, 0
  for _, thread in ipairs(threads) do
    total_accepted = total_accepted + thread:get("accepted")
    total_rejected = total_rejected + thread:get("rejected")
  end
  io.write(string.format(
    "RESULT accepted=%d rejected=%d errors=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d\n",
    total_accepted, total_rejected,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
