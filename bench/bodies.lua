-- wrk script: POSTs a body picked at random per request from $BODIES_FILE (one JSON body a
-- line, bench/bodies.mjs) to the URL wrk was given, with $TOKEN.
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
function setup(thread)
  thread:set("seed", math.random(1, 2 ^ 30))
end

function init()
  math.randomseed(seed or os.time())
end

function request()
  return wrk.format("POST", nil, headers, bodies[math.random(#bodies)])
end

-- Non-2xx answers are counted by wrk itself ("Non-2xx or 3xx responses").
