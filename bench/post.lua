-- wrk script: POST the JSON body in $BODY_FILE to the URL wrk was given, with $TOKEN.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- $TOKEN: the service token, or a listener token for the body's listener.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
local file = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.body = file:read("*a")
file:close()
