-- A focus login to a visitor node's client port, made as jicofo makes it:
-- STARTTLS without verifying the node's certificate (jicofo.conf's
-- `disable-certificate-verification = true` for every xmpp.visitors.vN
-- client: the trust rests on the network position), then SASL PLAIN.
--
-- `jitsi-stack doctor` runs it with `lua5.4 - HOST PORT DOMAIN USER` in the
-- main prosody container (the compose network, where jicofo is), which has
-- lua5.4, LuaSocket and LuaSec (the prosody image installs them). It gets
-- `local password = "..."` in front of this text on stdin, so the password
-- never appears on a command line. It prints one line:
--   jitsi-stack-login ok PROTOCOL
--   jitsi-stack-login fail STEP DETAIL
local socket = require "socket"
local ssl = require "ssl"
local mime = require "mime"

local host, port, domain, user = arg[1], tonumber(arg[2]), arg[3], arg[4]

local function fail(step, detail)
	print("jitsi-stack-login fail " .. step .. " " .. (tostring(detail):gsub("%s+", " ")))
	os.exit(0)
end

local conn = socket.tcp()
conn:settimeout(10)
local ok, err = conn:connect(host, port)
if not ok then
	fail("connect", host .. ":" .. tostring(port) .. ": " .. tostring(err))
end

local buf = ""
local deadline = socket.gettime() + 10

local function send(step, data)
	local sent, e = conn:send(data)
	if not sent then
		fail(step, e)
	end
end

-- Reads until `buf` holds one of `patterns`; the index of the one found.
local function await(step, ...)
	local patterns = { ... }
	while true do
		for i, p in ipairs(patterns) do
			if buf:find(p) then
				return i
			end
		end
		local condition = buf:match("<stream:error>%s*<([%w%-]+)")
		if condition then
			fail(step, "stream error " .. condition)
		end
		if socket.gettime() > deadline then
			fail(step, "no answer within 10 s")
		end
		conn:settimeout(0.2)
		local data, e, partial = conn:receive(65536)
		local got = data or partial
		if got and #got > 0 then
			buf = buf .. got
		elseif e == "closed" then
			fail(step, "the server closed the connection")
		elseif e ~= "timeout" and e ~= "wantread" then
			fail(step, e)
		end
	end
end

local header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	.. "xmlns:stream='http://etherx.jabber.org/streams' to='" .. domain .. "' version='1.0'>"

send("stream", header)
await("stream", "</stream:features>")
if not buf:find("urn:ietf:params:xml:ns:xmpp%-tls") then
	fail("starttls", "the node offers no STARTTLS")
end
buf = ""
send("starttls", "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
await("starttls", "<proceed")
buf = ""

conn:settimeout(10)
local tls, e = ssl.wrap(conn, { mode = "client", protocol = "any", verify = "none", options = { "all" } })
if not tls then
	fail("tls", e)
end
tls:sni(domain)
tls:settimeout(10)
ok, e = tls:dohandshake()
if not ok then
	fail("tls", e)
end
conn = tls
local protocol = tls:info("protocol") or "TLS"

send("auth", header)
await("auth", "</stream:features>")
if not buf:find("<mechanism>PLAIN</mechanism>") then
	fail("auth", "the node offers no PLAIN login over TLS")
end
buf = ""
local credentials = (mime.b64("\0" .. user .. "\0" .. password))
send("auth", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" .. credentials .. "</auth>")
local answer = await("auth", "<success", "</failure>", "<failure[^>]*/>")
if answer ~= 1 then
	fail("auth", buf:match("<failure[^>]*>%s*<([%w%-]+)") or "failure")
end
send("close", "</stream:stream>")
conn:close()
print("jitsi-stack-login ok " .. protocol)
