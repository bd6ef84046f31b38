-- wrk script: POSTs a body picked at random per request from $BODIES_FILE (one JSON body a
-- line, bench/bodies.mjs) to the URL wrk was given, with $TOKEN. ORDER=sequential walks the
-- file in order instead (each thread from its own share), so every request of a run shorter
-- than the file is another listener's.
local bodies = {}
for line in io.lines(os.getenv("BODIES_FILE")) do
  bodies[#bodies + 1] = line
end
assert(#bodies > 0, "no bodies in $BODIES_FILE")
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or ""),
}

-- Each wrk thread has its own Lua state: seed each differently.
local threads = 0
function setup(thread)
  thread:set("seed", math.random(1, 2 ^ 30))
  thread:set("index", threads)
  threads = threads + 1
end

local sequential = os.getenv("ORDER") == "sequential"
local next_body = 0
function init()
  math.randomseed(seed or os.time())
  -- Each thread walks its own share of the file ($WRK_THREADS: wrk's -t).
  next_body = (index or 0) * math.floor(#bodies / tonumber(os.getenv("WRK_THREADS") or "1"))
end

function request()
  local i
  if sequential then
    i = next_body % #bodies + 1
    next_body = next_body + 1
  else
    i = math.random(#bodies)
  end
  return wrk.format("POST", nil, headers, bodies[i])
end

-- Non-2xx answers are counted by wrk itself ("Non-2xx or 3xx responses").
