//! The Compose model: typed structs serialised to `docker-compose.yml` (web,
//! prosody, jicofo, every bridge) and one overlay per optional component.
//!
//! Choices (the README fragment documents them for users):
//! - Images are `${JITSI_IMAGE_REPO:-<default>}/<image>:${JITSI_IMAGE_VERSION:-<pinned>}`:
//!   pinned by default, overridable in `.env` without re-rendering.
//! - Persistent data is mounted from `${CONFIG:-./config}/...` (kept
//!   interpolated: Compose resolves it, relative to the stack directory, the
//!   same way jitsi-stack does). Rendered files come from `./generated/...`.
//! - Container environment: every schema variable the service reads that is
//!   set (non-empty) in `.env`, plus what the stack computes (instance ports and
//!   ids). Plain values are written literally with `$` doubled (Compose would
//!   otherwise interpolate them); secrets are written as `${NAME:?...}` so they
//!   live only in `.env` (mode 0600), never in the compose files.
//! - Ports are literal numbers from `.env` (validated before rendering).

use super::{mounts, Output, GENERATED_DIR, GENERATED_NOTE};
use crate::config::{Component, Instance, Stack};
use crate::schema::{self, Secret, Service as Svc};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// The user-defined network every service joins (as upstream).
pub const NETWORK: &str = "meet.jitsi";

/// coturn image, pinned (the project has no image of its own for TURN).
pub const COTURN_IMAGE: &str = "coturn/coturn:4.6.3";
pub const ETHERPAD_IMAGE: &str = "etherpad/etherpad:1.8.6";
pub const WHITEBOARD_IMAGE: &str = "jitsi/excalidraw-backend:21";
pub const PROMETHEUS_IMAGE: &str = "prom/prometheus:v2.53.4";
pub const GRAFANA_IMAGE: &str = "grafana/grafana:10.2.0";
pub const LOKI_IMAGE: &str = "grafana/loki:3.0.0";
pub const OTEL_IMAGE: &str = "otel/opentelemetry-collector-contrib:0.130.0";

/// Where coturn reads its configuration (the image's default path).
pub const TURN_CONF_TARGET: &str = "/etc/coturn/turnserver.conf";

/// What a secret's interpolation says when `.env` lacks it.
const SECRET_HINT: &str = "is not set in .env: run jitsi-stack gen-passwords";

/// One Compose file.
#[derive(Debug, Default, Serialize)]
pub struct ComposeFile {
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Named volumes (third-party images whose uid is not the Jitsi images'
    /// 1000: Docker initialises a named volume with the image's ownership).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Network>,
}

/// A top-level network or volume with default settings.
#[derive(Debug, Default, Serialize)]
pub struct Network {}

/// One service (only the keys this stack uses, in a readable order).
#[derive(Debug, Default, Serialize)]
pub struct Service {
    pub image: String,
    pub restart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkAttachment>,
}

#[derive(Debug, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
}

#[derive(Debug, Serialize)]
pub struct DependsOn {
    pub condition: &'static str,
}

#[derive(Debug, Default, Serialize)]
pub struct NetworkAttachment {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// One videobridge: its UDP media port (same inside and out), its colibri
/// REST port on the host's loopback, and its instance id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JvbInstance {
    pub instance: Instance,
    pub udp_port: u16,
    pub colibri_port: u16,
    pub instance_id: String,
}

/// One recorder: its instance id (also its MUC nickname) and the
/// CONFIG-relative directory holding its recordings: `storage/<service>`
/// (`storage/jibri`, `storage/jibri-2`, ...), so the first recorder keeps
/// its directory when more are added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JibriInstance {
    pub instance: Instance,
    pub instance_id: String,
    pub storage_dir: String,
}

/// Instance ids: what `.env` says, `-<n>` appended for instance n so each
/// one is distinct; unset: the service name (`jvb`, `jibri-2`). The image
/// would make a random one at every start; this one is stable, and it is
/// the same in the container's environment and in the rendered config.
fn instance_id(stack: &Stack, var: &str, inst: &Instance) -> String {
    match stack.values.raw(var) {
        Some(id) if inst.index == 1 => id.to_string(),
        Some(id) => format!("{id}-{}", inst.index),
        None => inst.name.clone(),
    }
}

/// The bridges `JVB_INSTANCES` asks for; bridge n listens on JVB_PORT+n-1.
pub fn jvb_instances(stack: &Stack) -> Vec<JvbInstance> {
    let base = stack.values.port("JVB_PORT").unwrap_or(10000);
    let colibri = stack.values.port("JVB_COLIBRI_PORT").unwrap_or(8080);
    let all = stack.instances("jvb");
    all.into_iter()
        .map(|i| JvbInstance {
            udp_port: offset_port(base, i.index),
            colibri_port: offset_port(colibri, i.index),
            instance_id: instance_id(stack, "JVB_INSTANCE_ID", &i),
            instance: i,
        })
        .collect()
}

/// The recorders `JIBRI_INSTANCES` asks for.
pub fn jibri_instances(stack: &Stack) -> Vec<JibriInstance> {
    let all = stack.instances("jibri");
    all.into_iter()
        .map(|i| JibriInstance {
            instance_id: instance_id(stack, "JIBRI_INSTANCE_ID", &i),
            storage_dir: format!("storage/{}", i.name),
            instance: i,
        })
        .collect()
}

fn offset_port(base: u16, index: u32) -> u16 {
    // `check` rejects port ranges that overflow; saturate rather than wrap.
    (u32::from(base) + index - 1).min(65535) as u16
}

/// Directories under CONFIG that the compose files mount (relative to
/// CONFIG), so `init`/`up` can create them with the right owner before
/// Docker would create them as root.
pub fn config_dirs(stack: &Stack) -> Vec<String> {
    let mut out = Vec::new();
    for file in build(stack).values() {
        for svc in file.services.values() {
            for v in &svc.volumes {
                if let Some(rest) = v.strip_prefix(CONFIG_PREFIX) {
                    let dir = rest.trim_start_matches('/').split(':').next().unwrap_or("");
                    if !dir.is_empty() && !out.iter().any(|d| d == dir) {
                        out.push(dir.to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out
}

const CONFIG_PREFIX: &str = "${CONFIG:-./config}";

fn config_vol(rel: &str, target: &str, opts: &str) -> String {
    format!("{CONFIG_PREFIX}/{rel}:{target}:{opts}")
}

/// `$` would start a Compose interpolation: a literal one is `$$`.
pub fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

fn secret_ref(name: &str) -> String {
    format!("${{{name}:?{name} {SECRET_HINT}}}")
}

fn image(name: &str) -> String {
    let repo = schema::lookup("JITSI_IMAGE_REPO")
        .and_then(|v| v.default)
        .unwrap_or("jitsi");
    format!(
        "${{JITSI_IMAGE_REPO:-{repo}}}/{name}:${{JITSI_IMAGE_VERSION:-{}}}",
        schema::PINNED_IMAGE_VERSION
    )
}

fn tmpfs(run: &str, tmp: &str) -> Vec<String> {
    vec![
        format!("/run:size={run},mode=1750,exec"),
        format!("/tmp:size={tmp},mode=1777,noexec"),
    ]
}

fn healthcheck(test: &[&str], start_period: &str) -> Option<Healthcheck> {
    Some(Healthcheck {
        test: test.iter().map(|s| s.to_string()).collect(),
        interval: "10s".into(),
        timeout: "5s".into(),
        retries: 5,
        start_period: start_period.into(),
    })
}

fn on_network(aliases: Vec<String>) -> BTreeMap<String, NetworkAttachment> {
    BTreeMap::from([(NETWORK.to_string(), NetworkAttachment { aliases })])
}

fn healthy(names: &[&str]) -> BTreeMap<String, DependsOn> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                DependsOn {
                    condition: "service_healthy",
                },
            )
        })
        .collect()
}

fn labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("service".to_string(), format!("jitsi-{name}"))])
}

/// The environment of a container reading the schema services `kinds`:
/// every such variable set in `.env`, plain values literal, secrets
/// interpolated; generated secrets always (the images need them, and
/// Compose then names the fix when one is missing).
fn environment(stack: &Stack, kinds: &[Svc]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for var in schema::VARS {
        if !var.services.iter().any(|s| kinds.contains(s)) {
            continue;
        }
        let set = stack.values.raw(var.name);
        match var.secret {
            Secret::Generated => {
                env.insert(var.name.to_string(), secret_ref(var.name));
            }
            Secret::User if set.is_some() => {
                env.insert(var.name.to_string(), secret_ref(var.name));
            }
            Secret::User => {}
            Secret::No => {
                if let Some(v) = set {
                    env.insert(var.name.to_string(), literal(v));
                }
            }
        }
    }
    env
}

/// Upstream gives each Java service its own Sentry DSN variable.
fn sentry(stack: &Stack, env: &mut BTreeMap<String, String>, var: &str) {
    if let Some(dsn) = stack.values.raw(var) {
        env.insert("SENTRY_DSN".into(), literal(dsn));
    }
}

/// `./generated/<instance>/<file>:<target>:ro` for every delivery row of
/// `kind`; [`mounts::EMPTY`] rows mount the shared empty file.
fn generated_mounts(kind: &str, instance: &str) -> Vec<String> {
    rows()
        .iter()
        .filter(|m| m.service == kind)
        .map(|m| m.volume(instance))
        .collect()
}

/// The delivery table; unit tests swap in synthetic rows, since the real
/// rows are added by the service modules.
fn rows() -> &'static [mounts::Mount] {
    #[cfg(test)]
    if let Some(rows) = tests::ROWS.with(|r| r.get()) {
        return rows;
    }
    mounts::MOUNTS
}

fn port(stack: &Stack, name: &str, fallback: u16) -> u16 {
    stack.values.port(name).unwrap_or(fallback)
}

fn restart(stack: &Stack) -> String {
    literal(stack.values.get_or("RESTART_POLICY", "unless-stopped"))
}

fn base_service(stack: &Stack, img: &str) -> Service {
    Service {
        image: img.to_string(),
        restart: restart(stack),
        ..Service::default()
    }
}

fn core(stack: &Stack) -> ComposeFile {
    let mut f = ComposeFile::default();
    f.networks.insert(NETWORK.into(), Network {});
    let xmpp_server = stack.values.get_or("XMPP_SERVER", "xmpp.meet.jitsi");

    let mut web = base_service(stack, &image("web"));
    web.read_only = true;
    web.tmpfs = tmpfs("16M", "16M");
    web.ports = vec![
        format!("{}:8000", port(stack, "HTTP_PORT", 8000)),
        format!("{}:8443", port(stack, "HTTPS_PORT", 8443)),
    ];
    web.volumes = vec![
        config_vol("web", "/config", "Z"),
        config_vol("storage/web", "/storage", "Z"),
        config_vol(
            "storage/transcripts",
            "/usr/share/jitsi-meet/transcripts",
            "ro,z",
        ),
        config_vol("tmp/web-load-test", "/usr/share/jitsi-meet/load-test", "Z"),
    ];
    web.volumes.extend(generated_mounts("web", "web"));
    web.labels = labels("web");
    web.environment = environment(stack, &[Svc::Web]);
    // nginx always listens on 8000 (plain HTTP, or the redirect to HTTPS and
    // the ACME challenge): curl -f fails only on >= 400.
    web.healthcheck = healthcheck(
        &[
            "CMD",
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "http://127.0.0.1:8000/",
        ],
        "30s",
    );
    web.depends_on = healthy(&["prosody", "jvb"]);
    web.networks = on_network(vec![]);
    f.services.insert("web".into(), web);

    let mut prosody = base_service(stack, &image("prosody"));
    prosody.read_only = true;
    prosody.tmpfs = tmpfs("16M", "16M");
    prosody.expose = [
        port(stack, "XMPP_PORT", 5222),
        port(stack, "PROSODY_S2S_PORT", 5269),
        5347,
        port(stack, "PROSODY_HTTP_PORT", 5280),
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    prosody.volumes = vec![
        config_vol("prosody/config", "/config", "Z"),
        config_vol(
            "prosody/prosody-plugins-custom",
            "/prosody-plugins-custom",
            "Z",
        ),
        config_vol("storage/prosody", "/var/lib/prosody", "Z"),
        config_vol("custom-ca", "/usr/local/share/ca-certificates", "ro,z"),
    ];
    prosody
        .volumes
        .extend(generated_mounts("prosody", "prosody"));
    prosody.labels = labels("prosody");
    prosody.environment = environment(stack, &[Svc::Prosody]);
    // The image's healthcheck.sh reads it from the container environment
    // (`docker exec` does not see the boot script's defaults).
    prosody.environment.insert(
        "PROSODY_HTTP_PORT".into(),
        port(stack, "PROSODY_HTTP_PORT", 5280).to_string(),
    );
    prosody.healthcheck = healthcheck(&["CMD", "/usr/local/bin/healthcheck.sh"], "30s");
    prosody.networks = on_network(vec![literal(xmpp_server)]);
    f.services.insert("prosody".into(), prosody);

    let mut jicofo = base_service(stack, &image("jicofo"));
    jicofo.read_only = true;
    jicofo.tmpfs = tmpfs("32M", "16M");
    jicofo.ports = vec![format!(
        "127.0.0.1:{}:8888",
        port(stack, "JICOFO_REST_PORT", 8888)
    )];
    jicofo.volumes = vec![config_vol("jicofo", "/config", "Z")];
    jicofo.volumes.extend(generated_mounts("jicofo", "jicofo"));
    jicofo.labels = labels("jicofo");
    jicofo.environment = environment(stack, &[Svc::Jicofo]);
    sentry(stack, &mut jicofo.environment, "JICOFO_SENTRY_DSN");
    jicofo.healthcheck = healthcheck(&["CMD", "/usr/local/bin/healthcheck.sh"], "60s");
    jicofo.depends_on = healthy(&["prosody"]);
    jicofo.networks = on_network(vec![]);
    f.services.insert("jicofo".into(), jicofo);

    for b in jvb_instances(stack) {
        let name = b.instance.name.clone();
        let mut jvb = base_service(stack, &image("jvb"));
        jvb.read_only = true;
        jvb.tmpfs = tmpfs("32M", "16M");
        jvb.ports = vec![
            format!("{0}:{0}/udp", b.udp_port),
            format!("127.0.0.1:{}:8080", b.colibri_port),
        ];
        jvb.volumes = vec![config_vol(&name, "/config", "Z")];
        jvb.volumes.extend(generated_mounts("jvb", &name));
        jvb.labels = labels("jvb");
        jvb.environment = environment(stack, &[Svc::Jvb]);
        sentry(stack, &mut jvb.environment, "JVB_SENTRY_DSN");
        jvb.environment
            .insert("JVB_PORT".into(), b.udp_port.to_string());
        jvb.environment
            .insert("JVB_INSTANCE_ID".into(), literal(&b.instance_id));
        jvb.healthcheck = healthcheck(&["CMD", "/usr/local/bin/healthcheck.sh"], "60s");
        jvb.depends_on = healthy(&["prosody"]);
        jvb.networks = on_network(vec![]);
        f.services.insert(name, jvb);
    }
    f
}

fn jibri(stack: &Stack) -> ComposeFile {
    let mut f = ComposeFile::default();
    for r in jibri_instances(stack) {
        let name = r.instance.name.clone();
        let mut s = base_service(stack, &image("jibri"));
        // Chrome needs a large /dev/shm and SYS_ADMIN for its sandbox.
        s.shm_size = Some("2gb".into());
        s.cap_add = vec!["SYS_ADMIN".into()];
        s.volumes = vec![
            config_vol(&name, "/config", "Z"),
            config_vol(&r.storage_dir, "/storage", "Z"),
        ];
        s.volumes.extend(generated_mounts("jibri", &name));
        s.labels = labels("jibri");
        s.environment = environment(stack, &[Svc::Jibri]);
        s.environment
            .entry("DISPLAY".into())
            .or_insert_with(|| ":0".into());
        s.environment
            .insert("JIBRI_INSTANCE_ID".into(), literal(&r.instance_id));
        s.depends_on = healthy(&["jicofo"]);
        s.networks = on_network(vec![]);
        f.services.insert(name, s);
    }
    f
}

fn jigasi_like(stack: &Stack, name: &str, kinds: &[Svc], mode: &str) -> Service {
    let mut s = base_service(stack, &image("jigasi"));
    s.read_only = true;
    s.tmpfs = tmpfs("32M", "128M");
    s.volumes = vec![
        config_vol(name, "/config", "Z"),
        config_vol("custom-ca", "/usr/local/share/ca-certificates", "ro,z"),
    ];
    s.labels = labels(name);
    s.environment = environment(stack, kinds);
    sentry(stack, &mut s.environment, "JIGASI_SENTRY_DSN");
    s.environment.insert("JIGASI_MODE".into(), mode.into());
    // Stable instead of the image's random `<mode>-<date>`; the rendered
    // STATS_ID (render::jvm::jigasi::stats_id) falls back to the same.
    s.environment
        .entry("JIGASI_INSTANCE_ID".into())
        .or_insert_with(|| name.into());
    s.healthcheck = healthcheck(&["CMD", "/usr/local/bin/healthcheck.sh"], "60s");
    s.depends_on = healthy(&["prosody"]);
    s.networks = on_network(vec![]);
    s
}

fn jigasi(stack: &Stack) -> ComposeFile {
    let mut s = jigasi_like(stack, "jigasi", &[Svc::Jigasi], "sip");
    let lo = stack.values.int("JIGASI_PORT_MIN").unwrap_or(20000);
    let hi = stack.values.int("JIGASI_PORT_MAX").unwrap_or(20050);
    s.ports = vec![format!("{lo}-{hi}:{lo}-{hi}/udp")];
    s.volumes.extend(generated_mounts("jigasi", "jigasi"));
    one("jigasi", s)
}

fn transcriber(stack: &Stack) -> ComposeFile {
    let mut s = jigasi_like(
        stack,
        "transcriber",
        &[Svc::Transcriber, Svc::Jigasi],
        "transcriber",
    );
    // The SIP account is jigasi's, not the transcriber's.
    s.environment.retain(|k, _| !k.starts_with("JIGASI_SIP_"));
    s.volumes.insert(
        1,
        config_vol("storage/transcripts", "/tmp/transcripts", "z"),
    );
    s.volumes
        .extend(generated_mounts("transcriber", "transcriber"));
    one("transcriber", s)
}

fn etherpad(stack: &Stack) -> ComposeFile {
    let mut s = base_service(stack, ETHERPAD_IMAGE);
    for (var, key) in [
        ("ETHERPAD_TITLE", "TITLE"),
        ("ETHERPAD_DEFAULT_PAD_TEXT", "DEFAULT_PAD_TEXT"),
        ("ETHERPAD_SKIN_NAME", "SKIN_NAME"),
        ("ETHERPAD_SKIN_VARIANTS", "SKIN_VARIANTS"),
    ] {
        if let Some(v) = stack.values.get(var) {
            s.environment.insert(key.into(), literal(v));
        }
    }
    s.networks = on_network(vec!["etherpad.meet.jitsi".into()]);
    one("etherpad", s)
}

fn whiteboard(stack: &Stack) -> ComposeFile {
    let mut s = base_service(stack, WHITEBOARD_IMAGE);
    s.depends_on = healthy(&["web"]);
    s.networks = on_network(vec!["whiteboard.meet.jitsi".into()]);
    one("whiteboard", s)
}

/// coturn runs with the host's network: it must see the clients' real
/// addresses and relay on a wide UDP range, which Docker's port publishing
/// handles badly (one proxy per port). Its listening and relay ports come
/// from the rendered turnserver.conf alone, so they cannot disagree.
fn turn(stack: &Stack) -> ComposeFile {
    let mut s = base_service(stack, COTURN_IMAGE);
    s.read_only = true;
    s.tmpfs = vec![
        "/var/lib/coturn:size=16M,mode=1777".into(),
        "/tmp:size=16M,mode=1777,noexec".into(),
    ];
    s.network_mode = Some("host".into());
    s.command = vec![
        "-c".into(),
        TURN_CONF_TARGET.into(),
        "--log-file=stdout".into(),
    ];
    s.volumes = generated_mounts("turn", "turn");
    if !rows()
        .iter()
        .any(|m| m.service == "turn" && m.target == TURN_CONF_TARGET)
    {
        s.volumes.push(format!(
            "./{GENERATED_DIR}/turn/turnserver.conf:{TURN_CONF_TARGET}:ro"
        ));
    }
    s.labels = labels("turn");
    one("turn", s)
}

/// Prometheus and Grafana, bound to the host's loopback (reach both through
/// an SSH tunnel or a proxy; Grafana's `admin` password is the generated
/// GF_SECURITY_ADMIN_PASSWORD, never its default admin/admin). Their data
/// lives in named volumes (see [`ComposeFile::volumes`]).
fn monitoring(stack: &Stack) -> ComposeFile {
    let mut f = ComposeFile::default();
    let mut p = base_service(stack, PROMETHEUS_IMAGE);
    p.command = vec!["--config.file=/etc/prometheus/prometheus.yml".into()];
    p.ports = vec!["127.0.0.1:9090:9090".into()];
    p.volumes = vec![
        format!("./{GENERATED_DIR}/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"),
        "prometheus-data:/prometheus".into(),
    ];
    p.networks = on_network(vec![]);
    f.services.insert("prometheus".into(), p);

    let mut g = base_service(stack, GRAFANA_IMAGE);
    g.environment.insert(
        "GF_ANALYTICS_REPORTING_ENABLED".into(),
        literal(
            stack
                .values
                .get_or("GF_ANALYTICS_REPORTING_ENABLED", "false"),
        ),
    );
    g.environment.insert(
        "GF_SECURITY_ADMIN_PASSWORD".into(),
        secret_ref("GF_SECURITY_ADMIN_PASSWORD"),
    );
    g.ports = vec!["127.0.0.1:3000:3000".into()];
    g.volumes = vec![
        "grafana-data:/var/lib/grafana".into(),
        format!(
            "./{GENERATED_DIR}/grafana/datasources.yml:/etc/grafana/provisioning/datasources/jitsi-stack.yml:ro"
        ),
    ];
    g.networks = on_network(vec![]);
    f.services.insert("grafana".into(), g);
    f.volumes = named(&["prometheus-data", "grafana-data"]);
    f
}

/// Loki and an OpenTelemetry collector reading the containers' JSON logs.
fn log_analyser(stack: &Stack) -> ComposeFile {
    let mut f = ComposeFile::default();
    let mut l = base_service(stack, LOKI_IMAGE);
    l.command = vec!["-config.file=/etc/loki/local-config.yaml".into()];
    l.ports = vec!["127.0.0.1:3100:3100".into()];
    l.volumes = vec!["loki-data:/loki".into()];
    l.networks = on_network(vec![]);
    f.services.insert("loki".into(), l);

    let mut o = base_service(stack, OTEL_IMAGE);
    // Docker's log files are readable by root only.
    o.user = Some("0".into());
    o.volumes = vec![
        format!("./{GENERATED_DIR}/otel/config.yaml:/etc/otelcol-contrib/config.yaml:ro"),
        "/var/lib/docker/containers:/var/lib/docker/containers:ro".into(),
    ];
    o.networks = on_network(vec![]);
    f.services.insert("otel".into(), o);
    f.volumes = named(&["loki-data"]);
    f
}

fn one(name: &str, s: Service) -> ComposeFile {
    ComposeFile {
        services: BTreeMap::from([(name.to_string(), s)]),
        ..ComposeFile::default()
    }
}

fn named(names: &[&str]) -> BTreeMap<String, Network> {
    names.iter().map(|n| (n.to_string(), Network {})).collect()
}

/// Every compose file of the stack, keyed by file name.
pub fn build(stack: &Stack) -> BTreeMap<String, ComposeFile> {
    let mut files = BTreeMap::new();
    files.insert("docker-compose.yml".to_string(), core(stack));
    for c in &stack.components {
        let f = match c {
            Component::Jibri => jibri(stack),
            Component::Jigasi => jigasi(stack),
            Component::Transcriber => transcriber(stack),
            Component::Etherpad => etherpad(stack),
            Component::Whiteboard => whiteboard(stack),
            Component::Turn => turn(stack),
            Component::Monitoring => monitoring(stack),
            Component::LogAnalyser => log_analyser(stack),
        };
        files.insert(c.compose_file(), f);
    }
    files
}

fn with_note<T: Serialize>(value: &T) -> Result<String> {
    crate::yaml::to_string_with_comment(GENERATED_NOTE, value)
}

/// Renders the compose files, `generated/empty` and the monitoring configs.
pub fn render(stack: &Stack, out: &mut Output) -> Result<()> {
    for (name, file) in build(stack) {
        out.add(name, with_note(&file)?);
    }
    out.add(format!("{GENERATED_DIR}/{}", mounts::EMPTY), String::new());
    if stack.has(Component::Monitoring) {
        out.add(
            format!("{GENERATED_DIR}/prometheus/prometheus.yml"),
            with_note(&prometheus_config(stack))?,
        );
        out.add(
            format!("{GENERATED_DIR}/grafana/datasources.yml"),
            with_note(&grafana_datasources(stack))?,
        );
    }
    if stack.has(Component::LogAnalyser) {
        out.add(
            format!("{GENERATED_DIR}/otel/config.yaml"),
            with_note(&otel_config())?,
        );
    }
    Ok(())
}

fn prometheus_config(stack: &Stack) -> serde_json::Value {
    let bridges: Vec<String> = jvb_instances(stack)
        .iter()
        .map(|b| format!("{}:8080", b.instance.name))
        .collect();
    serde_json::json!({
        "global": { "scrape_interval": "15s" },
        "scrape_configs": [
            { "job_name": "jvb", "static_configs": [ { "targets": bridges } ] },
            { "job_name": "jicofo", "static_configs": [ { "targets": ["jicofo:8888"] } ] },
        ],
    })
}

fn grafana_datasources(stack: &Stack) -> serde_json::Value {
    let mut sources = vec![serde_json::json!({
        "name": "Prometheus", "type": "prometheus", "access": "proxy",
        "url": "http://prometheus:9090", "isDefault": true,
    })];
    if stack.has(Component::LogAnalyser) {
        sources.push(serde_json::json!({
            "name": "Loki", "type": "loki", "access": "proxy", "url": "http://loki:3100",
        }));
    }
    serde_json::json!({ "apiVersion": 1, "datasources": sources })
}

fn otel_config() -> serde_json::Value {
    serde_json::json!({
        "receivers": { "filelog": {
            "include": ["/var/lib/docker/containers/*/*-json.log"],
            "operators": [ { "type": "json_parser" } ],
        } },
        "processors": { "batch": {} },
        "exporters": { "otlphttp": { "endpoint": "http://loki:3100/otlp" } },
        "service": { "pipelines": { "logs": {
            "receivers": ["filelog"], "processors": ["batch"], "exporters": ["otlphttp"],
        } } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Values;
    use crate::envfile::EnvFile;
    use crate::render::mounts::{Mount, EMPTY};
    use std::cell::Cell;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    thread_local! {
        pub(super) static ROWS: Cell<Option<&'static [Mount]>> = const { Cell::new(None) };
    }

    /// One synthetic row per service kind, plus an EMPTY row.
    static SYNTHETIC: &[Mount] = &[
        Mount {
            service: "web",
            file: "a.js",
            target: "/defaults/a.js",
            note: "",
        },
        Mount {
            service: "web",
            file: EMPTY,
            target: "/defaults/b.js",
            note: "",
        },
        Mount {
            service: "prosody",
            file: "p.lua",
            target: "/defaults/p.lua",
            note: "",
        },
        Mount {
            service: "jicofo",
            file: "j.conf",
            target: "/defaults/j.conf",
            note: "",
        },
        Mount {
            service: "jvb",
            file: "jvb.conf",
            target: "/defaults/jvb.conf",
            note: "",
        },
        Mount {
            service: "jibri",
            file: "jibri.conf",
            target: "/defaults/jibri.conf",
            note: "",
        },
        Mount {
            service: "jigasi",
            file: "s.properties",
            target: "/defaults/s.properties",
            note: "",
        },
        Mount {
            service: "transcriber",
            file: "t.properties",
            target: "/defaults/t.properties",
            note: "",
        },
        Mount {
            service: "turn",
            file: "turnserver.conf",
            target: TURN_CONF_TARGET,
            note: "",
        },
    ];

    fn stack(pairs: &[(&str, &str)], components: &[Component]) -> Stack {
        Stack {
            dir: PathBuf::from("."),
            env_path: PathBuf::from(".env"),
            file: EnvFile::default(),
            values: Values::from_pairs(pairs.iter().copied()),
            components: components.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn literals_double_dollars() {
        assert_eq!(literal("a$b$$c"), "a$$b$$$$c");
    }

    #[test]
    fn secrets_are_interpolated_not_written() {
        let s = stack(
            &[("JVB_AUTH_PASSWORD", "s3cret"), ("LDAP_BINDPW", "pw")],
            &[],
        );
        let files = build(&s);
        let yaml = crate::yaml::to_string(&files["docker-compose.yml"]).unwrap();
        assert!(!yaml.contains("s3cret") && !yaml.contains(": pw"), "{yaml}");
        let env = &files["docker-compose.yml"].services["jvb"].environment;
        assert_eq!(
            env["JVB_AUTH_PASSWORD"],
            "${JVB_AUTH_PASSWORD:?JVB_AUTH_PASSWORD is not set in .env: run jitsi-stack gen-passwords}"
        );
        // An unset user secret is left out rather than required.
        let s = stack(&[], &[]);
        let prosody = &build(&s)["docker-compose.yml"].services["prosody"];
        assert!(!prosody.environment.contains_key("LDAP_BINDPW"));
    }

    #[test]
    fn bridges_get_distinct_ports_and_ids() {
        let s = stack(&[("JVB_INSTANCES", "3"), ("JVB_PORT", "10100")], &[]);
        let b = jvb_instances(&s);
        let ports: Vec<_> = b.iter().map(|b| (b.udp_port, b.colibri_port)).collect();
        assert_eq!(ports, [(10100, 8080), (10101, 8081), (10102, 8082)]);
        let ids: Vec<_> = b.iter().map(|b| b.instance_id.clone()).collect();
        assert_eq!(ids, ["jvb", "jvb-2", "jvb-3"]);
        let one = stack(&[], &[]);
        assert_eq!(jvb_instances(&one)[0].instance_id, "jvb");
        let named = stack(&[("JVB_INSTANCE_ID", "b"), ("JVB_INSTANCES", "2")], &[]);
        let ids: Vec<_> = jvb_instances(&named)
            .into_iter()
            .map(|b| b.instance_id)
            .collect();
        assert_eq!(ids, ["b", "b-2"]);
    }

    fn services(s: &Stack) -> BTreeMap<String, Vec<String>> {
        build(s)
            .into_values()
            .flat_map(|f| f.services.into_iter().map(|(k, v)| (k, v.volumes)))
            .collect()
    }

    #[test]
    fn every_mount_row_is_mounted_for_every_instance() {
        let s = stack(
            &[("JVB_INSTANCES", "2"), ("JIBRI_INSTANCES", "2")],
            Component::ALL,
        );
        // The real table, whatever rows it has by now.
        let real = services(&s);
        for m in mounts::MOUNTS {
            let names: Vec<String> = match m.service {
                "jvb" | "jibri" => s.instances(m.service).into_iter().map(|i| i.name).collect(),
                other => vec![other.to_string()],
            };
            for inst in names {
                let vols = real
                    .get(&inst)
                    .unwrap_or_else(|| panic!("no service {inst} for {m:?}"));
                assert!(vols.contains(&m.volume(&inst)), "{inst} lacks {m:?}");
            }
        }
        // The mechanism, on synthetic rows.
        ROWS.with(|r| r.set(Some(SYNTHETIC)));
        let got = services(&s);
        ROWS.with(|r| r.set(None));
        let has = |svc: &str, v: &str| {
            assert!(
                got[svc].iter().any(|x| x == v),
                "{svc}: {v} not in {:?}",
                got[svc]
            );
        };
        has("web", "./generated/web/a.js:/defaults/a.js:ro");
        has("web", "./generated/empty:/defaults/b.js:ro");
        has("prosody", "./generated/prosody/p.lua:/defaults/p.lua:ro");
        has("jicofo", "./generated/jicofo/j.conf:/defaults/j.conf:ro");
        has("jvb", "./generated/jvb/jvb.conf:/defaults/jvb.conf:ro");
        has("jvb-2", "./generated/jvb-2/jvb.conf:/defaults/jvb.conf:ro");
        has(
            "jibri-2",
            "./generated/jibri-2/jibri.conf:/defaults/jibri.conf:ro",
        );
        has(
            "jigasi",
            "./generated/jigasi/s.properties:/defaults/s.properties:ro",
        );
        has(
            "transcriber",
            "./generated/transcriber/t.properties:/defaults/t.properties:ro",
        );
        // The row replaces the fallback: mounted exactly once.
        let turn: Vec<_> = got["turn"]
            .iter()
            .filter(|v| v.contains(TURN_CONF_TARGET))
            .collect();
        assert_eq!(
            turn,
            ["./generated/turn/turnserver.conf:/etc/coturn/turnserver.conf:ro"]
        );
        // No row leaks into another service.
        assert!(!got["jicofo"].iter().any(|v| v.contains("jvb.conf")));
    }

    #[test]
    fn prosody_healthcheck_has_its_port() {
        let env = &build(&stack(&[], &[]))["docker-compose.yml"].services["prosody"].environment;
        assert_eq!(env["PROSODY_HTTP_PORT"], "5280");
    }

    #[test]
    fn single_instances_use_the_tree_init_creates() {
        let s = stack(&[], Component::ALL);
        for d in config_dirs(&s) {
            assert!(
                crate::commands::init::CONFIG_TREE.contains(&d.as_str()),
                "{d} is mounted but `init` does not create it"
            );
        }
    }

    #[test]
    fn config_dirs_cover_instances() {
        let s = stack(&[("JVB_INSTANCES", "2")], &[Component::Jibri]);
        let dirs = config_dirs(&s);
        for d in [
            "jvb",
            "jvb-2",
            "jibri",
            "storage/jibri",
            "web",
            "prosody/config",
        ] {
            assert!(dirs.iter().any(|x| x == d), "{d} missing from {dirs:?}");
        }
    }
}
