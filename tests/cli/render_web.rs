//! render_web tests: the web service's config.js and nginx files, rendered
//! through the binary and read back by the programs that consume them
//! (node for config.js, Debian's nginx for the nginx files).

use crate::{init_stack, Run, Test};
use serde_json::Value as Json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Renders a stack made by `init` plus `extra`, with components `with`.
fn rendered(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let run = crate::harness::init_stack_raw(extra, with);
    Test::again(run).args(["render"]).run()
}

fn require(program: &str) {
    let found = Command::new(program)
        .arg(if program == "nginx" {
            "-v"
        } else {
            "--version"
        })
        .output()
        .is_ok();
    assert!(
        found,
        "{program} is required by the render_web tests but is not installed (run .ci/install-deps)"
    );
}

/// One node process evaluates every config.js: each is compiled (syntax
/// check, like `node --check`) and run in a fresh `vm` context with a
/// timeout; `config` comes back as JSON. `ssi` replaces nginx's SSI echo of
/// subdir/subdomain the way nginx would for a tenant.
pub fn eval_configs(files: &[(PathBuf, Option<&str>)]) -> Vec<Json> {
    require("node");
    let script = r#"
const fs = require('fs'), vm = require('vm');
const jobs = JSON.parse(process.argv[1]);
const out = [];
for (const [file, tenant] of jobs) {
  let src = fs.readFileSync(file, 'utf8');
  if (tenant !== null) {
    src = src.split('<!--# echo var="subdir" default="" -->').join(tenant + '/')
             .split('<!--# echo var="subdomain" default="" -->').join(tenant + '.');
  }
  const ctx = vm.createContext({});
  new vm.Script(src, { filename: file }).runInContext(ctx, { timeout: 2000 });
  out.push(vm.runInContext('JSON.stringify(config)', ctx, { timeout: 2000 }));
}
process.stdout.write(JSON.stringify(out));
"#;
    let jobs: Vec<(String, Option<&str>)> = files
        .iter()
        .map(|(p, t)| (p.display().to_string(), *t))
        .collect();
    let out = Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(serde_json::to_string(&jobs).unwrap())
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "node rejected a config.js:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    list.iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect()
}

pub fn config_of(run: &Run) -> Json {
    eval_configs(&[(run.path().join("generated/web/config.js"), None)]).remove(0)
}

/// A self-signed certificate shared by every nginx check.
pub fn stub_cert() -> &'static (PathBuf, PathBuf) {
    static CERT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("web-cert-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (crt, key) = (dir.join("cert.crt"), dir.join("cert.key"));
        crate::harness::self_signed("test", &key, &crt);
        (crt, key)
    })
}

/// The RFC 7919 ffdhe2048 group the image ships as /defaults/ffdhe2048.txt
/// (ssl.conf's `ssl_dhparam`), made by openssl, which knows the named group.
pub fn ffdhe2048() -> &'static PathBuf {
    static DH: OnceLock<PathBuf> = OnceLock::new();
    DH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("web-dh-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ffdhe2048.txt");
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-genparam",
                "-algorithm",
                "DH",
                "-pkeyopt",
                "group:ffdhe2048",
                "-out",
            ])
            .arg(&path)
            .output()
            .expect("openssl is required for the DH group");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    })
}

/// Host names the rendered files proxy to without a variable: nginx
/// resolves those at `-t` time, so the test copy maps them to 127.0.0.1.
const UPSTREAM_HOSTS: &[&str] = &[
    "etherpad.meet.jitsi",
    "whiteboard.meet.jitsi",
    "xmpp.meet.jitsi",
    "rtcstats-server.meet.jitsi",
    "rtc-visualizer.meet.jitsi",
];

/// Copies the rendered nginx files into a scratch prefix with every
/// container path remapped, then runs `nginx -t` on the copy. The copy:
/// - points the site-confs glob, meet.conf, ssl.conf and nginx-custom at the
///   copies (so the site really is checked, not an empty glob);
/// - points the certificate (self-signed or Let's Encrypt) at a stub;
/// - moves pid and temp paths into the scratch directory;
/// - drops `include /etc/nginx/modules-enabled/*.conf` (the image's
///   nginx-extras modules; the rendered files use none of them);
/// - maps upstream host names to 127.0.0.1.
///
/// `mutate` may edit meet.conf first (to prove a broken site fails).
fn nginx_check(run: &Run, mutate: impl Fn(String) -> String) -> (bool, String) {
    require("nginx");
    let (crt, key) = stub_cert();
    let scratch = tempfile::tempdir().unwrap();
    let t = scratch.path();
    fs::create_dir_all(t.join("site-confs")).unwrap();
    fs::create_dir_all(t.join("nginx-custom")).unwrap();
    fs::create_dir_all(t.join("tmp")).unwrap();
    let remap = |text: String| -> String {
        let mut s = text
            .replace(
                "include /etc/nginx/modules-enabled/*.conf;",
                "# modules-enabled dropped in the test copy",
            )
            .replace(
                "/run/web/config/nginx/site-confs/",
                &format!("{}/site-confs/", t.display()),
            )
            .replace(
                "/run/web/config/nginx-custom/",
                &format!("{}/nginx-custom/", t.display()),
            )
            .replace("/run/web/config/nginx/", &format!("{}/", t.display()))
            .replace("/run/web/tmp/", &format!("{}/tmp/", t.display()))
            .replace(
                "pid /run/nginx.pid;",
                &format!("pid {}/nginx.pid;", t.display()),
            )
            .replace(
                "/defaults/ffdhe2048.txt",
                &ffdhe2048().display().to_string(),
            )
            .replace("/storage/keys/cert.crt", &crt.display().to_string())
            .replace("/storage/keys/cert.key", &key.display().to_string());
        // Let's Encrypt paths: /storage/acme-certs/DOMAIN/{fullchain,key}.pem
        while let Some(start) = s.find("/storage/acme-certs/") {
            let end = s[start..].find(';').map(|e| start + e).unwrap();
            let stub = if s[start..end].ends_with("fullchain.pem") {
                crt
            } else {
                key
            };
            s.replace_range(start..end, &stub.display().to_string());
        }
        for h in UPSTREAM_HOSTS {
            s = s.replace(h, "127.0.0.1");
        }
        s
    };
    let gen = run.path().join("generated/web");
    for (name, dest) in [
        ("nginx.conf", t.join("nginx.conf")),
        ("ssl.conf", t.join("ssl.conf")),
        ("default", t.join("site-confs/default")),
    ] {
        fs::write(dest, remap(fs::read_to_string(gen.join(name)).unwrap())).unwrap();
    }
    let meet = mutate(remap(fs::read_to_string(gen.join("meet.conf")).unwrap()));
    fs::write(t.join("meet.conf"), meet).unwrap();
    let out = Command::new("nginx")
        .args(["-t", "-q", "-e", "stderr", "-p"])
        .arg(format!("{}/", t.display()))
        .arg("-c")
        .arg(t.join("nginx.conf"))
        .output()
        .expect("running nginx");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn assert_nginx_ok(run: &Run) {
    let (ok, err) = nginx_check(run, |s| s);
    assert!(ok, "nginx -t rejected the rendered site:\n{err}");
}

fn no_template_delimiters(run: &Run) {
    for f in [
        "config.js",
        "nginx.conf",
        "meet.conf",
        "ssl.conf",
        "default",
    ] {
        let text = run.read(&format!("generated/web/{f}"));
        assert!(!text.contains("{{"), "{f} contains '{{{{'");
        assert!(
            text.contains(jitsi_stack::render::GENERATED_NOTE),
            "{f} lacks the generated note"
        );
    }
}

#[test]
fn defaults_render_valid_config_and_site() {
    let run = rendered(&[], &[]);
    no_template_delimiters(&run);
    let c = config_of(&run);
    assert_eq!(c["hosts"]["domain"], "meet.jitsi");
    assert_eq!(c["hosts"]["muc"], "muc.meet.jitsi");
    assert!(c["hosts"].get("anonymousdomain").is_none());
    assert!(c["hosts"].get("authdomain").is_none());
    assert_eq!(c["bosh"], "https://meet.example.org:8443/http-bind");
    assert_eq!(c["websocket"], "wss://meet.example.org:8443/xmpp-websocket");
    assert_eq!(c["bridgeChannel"]["preferSctp"], true);
    assert_eq!(c["p2p"]["enabled"], true);
    assert_eq!(c["resolution"], 720);
    assert_eq!(c["transcription"]["enabled"], false);
    assert_eq!(
        c["transcription"]["translationLanguagesHead"],
        serde_json::json!(["en"])
    );
    assert!(c.get("recordingService").is_none());
    assert!(c.get("hiddenDomain").is_none());
    assert!(c.get("desktopSharingFrameRate").is_none());
    assert_eq!(c["welcomePage"]["disabled"], false);
    assert!(c.get("etherpad_base").is_none());
    assert_nginx_ok(&run);
    let meet = run.read("generated/web/meet.conf");
    assert!(meet.contains("location = /xmpp-websocket"));
    assert!(meet.contains("proxy_pass http://xmpp.meet.jitsi:5280/http-bind?prefix=$prefix&$args;"));
    assert!(!meet.contains("/colibri-ws/"));
    assert!(!meet.contains("/etherpad/"));
    let ssl = run.read("generated/web/ssl.conf");
    assert!(ssl.contains("ssl_certificate /storage/keys/cert.crt;"));
    assert!(ssl.contains("Strict-Transport-Security"));
    let default = run.read("generated/web/default");
    assert!(default.contains("listen 8443 ssl"));
    assert!(!default.contains("return 301"));
    assert_eq!(run.read("generated/empty"), "");
}

#[test]
fn nginx_check_really_reads_the_site() {
    // The trap: a site-confs glob matching nothing passes `nginx -t`.
    let run = rendered(&[], &[]);
    let (ok, err) = nginx_check(&run, |s| s + "\nthis_is_not_a_directive on;\n");
    assert!(
        !ok,
        "a broken meet.conf passed nginx -t: the site is not being checked"
    );
    assert!(err.contains("this_is_not_a_directive"), "{err}");
}

#[test]
fn tenant_ssi_moves_muc_bosh_and_websocket() {
    let run = rendered(&[], &[]);
    let file = run.path().join("generated/web/config.js");
    let c = eval_configs(&[(file, Some("acme"))]).remove(0);
    assert_eq!(c["hosts"]["muc"], "muc.acme.meet.jitsi");
    assert_eq!(c["bosh"], "https://meet.example.org:8443/acme/http-bind");
    assert_eq!(
        c["websocket"],
        "wss://meet.example.org:8443/acme/xmpp-websocket"
    );
}

#[test]
fn subdomains_off_and_relative_bosh() {
    let run = rendered(
        &[
            ("ENABLE_SUBDOMAINS", "0"),
            ("BOSH_RELATIVE", "1"),
            ("ENABLE_XMPP_WEBSOCKET", "0"),
        ],
        &[],
    );
    let c = config_of(&run);
    assert_eq!(c["bosh"], "/http-bind");
    assert!(c.get("websocket").is_none());
    assert!(!run.read("generated/web/config.js").contains("<!--#"));
    let meet = run.read("generated/web/meet.conf");
    assert!(!meet.contains("xmpp-websocket"));
    assert!(!meet.contains("$subdir"));
    assert_nginx_ok(&run);
}

#[test]
fn auth_types_set_auth_and_guest_domains() {
    let cases: &[&[(&str, &str)]] = &[
        &[("AUTH_TYPE", "internal")],
        &[
            ("AUTH_TYPE", "jwt"),
            ("JWT_APP_ID", "my_app"),
            ("JWT_APP_SECRET", "s3cret-value-for-tests"),
            (
                "TOKEN_AUTH_URL",
                "https://auth.example.org/login?room={room}",
            ),
        ],
        &[
            ("AUTH_TYPE", "ldap"),
            // The schema types LDAP_URL as an http(s) URL and refuses
            // ldaps:// (reported); any accepted value serves here, the web
            // files do not use it.
            ("LDAP_URL", "https://ldap.example.org/"),
            ("LDAP_BASE", "DC=example,DC=org"),
        ],
        &[
            ("AUTH_TYPE", "matrix"),
            ("MATRIX_UVS_URL", "https://uvs.example.org"),
        ],
    ];
    let mut runs = vec![];
    for extra in cases {
        let mut all = vec![
            ("ENABLE_AUTH", "1"),
            ("ENABLE_GUESTS", "1"),
            ("XMPP_GUEST_DOMAIN", "guest.example.org"),
        ];
        all.extend_from_slice(extra);
        runs.push(rendered(&all, &[]));
    }
    let files: Vec<_> = runs
        .iter()
        .map(|r| (r.path().join("generated/web/config.js"), None))
        .collect();
    for (i, c) in eval_configs(&files).into_iter().enumerate() {
        assert_eq!(
            c["hosts"]["anonymousdomain"], "guest.example.org",
            "case {i}"
        );
        assert_eq!(c["hosts"]["authdomain"], "meet.jitsi", "case {i}");
    }
    let jwt = eval_configs(&[(runs[1].path().join("generated/web/config.js"), None)]).remove(0);
    assert_eq!(
        jwt["tokenAuthUrl"],
        "https://auth.example.org/login?room={room}"
    );
    // Auth without guests: no anonymous domain.
    let run = rendered(&[("ENABLE_AUTH", "1")], &[]);
    let c = config_of(&run);
    assert!(c["hosts"].get("anonymousdomain").is_none());
    assert_eq!(c["hosts"]["authdomain"], "meet.jitsi");
}

#[test]
fn letsencrypt_on_uses_the_issued_certificate() {
    let run = rendered(
        &[
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet.example.org"),
            ("LETSENCRYPT_EMAIL", "admin@example.org"),
            ("HTTP_PORT", "80"),
            ("HTTPS_PORT", "443"),
            ("PUBLIC_URL", "https://meet.example.org"),
            ("ENABLE_HTTP_REDIRECT", "1"),
        ],
        &[],
    );
    let ssl = run.read("generated/web/ssl.conf");
    assert!(ssl.contains("ssl_certificate /storage/acme-certs/meet.example.org/fullchain.pem;"));
    assert!(ssl.contains("ssl_certificate_key /storage/acme-certs/meet.example.org/key.pem;"));
    let default = run.read("generated/web/default");
    assert!(default.contains("return 301 https://$host$request_uri;"));
    let c = config_of(&run);
    assert_eq!(c["bosh"], "https://meet.example.org/http-bind");
    assert_nginx_ok(&run);
}

#[test]
fn disable_https_drops_the_tls_server() {
    let run = rendered(&[("DISABLE_HTTPS", "1"), ("ENABLE_HSTS", "0")], &[]);
    let default = run.read("generated/web/default");
    assert!(!default.contains("ssl"), "{default}");
    // No HTTPS server to redirect to: the redirect would loop.
    assert!(!default.contains("return 301"));
    assert!(!run
        .read("generated/web/ssl.conf")
        .contains("Strict-Transport-Security"));
    assert_nginx_ok(&run);
}

#[test]
fn all_components_and_three_bridges() {
    let run = rendered(
        &[
            ("JVB_INSTANCES", "3"),
            ("ENABLE_RECORDING", "1"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
            ("ENABLE_LIVESTREAMING", "1"),
            ("RTCSTATS_ENABLED", "1"),
            ("ENABLE_JAAS_COMPONENTS", "1"),
            ("ENABLE_LOAD_TEST_CLIENT", "1"),
            ("CSP_HEADER", "frame-ancestors 'self' https://*.example.org"),
            ("DEPLOYMENTINFO_SHARD", "shard-1"),
            // As in the image, the overlays alone do not wire etherpad and
            // the whiteboard into the site: their URLs do.
            ("ETHERPAD_URL_BASE", "http://etherpad.meet.jitsi:9001"),
            (
                "WHITEBOARD_COLLAB_SERVER_URL_BASE",
                "http://whiteboard.meet.jitsi",
            ),
        ],
        &[
            // jigasi needs SIP credentials at init time; it does not
            // change the web files.
            "jibri",
            "transcriber",
            "etherpad",
            "whiteboard",
            "turn",
            "monitoring",
            "log-analyser",
        ],
    );
    no_template_delimiters(&run);
    let meet = run.read("generated/web/meet.conf");
    // The pinned release has no colibri websockets (bridge channels are
    // SCTP): no route to the bridges' old public port, whatever their number.
    assert!(!meet.contains("colibri"), "{meet}");
    assert!(meet.contains("proxy_pass http://etherpad.meet.jitsi:9001/;"));
    assert!(meet.contains("proxy_pass http://whiteboard.meet.jitsi/socket.io/?$args;"));
    assert!(meet.contains("add_header Content-Security-Policy \"frame-ancestors 'self' https://*.example.org\" always;"));
    assert!(meet.contains("location = /_api/room-info"));
    assert_nginx_ok(&run);
    let c = config_of(&run);
    assert_eq!(
        c["etherpad_base"],
        "https://meet.example.org:8443/etherpad/p/"
    );
    assert_eq!(c["whiteboard"]["enabled"], true);
    assert_eq!(
        c["whiteboard"]["collabServerBaseUrl"],
        "https://meet.example.org:8443"
    );
    assert_eq!(c["recordingService"]["enabled"], true);
    assert_eq!(c["liveStreaming"]["enabled"], true);
    assert_eq!(c["hiddenDomain"], "hidden.meet.jitsi");
    assert_eq!(c["transcription"]["enabled"], true);
    assert_eq!(c["roomPasswordNumberOfDigits"], 10);
    assert_eq!(c["analytics"]["rtcstatsEnabled"], true);
    assert_eq!(c["deploymentInfo"]["shard"], "shard-1");
}

#[test]
fn etherpad_and_whiteboard_follow_their_urls_not_the_overlays() {
    // The image's templates: the components running is not enough.
    let run = rendered(&[], &["etherpad", "whiteboard"]);
    let c = config_of(&run);
    assert!(c.get("etherpad_base").is_none());
    assert_eq!(c["whiteboard"]["enabled"], false);
    assert!(c["whiteboard"].get("collabServerBaseUrl").is_none());
    let meet = run.read("generated/web/meet.conf");
    assert!(!meet.contains("/etherpad/") && !meet.contains("/socket.io/"));
    // The public URLs alone turn the client side on (no proxy route).
    let run = rendered(
        &[
            ("ETHERPAD_PUBLIC_URL", "https://pad.example.org/p/"),
            (
                "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL",
                "https://wb.example.org",
            ),
        ],
        &["etherpad", "whiteboard"],
    );
    let c = config_of(&run);
    assert_eq!(c["etherpad_base"], "https://pad.example.org/p/");
    assert_eq!(c["whiteboard"]["enabled"], true);
    assert_eq!(
        c["whiteboard"]["collabServerBaseUrl"],
        "https://wb.example.org"
    );
    let meet = run.read("generated/web/meet.conf");
    assert!(!meet.contains("/etherpad/") && !meet.contains("/socket.io/"));
    assert_nginx_ok(&run);
}

#[test]
fn release_keys_of_config_js() {
    // Defaults of the pinned templates.
    let run = rendered(&[], &[]);
    let c = config_of(&run);
    let order = serde_json::json!(["AV1", "VP9", "VP8", "H264"]);
    let mobile = serde_json::json!(["VP8", "VP9", "H264", "AV1"]);
    assert_eq!(c["videoQuality"]["codecPreferenceOrder"], order);
    assert_eq!(c["videoQuality"]["mobileCodecPreferenceOrder"], mobile);
    assert_eq!(c["p2p"]["codecPreferenceOrder"], order);
    assert_eq!(c["p2p"]["mobileCodecPreferenceOrder"], mobile);
    assert_eq!(c["audioTranslation"]["enabled"], false);
    assert_eq!(c["transcription"]["disableClosedCaptions"], true);
    assert_eq!(c["virtualBackground"]["enableV2"], true);
    assert_eq!(c["testing"]["enableCodecSelectionAPI"], true);
    assert_eq!(c["whiteboard"]["enabled"], false);
    assert_eq!(c["roomPasswordNumberOfDigits"], false);

    // Set: the peer-to-peer orders follow the bridge variables, as in the
    // image (CODEC_ORDER_P2P is not read by it).
    let run = rendered(
        &[
            ("CODEC_ORDER_JVB", "[\"VP9\",\"VP8\"]"),
            ("CODEC_ORDER_JVB_MOBILE", "H264,VP8"),
            ("CODEC_ORDER_P2P", "AV1"),
            ("ENABLE_AUDIO_TRANSLATION", "1"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
            ("ENABLE_VIRTUAL_BACKGROUND_V2", "0"),
            ("ROOM_PASSWORD_DIGITS", "6"),
            ("RTCSTATS_ENABLED", "1"),
            // A trailing slash is dropped, as the image's PUBLIC_URL_DOMAIN
            // (a path is refused by check: Jitsi Meet is served at the root).
            ("PUBLIC_URL", "https://meet.example.org:8443/"),
        ],
        &[],
    );
    let c = config_of(&run);
    assert_eq!(
        c["videoQuality"]["codecPreferenceOrder"],
        serde_json::json!(["VP9", "VP8"])
    );
    assert_eq!(
        c["p2p"]["codecPreferenceOrder"],
        serde_json::json!(["VP9", "VP8"])
    );
    assert_eq!(
        c["p2p"]["mobileCodecPreferenceOrder"],
        serde_json::json!(["H264", "VP8"])
    );
    assert_eq!(c["audioTranslation"]["enabled"], true);
    assert_eq!(c["transcription"]["disableClosedCaptions"], false);
    assert_eq!(c["virtualBackground"]["enableV2"], false);
    assert_eq!(c["roomPasswordNumberOfDigits"], 6);
    assert_eq!(c["bosh"], "https://meet.example.org:8443/http-bind");
    assert_eq!(
        c["analytics"]["rtcstatsEndpoint"],
        "wss://meet.example.org:8443/rtcstats-ws"
    );
}

#[test]
fn nginx_logs_redact_tokens_and_tls_is_the_release_profile() {
    let run = rendered(&[], &[]);
    let nginx = run.read("generated/web/nginx.conf");
    assert!(
        nginx.contains("access_log /dev/stdout jitsi_log;"),
        "{nginx}"
    );
    assert!(nginx.contains("(?:jwt|token)="), "{nginx}");
    assert!(nginx.contains("pid /run/nginx.pid;"));
    let ssl = run.read("generated/web/ssl.conf");
    for want in [
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_prefer_server_ciphers off;",
        "ssl_dhparam /defaults/ffdhe2048.txt;",
        "add_header Strict-Transport-Security \"max-age=63072000\" always;",
    ] {
        assert!(ssl.contains(want), "{want} missing:\n{ssl}");
    }
    // AEAD suites only: no CBC, no SHA-1 MAC (the 2020 list had both).
    let ciphers = ssl.lines().find(|l| l.starts_with("ssl_ciphers ")).unwrap();
    let list = ciphers
        .trim_start_matches("ssl_ciphers ")
        .trim_end_matches(';');
    for suite in list.split(':') {
        assert!(
            suite.contains("-GCM-") || suite.ends_with("CHACHA20-POLY1305"),
            "{suite} is not an AEAD suite"
        );
    }
}

/// Hostile text that must reach config.js verbatim.
const HOSTILE: &[&str] = &[
    "it's \"quoted\"",
    "back\\slash\\",
    "line1\nline2",
    "${HOME} $$ {{ .Env.SECRET }}",
    "]]; alert(1); //",
    "</script><!--# echo var=\"x\" -->",
    "a;b#c",
    "ünïcødé ✓ 😀 \u{2028}",
];

#[test]
fn hostile_text_round_trips_through_config_js() {
    let long = "x".repeat(5000) + "\"'\\";
    let mut values: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    values.push(long);
    let vars = [
        "DEFAULT_LANGUAGE",
        "AMPLITUDE_ID",
        "DEPLOYMENTINFO_REGION",
        "PREFERRED_LANGUAGE",
        "MATOMO_SITE_ID",
    ];
    let mut runs = vec![];
    for value in &values {
        let extra: Vec<(&str, &str)> = vars.iter().map(|v| (*v, value.as_str())).collect();
        runs.push(rendered(&extra, &[]));
    }
    let files: Vec<_> = runs
        .iter()
        .map(|r| (r.path().join("generated/web/config.js"), None))
        .collect();
    for (c, value) in eval_configs(&files).iter().zip(&values) {
        assert_eq!(c["defaultLanguage"], value.as_str());
        assert_eq!(c["analytics"]["amplitudeAPPKey"], value.as_str());
        assert_eq!(c["deploymentInfo"]["region"], value.as_str());
        assert_eq!(c["transcription"]["preferredLanguage"], value.as_str());
        assert_eq!(c["analytics"]["matomoSiteID"], value.as_str());
    }
    for r in &runs {
        let text = r.read("generated/web/config.js");
        assert!(!text.contains("{{"));
        // The only SSI directives are our own two.
        assert_eq!(text.matches("<!--#").count(), 2);
    }
}

#[test]
fn toolbar_buttons_are_trimmed_and_escaped() {
    let run = rendered(
        &[(
            "TOOLBAR_BUTTONS",
            " camera , microphone,,'];evil(),hangup\\ ",
        )],
        &[],
    );
    let c = config_of(&run);
    assert_eq!(
        c["toolbarButtons"],
        serde_json::json!(["camera", "microphone", "'];evil()", "hangup\\"])
    );
}

#[test]
fn nginx_values_round_trip_or_are_refused() {
    // Representable: quotes and backslashes inside an nginx string.
    let csp = "default-src 'self' \"x\" \\ ; # not a comment";
    let run = rendered(
        &[
            ("CSP_HEADER", csp),
            ("DEPLOYMENTINFO_SHARD", "eu #1; \"a\""),
        ],
        &[],
    );
    assert_nginx_ok(&run);
    let meet = run.read("generated/web/meet.conf");
    let line = meet
        .lines()
        .find(|l| l.starts_with("add_header Content-Security-Policy"))
        .unwrap();
    let lit = line
        .strip_prefix("add_header Content-Security-Policy ")
        .and_then(|l| l.strip_suffix(" always;"))
        .unwrap();
    // nginx's quoted-string reading: \" and \\ are escapes.
    let inner = &lit[1..lit.len() - 1];
    let back = inner.replace("\\\"", "\"").replace("\\\\", "\\");
    assert_eq!(back, csp);

    // Unrepresentable: refused, naming the variable, nothing written.
    for (var, value) in [
        ("CSP_HEADER", "x$host"),
        ("CSP_HEADER", "a\nadd_header X y"),
        ("DEPLOYMENTINFO_SHARD", "{{ .Env.X }}"),
        (
            "CORS_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN",
            "https://a.example.org${x}",
        ),
        (
            "XMPP_BOSH_URL_BASE",
            "http://xmpp.meet.jitsi:5280/x;return 301 https://evil",
        ),
        ("NGINX_RESOLVER", "1.1.1.1; return 301 https://evil"),
    ] {
        let run = crate::harness::init_stack_raw(&[(var, value)], &[]);
        let run = Test::again(run).args(["render"]).status(1).run();
        assert!(run.stderr.contains(var), "{var}={value:?}: {}", run.stderr);
        assert!(
            !run.exists("generated"),
            "{var}={value:?}: something was written"
        );
    }
}

#[test]
fn mount_rows_cover_every_web_file() {
    use jitsi_stack::render::mounts;
    let rows: Vec<_> = mounts::for_service("web").collect();
    let target = |f: &str| rows.iter().find(|m| m.file == f).map(|m| m.target);
    assert_eq!(target("config.js"), Some("/defaults/system-config.js"));
    assert_eq!(target(mounts::EMPTY), Some("/defaults/settings-config.js"));
    assert_eq!(target("nginx.conf"), Some("/defaults/nginx.conf"));
    assert_eq!(target("meet.conf"), Some("/defaults/meet.conf"));
    assert_eq!(target("ssl.conf"), Some("/defaults/ssl.conf"));
    assert_eq!(target("default"), Some("/defaults/default"));
    let run = rendered(&[], &[]);
    for m in &rows {
        let rel = if m.file == mounts::EMPTY {
            format!("generated/{}", m.file)
        } else {
            format!("generated/web/{}", m.file)
        };
        assert!(
            Path::new(&run.path().join(&rel)).exists(),
            "{rel} not rendered"
        );
    }
}

#[test]
fn settings_values_reach_config_js() {
    let banner = r#"{"url":"https://example.org/ext","edgeUrl":"https://example.org/edge","chromeExtensionsInfo":[{"id":"abc","path":"x"}]}"#;
    let run = rendered(
        &[
            ("RESOLUTION", "1080"),
            ("START_AUDIO_MUTED", "3"),
            ("ENABLE_P2P", "0"),
            ("ENABLE_WELCOME_PAGE", "0"),
            ("ENABLE_AUTOMATIC_GAIN_CONTROL", "0"),
            ("VIDEOQUALITY_BITRATE_VP9_LOW", "100000"),
            ("VIDEOQUALITY_BITRATE_VP9_SS_HIGH", "2500000"),
            ("CODEC_ORDER_JVB", "['VP9', 'AV1' ,'VP8']"),
            ("TRANSLATION_LANGUAGES", "['de','fr']"),
            ("P2P_STUN_SERVERS", "a.example.org:443, b.example.org:3478"),
            ("CHROME_EXTENSION_BANNER_JSON", banner),
            ("ROOM_PASSWORD_DIGITS", "1"),
            ("HIDE_PREMEETING_BUTTONS", "microphone, camera"),
            ("ENABLE_E2EPING", "1"),
            ("DESKTOP_SHARING_FRAMERATE_AUTO", "0"),
            ("DESKTOP_SHARING_FRAMERATE_MAX", "30"),
            ("ENABLE_TCC", "0"),
            ("E2EPING_NUM_REQUESTS", "5"),
        ],
        &[],
    );
    let c = config_of(&run);
    assert_eq!(c["resolution"], 1080);
    assert_eq!(c["constraints"]["video"]["height"]["ideal"], 1080);
    assert_eq!(c["startAudioMuted"], 3);
    assert_eq!(c["p2p"]["enabled"], false);
    assert_eq!(c["welcomePage"]["disabled"], true);
    assert_eq!(c["disableAGC"], true);
    assert_eq!(c["videoQuality"]["vp9"]["low"], 100000);
    assert_eq!(c["videoQuality"]["vp9"]["ssHigh"], 2500000);
    assert_eq!(c["desktopSharingFrameRate"]["max"], 30);
    assert!(c.get("enableRemb").is_none());
    assert_eq!(c["enableTcc"], false);
    assert_eq!(
        c["videoQuality"]["codecPreferenceOrder"],
        serde_json::json!(["VP9", "AV1", "VP8"])
    );
    assert_eq!(
        c["transcription"]["translationLanguages"],
        serde_json::json!(["de", "fr"])
    );
    assert_eq!(
        c["p2p"]["stunServers"],
        serde_json::json!([{"urls": "stun:a.example.org:443"}, {"urls": "stun:b.example.org:3478"}])
    );
    let want: Json = serde_json::from_str(banner).unwrap();
    assert_eq!(c["chromeExtensionBanner"], want);
    // The schema types it boolean (reported); the image pastes the raw value.
    assert_eq!(c["roomPasswordNumberOfDigits"], 1);
    assert_eq!(
        c["hiddenPremeetingButtons"],
        serde_json::json!(["microphone", "camera"])
    );
    assert_eq!(c["e2eping"]["enabled"], true);
    assert_eq!(c["e2eping"]["numRequests"], 5);
}

#[test]
fn invalid_banner_json_is_refused() {
    let run = init_stack(
        &[("CHROME_EXTENSION_BANNER_JSON", "'{\"url\": alert(1)}'")],
        &[],
    );
    let run = Test::again(run).args(["render"]).status(1).run();
    assert!(
        run.stderr.contains("CHROME_EXTENSION_BANNER_JSON"),
        "{}",
        run.stderr
    );
    assert!(!run.exists("generated"));
}

/// Golden files for the default stack, so a reviewer sees exactly what a
/// change does to the output. `JITSI_UPDATE_GOLDEN=1` rewrites them.
#[test]
fn default_output_matches_golden_files() {
    let run = rendered(&[], &[]);
    for f in [
        "config.js",
        "nginx.conf",
        "meet.conf",
        "ssl.conf",
        "default",
    ] {
        let got = run.read(&format!("generated/web/{f}"));
        crate::harness::golden("render_web/golden", f, &got);
    }
}

#[test]
fn hostile_urls_round_trip_through_config_js() {
    // The schema refuses what a URL never holds unencoded (white space, `"`,
    // `\\`, `<`, `>`); everything else must round-trip.
    let url = "https://x.example.org/a'b{{.Env.X}}${HOME}?room={room}&q=]]#;x";
    let run = rendered(
        &[
            ("BRANDING_DATA_URL", url),
            ("ETHERPAD_PUBLIC_URL", url),
            ("TOKEN_AUTH_URL", url),
            ("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL", url),
            ("DIALIN_NUMBERS_URL", url),
        ],
        &[],
    );
    let c = config_of(&run);
    assert_eq!(c["brandingDataUrl"], url);
    assert_eq!(c["etherpad_base"], url);
    assert_eq!(c["tokenAuthUrl"], url);
    assert_eq!(c["whiteboard"]["collabServerBaseUrl"], url);
    assert_eq!(c["dialInNumbersUrl"], url);
    let text = run.read("generated/web/config.js");
    assert!(!text.contains("{{"));

    let bad = "https://x.example.org/\"</script><!--#echo var=\"x\"-->";
    let stack = crate::harness::init_stack_raw(&[("BRANDING_DATA_URL", bad)], &[]);
    let before = stack.read(".env");
    let refused = Test::again(stack).args(["render"]).status(1).run();
    assert!(
        refused.stderr.contains("BRANDING_DATA_URL"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("not a valid URL"),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.read(".env"), before);
    assert!(!refused.exists("generated"));
}
