-- A scripted XMPP client for the live visitors test (tests/cli/visitors_live.rs),
-- run with the trixie root's lua5.4, LuaSocket and LuaSec inside a container's
-- namespaces: `lua5.4 - ACTION...` with this text on stdin. Test-only.
--
-- Actions, in order (each await gives up after 20 s):
--   login HOST PORT DOMAIN anonymous|plain [USER PASSWORD]
--                         STARTTLS (certificate not verified), SASL, bind
--   join ROOM/NICK        MUC join; prints "joined ROOM/NICK role=R" or
--                         "join-error ROOM/NICK CONDITION"
--   await-presence JID    prints "presence JID" when one arrives from JID
--   say ROOM TEXT         a groupchat message
--   await-message JID TEXT  prints "message JID TEXT"
--   hold SECONDS          stays online, reading
-- Failures print "fail STEP DETAIL" and exit 1.
local socket = require "socket"
local ssl = require "ssl"
local mime = require "mime"

local conn
local buf = ""

local function out(...)
	io.write(table.concat({ ... }, " "), "\n")
	io.flush()
end

local function fail(step, detail)
	out("fail", step, (tostring(detail):gsub("%s+", " ")))
	os.exit(1)
end

local function send(data)
	local ok, e = conn:send(data)
	if not ok then
		fail("send", e)
	end
end

local function read_some(step)
	conn:settimeout(0.2)
	local data, e, partial = conn:receive(65536)
	local got = data or partial
	if got and #got > 0 then
		buf = buf .. got
	elseif e == "closed" then
		fail(step, "closed: " .. buf:sub(-300))
	end
end

-- Waits until `find(buf)` returns start and end; consumes through end.
local function await(step, find, secs)
	local deadline = socket.gettime() + (secs or 20)
	while true do
		local s, e = find(buf)
		if s then
			local matched = buf:sub(s, e)
			buf = buf:sub(e + 1)
			return matched
		end
		local se = buf:match("<stream:error>%s*<([%w%-]+)")
		if se then
			fail(step, "stream error " .. se)
		end
		if socket.gettime() > deadline then
			if secs then
				return nil
			end
			fail(step, "nothing within 20 s; have: " .. buf:sub(-400))
		end
		read_some(step)
	end
end

local function plain(pattern)
	return function(b)
		return b:find(pattern)
	end
end

local function esc(s)
	return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

-- The first complete <NAME ...>...</NAME> or <NAME .../> from `jid`.
local function element_from(name, jid)
	return function(b)
		local pos = 1
		while true do
			local s, e = b:find("<" .. name .. "[^>]-from=['\"]" .. esc(jid) .. "['\"][^>]->", pos)
			if not s then
				return nil
			end
			if b:sub(e - 1, e) == "/>" then
				return s, e
			end
			local cs, ce = b:find("</" .. name .. ">", e, true)
			if not cs then
				return nil
			end
			return s, ce
		end
	end
end

local function header(domain)
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
		.. "xmlns:stream='http://etherx.jabber.org/streams' to='" .. domain .. "' version='1.0'>"
end

local function login(host, port, domain, mech, user, password)
	conn = socket.tcp()
	conn:settimeout(10)
	local ok, e = conn:connect(host, tonumber(port))
	if not ok then
		fail("connect", e)
	end
	send(header(domain))
	await("stream", plain("</stream:features>"))
	buf = ""
	send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	await("starttls", plain("<proceed"))
	buf = ""
	local tls = ssl.wrap(conn, { mode = "client", protocol = "any", verify = "none", options = { "all" } })
	tls:sni(domain)
	tls:settimeout(10)
	ok, e = tls:dohandshake()
	if not ok then
		fail("tls", e)
	end
	conn = tls
	send(header(domain))
	local features = await("auth", plain("</stream:features>"))
	buf = ""
	if mech == "anonymous" then
		send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
	else
		local cred = (mime.b64("\0" .. user .. "\0" .. password))
		send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" .. cred .. "</auth>")
	end
	local answer = await("auth", function(b)
		local s, e = b:find("<success[^>]*/>")
		if s then
			return s, e
		end
		s, e = b:find("<success.-</success>")
		if s then
			return s, e
		end
		return b:find("<failure.-</failure>")
	end)
	if answer:find("^<failure") then
		fail("auth", answer .. " offered: " .. features)
	end
	send(header(domain))
	await("bind", plain("</stream:features>"))
	buf = ""
	send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	local bound = await("bind", plain("<iq[^>]-id=['\"]b1['\"].-</iq>"))
	local jid = bound:match("<jid>([^<]+)</jid>")
	if not jid then
		fail("bind", bound)
	end
	send("<presence/>")
	out("logged-in", jid)
end

local i = 1
while arg[i] do
	local a = arg[i]
	if a == "login" then
		local mech = arg[i + 4]
		if mech == "plain" then
			login(arg[i + 1], arg[i + 2], arg[i + 3], mech, arg[i + 5], arg[i + 6])
			i = i + 7
		else
			login(arg[i + 1], arg[i + 2], arg[i + 3], mech)
			i = i + 5
		end
	elseif a == "join" then
		local occupant = arg[i + 1]
		send("<presence to='" .. occupant .. "'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
		local p = await("join", element_from("presence", occupant))
		if p:find("type=['\"]error['\"]") then
			out("join-error", occupant, p:match("<error.-<([%w%-]+) xmlns=['\"]urn:ietf:params:xml:ns:xmpp%-stanzas") or "?")
		else
			out("joined", occupant, "role=" .. (p:match("role=['\"](%w+)['\"]") or "?"))
		end
		i = i + 2
	elseif a == "await-presence" then
		await("presence " .. arg[i + 1], element_from("presence", arg[i + 1]))
		out("presence", arg[i + 1])
		i = i + 2
	elseif a == "say" then
		send("<message type='groupchat' to='" .. arg[i + 1] .. "'><body>" .. arg[i + 2] .. "</body></message>")
		i = i + 3
	elseif a == "await-message" then
		local jid, text = arg[i + 1], arg[i + 2]
		local finder = element_from("message", jid)
		while true do
			local m = await("message " .. jid, finder)
			if m:find("<body>" .. esc(text) .. "</body>") then
				break
			end
		end
		out("message", jid, text)
		i = i + 3
	elseif a == "hold" then
		await("hold", function()
			return nil
		end, tonumber(arg[i + 1]))
		i = i + 2
	else
		fail("usage", a)
	end
end
send("</stream:stream>")
out("done")
