//! The services of a host, one function per service (or component), each
//! reading the checked values and the delivery table of rendered files.
//!
//! Choices (docs/configuration.md documents them for users):
//! - Persistent data lives under CONFIG (`Mount::Data`); rendered files are
//!   config objects (`Mount::Config`, one per row of [`super::mounts`]).
//! - Container environment: every schema variable the service reads that is
//!   set (non-empty) in `.env`, plus what the stack computes (instance ports
//!   and ids). Secrets are named ([`EnvValue::Secret`]), never copied, so
//!   they live only in `.env` (mode 0600).
//! - Ports are numbers from `.env` (validated before the model is built).

use super::{
    mounts, pki, visitors, Check, EnvValue, Exposure, Healthcheck, Image, JibriInstance,
    JvbInstance, Kind, Mount, NodeKind, Port, Probe, Protocol, Service, Tmpfs, XmppAccess,
};
use crate::config::{Component, Stack};
use crate::schema::{self, Reader as Svc, Secret};
use std::collections::BTreeMap;

pub const COTURN_IMAGE: &str = "coturn/coturn:4.6.3";
pub const ETHERPAD_IMAGE: &str = "etherpad/etherpad:2.0.3";
pub const WHITEBOARD_IMAGE: &str = "jitsi/excalidraw-backend:2026.3.0";
pub const PROMETHEUS_IMAGE: &str = "prom/prometheus:v3.13.2";
pub const GRAFANA_IMAGE: &str = "grafana/grafana:10.2.0";
pub const LOKI_IMAGE: &str = "grafana/loki:3.0.0";
pub const OTEL_IMAGE: &str = "otel/opentelemetry-collector-contrib:0.130.0";

/// Where coturn reads its configuration (the image's default path).
pub const TURN_CONF_TARGET: &str = "/etc/coturn/turnserver.conf";

/// The port jicofo's REST API listens on inside its container.
pub const JICOFO_REST_CONTAINER_PORT: u16 = 8888;

/// The port of a bridge's private HTTP server (health, stats, COLIBRI REST)
/// inside its container.
pub const JVB_COLIBRI_CONTAINER_PORT: u16 = 8080;

/// Every service of the stack's host, in file order.
pub fn build(stack: &Stack, bridges: &[JvbInstance], recorders: &[JibriInstance]) -> Vec<Service> {
    let mut out = core(stack, bridges);
    out.extend(visitor_nodes(stack, visitors::local_nodes(stack), false));
    for c in &stack.components {
        out.extend(match c {
            Component::Jibri => jibri(stack, recorders),
            Component::Jigasi => vec![jigasi(stack)],
            Component::Transcriber => vec![transcriber(stack)],
            Component::Etherpad => vec![etherpad(stack)],
            Component::Whiteboard => vec![whiteboard()],
            Component::Turn => vec![turn(stack)],
            Component::Monitoring => monitoring(stack),
            Component::LogAnalyser => log_analyser(),
        });
    }
    out
}

/// With nodes: prosody's client port is published on the main host's
/// address (not on every interface), for the nodes' XMPP logins; prosody
/// requires TLS on it (`check` refuses PROSODY_C2S_REQUIRE_ENCRYPTION=0).
pub fn publish_xmpp(services: &mut [Service], x: &XmppAccess) {
    if let Some(p) = services.iter_mut().find(|s| s.kind == Kind::Prosody) {
        let container = p.ports.first().map(|c| c.container.0).unwrap_or(x.port);
        p.ports.push(port(
            x.port,
            container,
            Protocol::Tcp,
            Exposure::Address(x.address),
            "XMPP for the nodes (TLS required)",
        ));
    }
}

/// With visitor nodes on other hosts: main prosody's s2s port is
/// published on the main host's address for them (the firewall rules of
/// `ports` let only them in: s2s trust between main and the nodes rests on
/// that).
pub fn publish_s2s(services: &mut [Service], address: std::net::IpAddr) {
    if let Some(p) = services.iter_mut().find(|s| s.kind == Kind::Prosody) {
        p.ports.push(port(
            visitors::S2S_PORT,
            visitors::S2S_PORT,
            Protocol::Tcp,
            Exposure::Address(address),
            "XMPP server-to-server for the visitor nodes",
        ));
    }
}

/// The services of a node's bundle: the node's bridges, recorders or SIP
/// gateway, built as on the main host, but in the one compose file of the
/// bundle, starting without waiting for prosody (it runs on the main
/// host), and trusting the main host's CA only ([`pki`]).
pub fn node(
    stack: &Stack,
    kind: NodeKind,
    bridges: &[JvbInstance],
    recorders: &[JibriInstance],
) -> Vec<Service> {
    let mut out: Vec<Service> = match kind {
        NodeKind::Jvb => core(stack, bridges)
            .into_iter()
            .filter(|s| s.kind == Kind::Jvb)
            .collect(),
        NodeKind::Jibri => jibri(stack, recorders),
        NodeKind::Jigasi => vec![jigasi(stack)],
        // Its own prosody, its ports published on the node's address (for
        // the main host only: `ports` prints the rules).
        NodeKind::Visitors => return visitor_nodes(stack, visitors::nodes(stack), true),
    };
    for s in &mut out {
        s.component = None;
        s.depends_on.clear();
        s.mounts.push(Mount::Host {
            source: format!("./{}", pki::BUNDLE_TRUSTSTORE),
            target: pki::TRUSTSTORE_TARGET.to_string(),
            read_only: true,
        });
        s.env
            .insert("JAVA_TOOL_OPTIONS".into(), lit(pki::java_tool_options()));
    }
    out
}

fn tmpfs(run: u32, tmp: u32) -> Vec<Tmpfs> {
    vec![
        Tmpfs {
            path: "/run",
            size_mib: run,
            mode: 0o1750,
            exec: Some(true),
        },
        Tmpfs {
            path: "/tmp",
            size_mib: tmp,
            mode: 0o1777,
            exec: Some(false),
        },
    ]
}

/// The images' own health script.
fn image_healthcheck(start_period_s: u32) -> Option<Healthcheck> {
    healthcheck(
        Check::Exec {
            argv: vec!["/usr/local/bin/healthcheck.sh".into()],
        },
        start_period_s,
    )
}

fn healthcheck(check: Check, start_period_s: u32) -> Option<Healthcheck> {
    Some(Healthcheck {
        check,
        interval_s: 10,
        timeout_s: 5,
        retries: 5,
        start_period_s,
    })
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("service".to_string(), format!("jitsi-{name}"))])
}

/// A data directory of this service's own (read-write).
fn data(dir: &str, target: &str) -> Mount {
    Mount::Data {
        dir: dir.to_string(),
        target: target.to_string(),
        read_only: false,
        shared: false,
    }
}

/// A data directory other services mount too.
fn shared_data(dir: &str, target: &str, read_only: bool) -> Mount {
    Mount::Data {
        dir: dir.to_string(),
        target: target.to_string(),
        read_only,
        shared: true,
    }
}

fn config(id: impl Into<String>, target: &str) -> Mount {
    Mount::Config {
        id: id.into(),
        target: target.to_string(),
    }
}

fn port(
    host: u16,
    container: u16,
    protocol: Protocol,
    exposure: Exposure,
    purpose: &'static str,
) -> Port {
    Port {
        host: (host, host),
        container: (container, container),
        protocol,
        exposure,
        purpose,
    }
}

fn internal(p: u16, purpose: &'static str) -> Port {
    port(p, p, Protocol::Tcp, Exposure::Internal, purpose)
}

/// The environment of a container reading the schema services `kinds`:
/// every such variable set in `.env`, secrets named; generated secrets
/// always (the images need them, and an emitter can then name the fix when
/// one is missing).
fn environment(stack: &Stack, kinds: &[Svc]) -> BTreeMap<String, EnvValue> {
    let mut env = BTreeMap::new();
    for var in schema::VARS {
        if !var.services.iter().any(|s| kinds.contains(s)) {
            continue;
        }
        let set = stack.values.raw(var.name);
        match var.secret {
            Secret::Generated => {
                env.insert(var.name.to_string(), EnvValue::Secret(var.name));
            }
            Secret::User if set.is_some() => {
                env.insert(var.name.to_string(), EnvValue::Secret(var.name));
            }
            Secret::User => {}
            Secret::No => {
                if let Some(v) = set {
                    env.insert(var.name.to_string(), EnvValue::Literal(v.to_string()));
                }
            }
        }
    }
    env
}

fn lit(value: impl Into<String>) -> EnvValue {
    EnvValue::Literal(value.into())
}

/// Upstream gives each Java service its own Sentry DSN variable.
fn sentry(stack: &Stack, env: &mut BTreeMap<String, EnvValue>, var: &str) {
    if let Some(dsn) = stack.values.raw(var) {
        env.insert("SENTRY_DSN".into(), lit(dsn));
    }
}

/// A rendered, read-only mount for every delivery row of `kind`;
/// [`mounts::EMPTY`] rows mount the shared empty file.
fn generated_mounts(kind: &str, instance: &str) -> Vec<Mount> {
    rows()
        .iter()
        .filter(|m| m.service == kind)
        .map(|m| config(m.id(instance), m.target))
        .collect()
}

/// The delivery table; unit tests swap in synthetic rows, since the real
/// rows are added by the service modules.
fn rows() -> &'static [mounts::Delivery] {
    #[cfg(test)]
    if let Some(rows) = tests::ROWS.with(|r| r.get()) {
        return rows;
    }
    mounts::MOUNTS
}

/// The web service's branding mounts (read-only): each present file at each
/// of its targets, and the rendered files the values plan.
fn branding_mounts(stack: &Stack) -> Vec<Mount> {
    use crate::branding::{self as b, SERVED_DIR, SHARE};
    let present = b::present(&stack.branding_files);
    let mut out = vec![];
    for k in &present {
        for t in k.targets {
            out.push(Mount::StackFile {
                path: format!("{}/{}", b::DIR, k.name),
                target: t.to_string(),
            });
        }
    }
    let planned = b::planned(&stack.values, &present);
    if planned.title {
        out.push(config(b::GEN_TITLE, &format!("{SHARE}/title.html")));
    }
    if planned.json {
        out.push(config(b::GEN_JSON_DIR, SERVED_DIR));
    }
    if planned.interface {
        out.push(config(
            b::GEN_INTERFACE,
            "/config/custom-interface_config.js",
        ));
    }
    out
}

fn value_port(stack: &Stack, name: &str, fallback: u16) -> u16 {
    stack.values.port(name).unwrap_or(fallback)
}

fn base_service(name: &str, kind: Kind, image: Image) -> Service {
    Service {
        name: name.to_string(),
        kind,
        component: None,
        instance_id: None,
        image,
        user: None,
        read_only: false,
        tmpfs: vec![],
        shm_size: None,
        cap_add: vec![],
        command: vec![],
        host_network: false,
        ports: vec![],
        mounts: vec![],
        labels: BTreeMap::new(),
        env: BTreeMap::new(),
        health: None,
        probe: None,
        depends_on: vec![],
        aliases: vec![],
    }
}

/// What nginx does on the HTTP port, as the web image configures it: with
/// ENABLE_HTTP_REDIRECT it only redirects to HTTPS (and answers Let's
/// Encrypt's challenges); without it, it serves the whole site unencrypted.
fn http_purpose(stack: &Stack) -> &'static str {
    let v = &stack.values;
    let letsencrypt = v.bool("ENABLE_LETSENCRYPT");
    match (
        v.bool("ENABLE_HTTP_REDIRECT") && !v.bool("DISABLE_HTTPS"),
        letsencrypt,
    ) {
        (true, true) => "HTTP (redirect to HTTPS, Let's Encrypt)",
        (true, false) => "HTTP (redirect to HTTPS)",
        (false, true) => "HTTP (the whole site unencrypted, Let's Encrypt)",
        (false, false) => "HTTP (the whole site unencrypted)",
    }
}

fn core(stack: &Stack, bridges: &[JvbInstance]) -> Vec<Service> {
    let mut out = Vec::new();
    let xmpp_server = stack.values.get_or("XMPP_SERVER", "xmpp.meet.jitsi");

    let mut web = base_service("web", Kind::Web, Image::Jitsi("web"));
    web.read_only = true;
    web.tmpfs = tmpfs(16, 16);
    // Behind a reverse proxy on the host only the proxy may reach nginx,
    // over plain HTTP: nothing else is published, on no other interface.
    web.ports = if stack.behind_proxy() {
        vec![port(
            value_port(stack, "HTTP_PORT", 8000),
            8000,
            Protocol::Tcp,
            Exposure::Loopback,
            "HTTP for the reverse proxy on this host",
        )]
    } else {
        vec![
            port(
                value_port(stack, "HTTP_PORT", 8000),
                8000,
                Protocol::Tcp,
                Exposure::All,
                http_purpose(stack),
            ),
            port(
                value_port(stack, "HTTPS_PORT", 8443),
                8443,
                Protocol::Tcp,
                Exposure::All,
                "HTTPS",
            ),
        ]
    };
    web.mounts = vec![
        data("web", "/config"),
        data("storage/web", "/storage"),
        shared_data(
            "storage/transcripts",
            "/usr/share/jitsi-meet/transcripts",
            true,
        ),
        data("tmp/web-load-test", "/usr/share/jitsi-meet/load-test"),
    ];
    web.mounts.extend(generated_mounts("web", "web"));
    // The branding files present and the rendered ones (conditional, so
    // not in the static delivery table).
    web.mounts.extend(branding_mounts(stack));
    web.labels = labels("web");
    web.env = environment(stack, &[Svc::Web]);
    // nginx always listens on 8000 (plain HTTP, or the redirect to HTTPS and
    // the ACME challenge): curl -f fails only on >= 400.
    web.health = healthcheck(
        Check::Http {
            port: 8000,
            path: "/".into(),
        },
        30,
    );
    web.depends_on = names(&["prosody", "jvb"]);
    out.push(web);

    let mut prosody = base_service("prosody", Kind::Prosody, Image::Jitsi("prosody"));
    prosody.read_only = true;
    prosody.tmpfs = tmpfs(16, 16);
    let http_port = value_port(stack, "PROSODY_HTTP_PORT", 5280);
    prosody.ports = vec![
        internal(
            value_port(stack, "XMPP_PORT", 5222),
            "XMPP client connections",
        ),
        internal(
            value_port(stack, "PROSODY_S2S_PORT", 5269),
            "XMPP server-to-server",
        ),
        internal(5347, "XMPP external components"),
        internal(http_port, "HTTP: BOSH, websocket, health"),
    ];
    prosody.mounts = vec![
        data("prosody/config", "/config"),
        data("prosody/prosody-plugins-custom", "/prosody-plugins-custom"),
        data("storage/prosody", "/var/lib/prosody"),
    ];
    prosody
        .mounts
        .extend(generated_mounts("prosody", "prosody"));
    prosody.labels = labels("prosody");
    prosody.env = environment(stack, &[Svc::Prosody]);
    // The image's healthcheck.sh reads it from the container environment
    // (`docker exec` does not see the boot script's defaults).
    prosody
        .env
        .insert("PROSODY_HTTP_PORT".into(), lit(http_port.to_string()));
    // The image's account set-up (register-setup) creates the recorder and
    // transcriber accounts only when its environment says so; the jibri
    // component alone turns recording on in the rendered configs, so it
    // must here too, or the recorder account never exists.
    if stack.recording() {
        prosody.env.insert("ENABLE_RECORDING".into(), lit("1"));
    }
    if stack.transcriptions() {
        prosody.env.insert("ENABLE_TRANSCRIPTIONS".into(), lit("1"));
    }
    for (k, v) in visitors::derived(&stack.values, visitors::Reader::MainProsody) {
        prosody.env.insert(k.into(), lit(v));
    }
    prosody.health = image_healthcheck(30);
    prosody.aliases = vec![xmpp_server.to_string()];
    out.push(prosody);

    let mut jicofo = base_service("jicofo", Kind::Jicofo, Image::Jitsi("jicofo"));
    jicofo.read_only = true;
    jicofo.tmpfs = tmpfs(16, 16);
    let rest = value_port(stack, "JICOFO_REST_PORT", JICOFO_REST_CONTAINER_PORT);
    jicofo.ports = vec![port(
        rest,
        JICOFO_REST_CONTAINER_PORT,
        Protocol::Tcp,
        Exposure::Loopback,
        "REST API (health, stats)",
    )];
    jicofo.mounts = vec![data("jicofo", "/config")];
    jicofo.mounts.extend(generated_mounts("jicofo", "jicofo"));
    jicofo.labels = labels("jicofo");
    jicofo.env = environment(stack, &[Svc::Jicofo]);
    sentry(stack, &mut jicofo.env, "JICOFO_SENTRY_DSN");
    for (k, v) in visitors::derived(&stack.values, visitors::Reader::Jicofo) {
        jicofo.env.insert(k.into(), lit(v));
    }
    jicofo.health = image_healthcheck(60);
    // Jicofo's REST API listens on the container's loopback unless
    // JICOFO_ENABLE_REST is set (as in the upstream images), so its
    // published port answers nothing then.
    jicofo.probe = Some(if stack.values.bool("JICOFO_ENABLE_REST") {
        Probe::Http {
            url: format!("http://127.0.0.1:{rest}/about/health"),
        }
    } else {
        Probe::InContainer {
            url: format!("http://127.0.0.1:{JICOFO_REST_CONTAINER_PORT}/about/health"),
        }
    });
    jicofo.depends_on = names(&["prosody"]);
    out.push(jicofo);

    for b in bridges {
        let name = b.instance.name.clone();
        let mut jvb = base_service(&name, Kind::Jvb, Image::Jitsi("jvb"));
        jvb.instance_id = Some(b.instance_id.clone());
        jvb.read_only = true;
        jvb.tmpfs = tmpfs(16, 16);
        jvb.ports = vec![
            port(
                b.udp_port,
                b.udp_port,
                Protocol::Udp,
                Exposure::All,
                "media (videobridge)",
            ),
            port(
                b.colibri_port,
                JVB_COLIBRI_CONTAINER_PORT,
                Protocol::Tcp,
                Exposure::Loopback,
                "private HTTP server (health, stats)",
            ),
        ];
        jvb.mounts = vec![data(&name, "/config")];
        jvb.mounts.extend(generated_mounts("jvb", &name));
        jvb.labels = labels("jvb");
        jvb.env = environment(stack, &[Svc::Jvb]);
        sentry(stack, &mut jvb.env, "JVB_SENTRY_DSN");
        jvb.env
            .insert("JVB_PORT".into(), lit(b.udp_port.to_string()));
        jvb.env
            .insert("JVB_INSTANCE_ID".into(), lit(b.instance_id.clone()));
        jvb.health = image_healthcheck(60);
        jvb.probe = Some(Probe::Http {
            url: format!("http://127.0.0.1:{}/about/health", b.colibri_port),
        });
        jvb.depends_on = names(&["prosody"]);
        out.push(jvb);
    }
    out
}

/// The visitor nodes (`JITSI_STACK_VISITORS`): the prosody image in
/// visitors mode, on the compose network only (main prosody and jicofo
/// reach them by service name, web proxies the viewers' BOSH and
/// websocket), each with its own data volume (accounts of focus and jvb).
fn visitor_nodes(stack: &Stack, list: Vec<visitors::VisitorNode>, bundle: bool) -> Vec<Service> {
    list.into_iter()
        .map(|n| {
            let mut s = base_service(&n.service, Kind::Prosody, Image::Jitsi("prosody"));
            s.read_only = true;
            s.tmpfs = tmpfs(16, 16);
            let at = |p: u16, purpose: &'static str| match &n.remote {
                Some(r) if bundle => {
                    port(p, p, Protocol::Tcp, Exposure::Address(r.address), purpose)
                }
                _ => internal(p, purpose),
            };
            s.ports = vec![
                at(
                    visitors::C2S_PORT,
                    "XMPP client connections (jicofo, viewers)",
                ),
                at(visitors::S2S_PORT, "XMPP server-to-server (main prosody)"),
                at(visitors::HTTP_PORT, "HTTP: BOSH, websocket, health"),
            ];
            s.mounts = vec![Mount::Volume {
                name: format!("{}-data", n.service),
                target: "/var/lib/prosody".into(),
            }];
            s.mounts
                .extend(generated_mounts(mounts::VISITOR_ROWS, &n.service));
            s.labels = labels(&n.service);
            let mut env = environment(stack, &[Svc::Prosody]);
            if bundle {
                // A node on another host holds its own focus (and unused
                // jvb) password only: no other account's secret.
                env.retain(|k, v| {
                    !matches!(v, EnvValue::Secret(_))
                        || k == "JICOFO_AUTH_PASSWORD"
                        || k == "JVB_AUTH_PASSWORD"
                });
            }
            env.remove("VISITORS_XMPP_SERVER");
            env.remove("VISITORS_XMPP_PORT");
            for (k, v) in visitors::derived(&stack.values, visitors::Reader::Node(n.index)) {
                env.insert(k.into(), lit(v));
            }
            s.env = env;
            s.health = image_healthcheck(30);
            s.probe = Some(Probe::InContainer {
                url: format!("http://127.0.0.1:{}/health", visitors::HTTP_PORT),
            });
            if !bundle {
                s.depends_on = names(&["prosody"]);
            }
            s
        })
        .collect()
}

fn in_component(mut s: Service, c: Component) -> Service {
    s.component = Some(c);
    s
}

fn jibri(stack: &Stack, recorders: &[JibriInstance]) -> Vec<Service> {
    let mut out = Vec::new();
    for r in recorders {
        let name = r.instance.name.clone();
        let mut s = base_service(&name, Kind::Jibri, Image::Jitsi("jibri"));
        s.instance_id = Some(r.instance_id.clone());
        // As the release: a read-only root with room in /run and /tmp for
        // Chrome's profile and ffmpeg; Chrome runs with --no-sandbox (the
        // rendered jibri.conf), so no SYS_ADMIN; the image's boot script
        // refuses to start with a /dev/shm under 2 GB.
        s.read_only = true;
        s.tmpfs = tmpfs(256, 256);
        s.shm_size = Some("2gb".into());
        s.mounts = vec![data(&name, "/config"), data(&r.storage_dir, "/storage")];
        s.mounts.extend(generated_mounts("jibri", &name));
        s.labels = labels("jibri");
        s.env = environment(stack, &[Svc::Jibri]);
        s.env.entry("DISPLAY".into()).or_insert_with(|| lit(":0"));
        s.env
            .insert("JIBRI_INSTANCE_ID".into(), lit(r.instance_id.clone()));
        s.depends_on = names(&["jicofo"]);
        out.push(in_component(s, Component::Jibri));
    }
    out
}

fn jigasi_like(stack: &Stack, name: &str, kind: Kind, kinds: &[Svc], mode: &str) -> Service {
    let mut s = base_service(name, kind, Image::Jitsi("jigasi"));
    s.read_only = true;
    s.tmpfs = tmpfs(16, 128);
    s.mounts = vec![data(name, "/config")];
    s.labels = labels(name);
    s.env = environment(stack, kinds);
    sentry(stack, &mut s.env, "JIGASI_SENTRY_DSN");
    s.env.insert("JIGASI_MODE".into(), lit(mode));
    // Stable instead of the image's random `<mode>-<date>`; the rendered
    // STATS_ID (render::jvm::jigasi::stats_id) falls back to the same.
    let id = match s.env.get("JIGASI_INSTANCE_ID") {
        Some(EnvValue::Literal(v)) => v.clone(),
        _ => name.to_string(),
    };
    s.env
        .entry("JIGASI_INSTANCE_ID".into())
        .or_insert_with(|| lit(name));
    s.instance_id = Some(id);
    s.health = image_healthcheck(60);
    s.depends_on = names(&["prosody"]);
    s
}

fn jigasi(stack: &Stack) -> Service {
    let mut s = jigasi_like(stack, "jigasi", Kind::Jigasi, &[Svc::Jigasi], "sip");
    let lo = value_port(stack, "JIGASI_PORT_MIN", 20000);
    let hi = value_port(stack, "JIGASI_PORT_MAX", 20050);
    s.ports = vec![Port {
        host: (lo, hi),
        container: (lo, hi),
        protocol: Protocol::Udp,
        exposure: Exposure::All,
        purpose: "SIP media (RTP)",
    }];
    s.mounts.extend(generated_mounts("jigasi", "jigasi"));
    in_component(s, Component::Jigasi)
}

fn transcriber(stack: &Stack) -> Service {
    let mut s = jigasi_like(
        stack,
        "transcriber",
        Kind::Transcriber,
        &[Svc::Transcriber, Svc::Jigasi],
        "transcriber",
    );
    // The SIP account is jigasi's, not the transcriber's.
    s.env.retain(|k, _| !k.starts_with("JIGASI_SIP_"));
    s.mounts.insert(
        1,
        shared_data("storage/transcripts", "/tmp/transcripts", false),
    );
    s.mounts
        .extend(generated_mounts("transcriber", "transcriber"));
    in_component(s, Component::Transcriber)
}

fn etherpad(stack: &Stack) -> Service {
    let mut s = base_service("etherpad", Kind::Etherpad, Image::Fixed(ETHERPAD_IMAGE));
    for (var, key) in [
        ("ETHERPAD_TITLE", "TITLE"),
        ("ETHERPAD_DEFAULT_PAD_TEXT", "DEFAULT_PAD_TEXT"),
        ("ETHERPAD_SKIN_NAME", "SKIN_NAME"),
        ("ETHERPAD_SKIN_VARIANTS", "SKIN_VARIANTS"),
    ] {
        if let Some(v) = stack.values.get(var) {
            s.env.insert(key.into(), lit(v));
        }
    }
    // As the release: errors go to the log, not into the pad's text.
    s.env
        .insert("SUPPRESS_ERRORS_IN_PAD_TEXT".into(), lit("true"));
    s.aliases = names(&["etherpad.meet.jitsi"]);
    in_component(s, Component::Etherpad)
}

fn whiteboard() -> Service {
    let mut s = base_service(
        "whiteboard",
        Kind::Whiteboard,
        Image::Fixed(WHITEBOARD_IMAGE),
    );
    s.depends_on = names(&["web"]);
    s.aliases = names(&["whiteboard.meet.jitsi"]);
    in_component(s, Component::Whiteboard)
}

/// coturn runs with the host's network: it must see the clients' real
/// addresses and relay on a wide UDP range, which Docker's port publishing
/// handles badly (one proxy per port). Its listening and relay ports come
/// from the rendered turnserver.conf.
fn turn(stack: &Stack) -> Service {
    let mut s = base_service("turn", Kind::Turn, Image::Fixed(COTURN_IMAGE));
    s.read_only = true;
    s.tmpfs = vec![
        Tmpfs {
            path: "/var/lib/coturn",
            size_mib: 16,
            mode: 0o1777,
            exec: None,
        },
        Tmpfs {
            path: "/tmp",
            size_mib: 16,
            mode: 0o1777,
            exec: Some(false),
        },
    ];
    s.host_network = true;
    s.command = vec![
        "-c".into(),
        TURN_CONF_TARGET.into(),
        "--log-file=stdout".into(),
    ];
    let v = &stack.values;
    let relay = (
        v.port("TURN_RELAY_MIN_PORT").unwrap_or(49152),
        v.port("TURN_RELAY_MAX_PORT").unwrap_or(49252),
    );
    s.ports = vec![
        port(3478, 3478, Protocol::Udp, Exposure::All, "TURN/STUN"),
        port(3478, 3478, Protocol::Tcp, Exposure::All, "TURN over TCP"),
    ];
    // coturn listens for TLS only with a certificate (else `no-tls`), and
    // prosody offers TURNS only then.
    if v.raw("TURN_TLS_CERT").is_some() {
        s.ports.push(port(
            5349,
            5349,
            Protocol::Tcp,
            Exposure::All,
            "TURN over TLS",
        ));
    }
    s.ports.extend([Port {
        host: relay,
        container: relay,
        protocol: Protocol::Udp,
        exposure: Exposure::All,
        purpose: "TURN relay",
    }]);
    s.mounts = generated_mounts("turn", "turn");
    if !rows()
        .iter()
        .any(|m| m.service == "turn" && m.target == TURN_CONF_TARGET)
    {
        s.mounts
            .push(config("turn/turnserver.conf", TURN_CONF_TARGET));
    }
    s.labels = labels("turn");
    in_component(s, Component::Turn)
}

/// Prometheus and Grafana, bound to the host's loopback (reach both through
/// an SSH tunnel or a proxy). Their data
/// lives in named volumes: Docker initialises a named volume with the
/// image's ownership (their uid is not the Jitsi images' 1000).
fn monitoring(stack: &Stack) -> Vec<Service> {
    let mut p = base_service(
        "prometheus",
        Kind::Prometheus,
        Image::Fixed(PROMETHEUS_IMAGE),
    );
    p.command = vec!["--config.file=/etc/prometheus/prometheus.yml".into()];
    p.ports = vec![port(
        9090,
        9090,
        Protocol::Tcp,
        Exposure::Loopback,
        "Prometheus",
    )];
    p.mounts = vec![
        config(
            "prometheus/prometheus.yml",
            "/etc/prometheus/prometheus.yml",
        ),
        Mount::Volume {
            name: "prometheus-data".into(),
            target: "/prometheus".into(),
        },
    ];

    let mut g = base_service("grafana", Kind::Grafana, Image::Fixed(GRAFANA_IMAGE));
    g.env.insert(
        "GF_ANALYTICS_REPORTING_ENABLED".into(),
        lit(stack
            .values
            .get_or("GF_ANALYTICS_REPORTING_ENABLED", "false")),
    );
    // Grafana's `admin` password is the generated secret, never its
    // default admin/admin.
    g.env.insert(
        "GF_SECURITY_ADMIN_PASSWORD".into(),
        EnvValue::Secret("GF_SECURITY_ADMIN_PASSWORD"),
    );
    g.ports = vec![port(
        3000,
        3000,
        Protocol::Tcp,
        Exposure::Loopback,
        "Grafana",
    )];
    g.mounts = vec![
        Mount::Volume {
            name: "grafana-data".into(),
            target: "/var/lib/grafana".into(),
        },
        config(
            "grafana/datasources.yml",
            "/etc/grafana/provisioning/datasources/jitsi-stack.yml",
        ),
    ];
    vec![
        in_component(p, Component::Monitoring),
        in_component(g, Component::Monitoring),
    ]
}

/// Loki and an OpenTelemetry collector reading the containers' JSON logs.
fn log_analyser() -> Vec<Service> {
    let mut l = base_service("loki", Kind::Loki, Image::Fixed(LOKI_IMAGE));
    l.command = vec!["-config.file=/etc/loki/local-config.yaml".into()];
    l.ports = vec![port(3100, 3100, Protocol::Tcp, Exposure::Loopback, "Loki")];
    l.mounts = vec![Mount::Volume {
        name: "loki-data".into(),
        target: "/loki".into(),
    }];

    let mut o = base_service("otel", Kind::Otel, Image::Fixed(OTEL_IMAGE));
    // Docker's log files are readable by root only.
    o.user = Some("0".into());
    o.mounts = vec![
        config("otel/config.yaml", "/etc/otelcol-contrib/config.yaml"),
        Mount::Host {
            source: "/var/lib/docker/containers".into(),
            target: "/var/lib/docker/containers".into(),
            read_only: true,
        },
    ];
    vec![
        in_component(l, Component::LogAnalyser),
        in_component(o, Component::LogAnalyser),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stack::mounts::{Delivery as Row, EMPTY};
    use crate::stack::tests::stack;
    use crate::stack::Model;
    use std::cell::Cell;

    thread_local! {
        pub(super) static ROWS: Cell<Option<&'static [Row]>> = const { Cell::new(None) };
    }

    /// Runs `f` with `rows` in place of the real delivery table.
    pub(crate) fn with_rows<T>(rows: &'static [Row], f: impl FnOnce() -> T) -> T {
        ROWS.with(|r| r.set(Some(rows)));
        let out = f();
        ROWS.with(|r| r.set(None));
        out
    }

    /// One synthetic row per service kind, plus an EMPTY row.
    pub(crate) static SYNTHETIC: &[Row] = &[
        Row {
            service: "web",
            file: "a.js",
            target: "/defaults/a.js",
            note: "",
        },
        Row {
            service: "web",
            file: EMPTY,
            target: "/defaults/b.js",
            note: "",
        },
        Row {
            service: "prosody",
            file: "p.lua",
            target: "/defaults/p.lua",
            note: "",
        },
        Row {
            service: "jicofo",
            file: "j.conf",
            target: "/defaults/j.conf",
            note: "",
        },
        Row {
            service: "jvb",
            file: "jvb.conf",
            target: "/defaults/jvb.conf",
            note: "",
        },
        Row {
            service: "jibri",
            file: "jibri.conf",
            target: "/defaults/jibri.conf",
            note: "",
        },
        Row {
            service: "jigasi",
            file: "s.properties",
            target: "/defaults/s.properties",
            note: "",
        },
        Row {
            service: "transcriber",
            file: "t.properties",
            target: "/defaults/t.properties",
            note: "",
        },
        Row {
            service: "turn",
            file: "turnserver.conf",
            target: TURN_CONF_TARGET,
            note: "",
        },
    ];

    fn rendered_of(m: &Model) -> BTreeMap<String, Vec<(String, String)>> {
        m.services
            .iter()
            .map(|s| {
                let r = s
                    .mounts
                    .iter()
                    .filter_map(|m| match m {
                        Mount::Config { id, target } => Some((id.clone(), target.clone())),
                        _ => None,
                    })
                    .collect();
                (s.name.clone(), r)
            })
            .collect()
    }

    #[test]
    fn every_mount_row_is_mounted_for_every_instance() {
        let s = stack(
            &[
                ("JVB_INSTANCES", "2"),
                ("JIBRI_INSTANCES", "2"),
                ("ENABLE_VISITORS", "1"),
                (visitors::COUNT_VAR, "2"),
            ],
            Component::ALL,
        );
        // The real table, whatever rows it has by now.
        let real = rendered_of(&Model::build(&s).unwrap());
        for m in mounts::MOUNTS {
            let names: Vec<String> = match m.service {
                "jvb" | "jibri" => s.instances(m.service).into_iter().map(|i| i.name).collect(),
                mounts::VISITOR_ROWS => vec!["prosody-v0".into(), "prosody-v1".into()],
                other => vec![other.to_string()],
            };
            for inst in names {
                let got = real
                    .get(&inst)
                    .unwrap_or_else(|| panic!("no service {inst} for {m:?}"));
                let want = (m.id(&inst), m.target.to_string());
                assert!(got.contains(&want), "{inst} lacks {m:?}");
            }
        }
        // The mechanism, on synthetic rows.
        let got = with_rows(SYNTHETIC, || rendered_of(&Model::build(&s).unwrap()));
        let has = |svc: &str, src: &str, target: &str| {
            let want = (src.to_string(), target.to_string());
            assert!(
                got[svc].contains(&want),
                "{svc}: {want:?} not in {:?}",
                got[svc]
            );
        };
        has("web", "web/a.js", "/defaults/a.js");
        has("web", "empty", "/defaults/b.js");
        has("prosody", "prosody/p.lua", "/defaults/p.lua");
        has("jicofo", "jicofo/j.conf", "/defaults/j.conf");
        has("jvb", "jvb/jvb.conf", "/defaults/jvb.conf");
        has("jvb-2", "jvb-2/jvb.conf", "/defaults/jvb.conf");
        has("jibri-2", "jibri-2/jibri.conf", "/defaults/jibri.conf");
        has("jigasi", "jigasi/s.properties", "/defaults/s.properties");
        has(
            "transcriber",
            "transcriber/t.properties",
            "/defaults/t.properties",
        );
        // The row replaces the fallback: mounted exactly once.
        let turn: Vec<_> = got["turn"]
            .iter()
            .filter(|(_, t)| t == TURN_CONF_TARGET)
            .collect();
        assert_eq!(
            turn,
            [&(
                "turn/turnserver.conf".to_string(),
                TURN_CONF_TARGET.to_string()
            )]
        );
        // No row leaks into another service.
        assert!(!got["jicofo"].iter().any(|(s, _)| s.contains("jvb.conf")));
    }

    #[test]
    fn unset_user_secrets_are_left_out_generated_ones_named() {
        let m = Model::build(&stack(&[], &[])).unwrap();
        let prosody = m.service("prosody").unwrap();
        assert!(!prosody.env.contains_key("LDAP_BINDPW"));
        assert_eq!(
            prosody.env["JVB_AUTH_PASSWORD"],
            EnvValue::Secret("JVB_AUTH_PASSWORD")
        );
        assert_eq!(prosody.env["PROSODY_HTTP_PORT"], lit("5280"));
    }
}
