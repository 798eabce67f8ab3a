-- Test-only stand-in for Jitsi's mod_fmuc (loaded on a visitor node's MUC
-- component by the rendered visitors.cfg.lua), in one respect only: an
-- occupant from the node's own anonymous host (`muc_mapper_domain_base`,
-- vN.meet.jitsi) joins with the role `visitor`, so the component's
-- muc_room_default_presence_broadcast (visitor = false) keeps its presence
-- from the others and the MUC refuses its groupchat messages. Jitsi's
-- module also mirrors the main room's occupants into the node's room and
-- forwards to the main room; that is not stood in (the live test's
-- main-domain participant joins the node's room itself, over s2s).
local jid_host = require "prosody.util.jid".host;
local visitors_host = module:get_option_string("muc_mapper_domain_base");

module:hook("muc-occupant-pre-join", function(event)
	local occupant = event.occupant;
	if visitors_host and jid_host(occupant.bare_jid) == visitors_host then
		occupant.role = "visitor";
	end
end, 3);
