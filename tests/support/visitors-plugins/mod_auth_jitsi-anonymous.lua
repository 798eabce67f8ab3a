-- Test stand-in for Jitsi's mod_auth_jitsi-anonymous (see README.md).
local new_sasl = require "prosody.util.sasl".new;

local provider = {};
local function refuse() return nil, "anonymous logins only"; end
provider.test_password = refuse;
provider.get_password = refuse;
provider.set_password = refuse;
provider.create_user = refuse;
provider.delete_user = refuse;
function provider.user_exists() return nil; end
function provider.users() return function() return nil; end; end
function provider.get_sasl_handler()
	return new_sasl(module.host, {
		anonymous = function() return true; end;
	});
end

module:provides("auth", provider);
