-- Test stand-in for Jitsi's mod_s2sout_override (see README.md).
local basic = require "prosody.net.resolvers.basic";
local overrides = module:get_option("s2sout_override", {});

module:hook("s2sout-pre-connect", function(event)
	local to = event.session.to_host;
	local target = overrides[to] or overrides["*"];
	if type(target) ~= "string" then return end
	local host, port = target:match("^tcp://([^:/]+):(%d+)$");
	if not host then
		module:log("error", "s2sout_override for %s: %q is not tcp://host:port", to, target);
		return
	end
	module:log("debug", "s2s to %s goes to %s:%s", to, host, port);
	event.resolver = basic.new(host, tonumber(port), "tcp", { servername = to });
end);
