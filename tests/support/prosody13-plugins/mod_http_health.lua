-- Test stand-in for the prosody image's mod_http_health (one of the Jitsi
-- plugins the image copies into /prosody-plugins; Debian ships none of them).
-- The image's register-setup waits for `GET /health` to answer 200 before it
-- creates the accounts; here the answer only means "the server is up".
module:depends("http");
module:provides("http", {
	default_path = "/";
	route = {
		["GET health"] = function () return 200; end;
	};
});
