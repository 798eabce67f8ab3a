//! `jitsi-stack smoke`: probe a running stack the way a browser and the
//! operator would, for CI after `up`: the web page, a BOSH session, the XMPP
//! websocket upgrade, and the jicofo and bridge health endpoints.

use crate::cli::SmokeArgs;
use crate::commands::report::Probe;
use crate::config::Stack;
use crate::docker::Compose;
use crate::stack::{visitors, Kind, Model, Probe as Endpoint};
use crate::Exit;
use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

/// RFC 6455's sample key and the accept value a websocket server must
/// answer it with (base64 of SHA-1 of key + the protocol's GUID).
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn run(dir: &Path, args: SmokeArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let model = Model::build(&stack)?;
    let mut probes = probe_all(
        &stack,
        &model,
        Duration::from_secs(args.timeout),
        args.insecure,
    );
    probes.extend(super::nodes::brewery_probes(&stack, &model));
    let failed: Vec<&str> = probes
        .iter()
        .filter(|p| !p.ok)
        .map(|p| p.check.as_str())
        .collect();
    if args.json {
        let doc = serde_json::json!({
            "format_version": crate::commands::JSON_FORMAT_VERSION,
            "ok": failed.is_empty(),
            "failed": failed,
            "probes": probes,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let paint = crate::color::stdout();
        for p in &probes {
            crate::outln!(
                "{} {:<10} {} ({})",
                if p.ok {
                    paint.ok("ok  ")
                } else {
                    paint.fail("FAIL")
                },
                p.check,
                p.url,
                p.detail
            );
        }
    }
    if failed.is_empty() {
        Ok(Exit::Ok)
    } else {
        crate::errln!(
            "{} smoke failed: {}",
            crate::color::fail("error:"),
            failed.join(", ")
        );
        Ok(Exit::Invalid)
    }
}

/// Every probe `smoke` runs, for `upgrade` to judge.
pub fn probe_stack(stack: &Stack, timeout: Duration, insecure: bool) -> Result<Vec<Probe>> {
    let model = Model::build(stack)?;
    let mut probes = probe_all(stack, &model, timeout, insecure);
    probes.extend(super::nodes::brewery_probes(stack, &model));
    Ok(probes)
}

/// Whether a probe goes from this host to PUBLIC_URL (its failure can be
/// split DNS or missing hairpin NAT), not to a service of the stack.
pub fn from_host(p: &Probe) -> bool {
    matches!(p.check.as_str(), "web" | "bosh" | "websocket")
        || p.check.starts_with("bosh-v")
        || p.check.starts_with("websocket-v")
}

/// Every probe for the stack, run in parallel (so a run takes at most about
/// one `timeout`), reported in a fixed order: web, bosh, websocket, jicofo,
/// then each bridge.
fn probe_all(stack: &Stack, model: &Model, timeout: Duration, insecure: bool) -> Vec<Probe> {
    // The public URL goes through a proxy if the environment sets one;
    // the loopback health ports never do.
    let public = agent(timeout, insecure, true);
    let local = agent(timeout, false, false);
    let base = public_url(stack);
    let domain = stack.values.get_or("XMPP_DOMAIN", "meet.jitsi").to_string();

    type Job<'a> = Box<dyn FnOnce() -> Probe + Send + 'a>;
    let mut jobs: Vec<(String, Job)> = Vec::new();
    // A node serves no web page: only its services' health endpoints.
    if !model.is_node() {
        let (a, url) = (public.clone(), format!("{base}/"));
        jobs.push(("web".into(), Box::new(move || web(&a, &url))));
        let (a, url) = (public.clone(), format!("{base}/http-bind"));
        jobs.push((
            "bosh".into(),
            Box::new(move || bosh(&a, "bosh", &url, &domain, None)),
        ));
        let (a, url) = (public.clone(), format!("{base}/xmpp-websocket"));
        jobs.push((
            "websocket".into(),
            Box::new(move || websocket(&a, "websocket", &url, None)),
        ));
        // A viewer's BOSH and websocket carry `?vnode=vN`: nginx must send
        // them to node N. Only node N serves vN's domain, so a BOSH session
        // opened for it proves the route (websocket takes the same map).
        if visitors::enabled(&stack.values) {
            for n in visitors::nodes(stack) {
                let (a, url) = (
                    public.clone(),
                    format!("{base}/http-bind?vnode={}", n.vnode),
                );
                let check = format!("bosh-{}", n.vnode);
                let c = check.clone();
                jobs.push((
                    check,
                    Box::new(move || bosh(&a, &c, &url, &n.domain, Some(&n))),
                ));
            }
            for n in visitors::nodes(stack) {
                let (a, url) = (
                    public.clone(),
                    format!("{base}/xmpp-websocket?vnode={}", n.vnode),
                );
                let check = format!("websocket-{}", n.vnode);
                let c = check.clone();
                jobs.push((check, Box::new(move || websocket(&a, &c, &url, Some(&n)))));
            }
        }
    }
    // The health endpoints come from the model: jicofo's, then each bridge's.
    let probed = model
        .of_kind(Kind::Jicofo)
        .chain(model.of_kind(Kind::Jvb))
        .filter_map(|s| Some((s.name.clone(), s.probe.clone()?)));
    for (name, probe) in probed {
        match probe {
            Endpoint::Http { url } => {
                let a = local.clone();
                jobs.push((name.clone(), Box::new(move || health(&a, &name, &url))));
            }
            Endpoint::InContainer { url } => jobs.push((
                name.clone(),
                Box::new(move || in_container(stack, &name, &url, timeout)),
            )),
        }
    }

    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(check, job)| (check, s.spawn(job)))
            .collect();
        handles
            .into_iter()
            .map(|(check, h)| {
                h.join().unwrap_or_else(|_| Probe {
                    check,
                    url: String::new(),
                    ok: false,
                    detail: "the probe crashed".into(),
                    ms: 0,
                })
            })
            .collect()
    })
}

/// PUBLIC_URL without a trailing slash; when unset, the images' default
/// (`https://localhost:HTTPS_PORT`).
fn public_url(stack: &Stack) -> String {
    match stack.values.get("PUBLIC_URL") {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!(
            "https://localhost:{}",
            stack.values.port("HTTPS_PORT").unwrap_or(8443)
        ),
    }
}

fn agent(timeout: Duration, insecure: bool, env_proxy: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(insecure)
        .build();
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("jitsi-stack/", env!("CARGO_PKG_VERSION"), " smoke"))
        .tls_config(tls);
    if !env_proxy {
        config = config.proxy(None);
    }
    config.build().into()
}

/// Runs `f` and times it into a [`Probe`].
fn timed(check: &str, url: &str, f: impl FnOnce() -> Result<String, String>) -> Probe {
    let start = Instant::now();
    let result = f();
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Probe {
        check: check.into(),
        url: url.into(),
        ok,
        detail,
        ms,
    }
}

/// A transport error as a sentence, with the fix for an untrusted certificate.
fn transport(e: ureq::Error) -> String {
    let text = match &e {
        ureq::Error::Rustls(tls) => crate::tls::describe(tls),
        ureq::Error::Io(io) => match io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => crate::tls::describe(tls),
            None => e.to_string(),
        },
        _ => e.to_string(),
    };
    if text.to_ascii_lowercase().contains("certificate") {
        format!("{text}: the certificate is not trusted (for a self-signed one, use --insecure)")
    } else {
        text
    }
}

fn read_body(resp: &mut ureq::http::Response<ureq::Body>) -> String {
    resp.body_mut()
        .with_config()
        .limit(4 << 20)
        .read_to_string()
        .unwrap_or_default()
}

/// The Jitsi Meet page: status 200, the app bundle, and the config the web
/// container's nginx includes into it by SSI (`<!--#include virtual="/config.js" -->`).
fn web(agent: &ureq::Agent, url: &str) -> Probe {
    timed("web", url, || {
        let mut resp = agent.get(url).call().map_err(transport)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!(
                "HTTP {status}, expected 200 and the Jitsi Meet page"
            ));
        }
        page_verdict(&read_body(&mut resp))
    })
}

/// What the body of the page says about the web container.
fn page_verdict(body: &str) -> Result<String, String> {
    if !body.contains("app.bundle.min.js") {
        return Err(
            "HTTP 200 but not the Jitsi Meet page (no app.bundle.min.js): is PUBLIC_URL this stack?"
                .into(),
        );
    }
    if !body.contains("var config") {
        return Err("the Jitsi Meet page without its config (config.js was not included): see `jitsi-stack logs web`".into());
    }
    Ok("HTTP 200, the Jitsi Meet page with its config".into())
}

/// BOSH: opens a session for the XMPP domain, as the web client does, then
/// ends it. Prosody answers with a session id and its stream features.
/// With `node`, the request carries `?vnode=`: the session is for that
/// visitor node's domain, which only that node serves.
fn bosh(
    agent: &ureq::Agent,
    check: &str,
    url: &str,
    domain: &str,
    node: Option<&visitors::VisitorNode>,
) -> Probe {
    timed(check, url, || {
        hinted(node, bosh_once(agent, url, domain, node))
    })
}

fn bosh_once(
    agent: &ureq::Agent,
    url: &str,
    domain: &str,
    node: Option<&visitors::VisitorNode>,
) -> Result<String, String> {
    {
        let open = format!(
            "<body content='text/xml; charset=utf-8' hold='1' rid='1' to='{}' ver='1.6' wait='5' \
             xml:lang='en' xmlns='http://jabber.org/protocol/httpbind' \
             xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>",
            xml_attr(domain)
        );
        let mut resp = agent
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .send(open.as_str())
            .map_err(transport)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!(
                "HTTP {status}, expected 200 from prosody's BOSH endpoint"
            ));
        }
        let reply = read_body(&mut resp);
        let sid = bosh_verdict(&reply, domain)?;
        let close = format!(
            "<body rid='2' sid='{}' type='terminate' xmlns='http://jabber.org/protocol/httpbind'/>",
            xml_attr(&sid)
        );
        // Ending the session is a courtesy; prosody also expires it.
        let _ = agent
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .send(close.as_str());
        Ok(match node {
            Some(n) => format!(
                "HTTP 200, BOSH session opened for {domain}: ?vnode={} reached {}",
                n.vnode,
                n.host()
            ),
            None => format!("HTTP 200, BOSH session opened for {domain}"),
        })
    }
}

/// A probe's failure with `?vnode=` said and the fix for it.
fn hinted(
    node: Option<&visitors::VisitorNode>,
    r: Result<String, String>,
) -> Result<String, String> {
    match node {
        Some(n) => r.map_err(|e| vnode_miss(&e, n)),
        None => r,
    }
}

/// Why a `?vnode=` BOSH request failed, with the fix.
fn vnode_miss(e: &str, n: &visitors::VisitorNode) -> String {
    if e.contains("refused the session") {
        format!(
            "?vnode={} did not reach {} ({e}): nginx sent it to a prosody that does not serve {}; run `jitsi-stack render` and `jitsi-stack restart web` (the map $arg_vnode of generated/web/nginx.conf)",
            n.vnode,
            n.host(),
            n.domain
        )
    } else {
        format!(
            "{e} (?vnode={} goes to {}: is it running? `jitsi-stack status`)",
            n.vnode,
            n.http_base()
        )
    }
}

/// The session id from prosody's reply to a session request, or why the
/// reply is not one.
fn bosh_verdict(reply: &str, domain: &str) -> Result<String, String> {
    if !reply.contains("http://jabber.org/protocol/httpbind") {
        return Err("HTTP 200 but not a BOSH reply: is /http-bind proxied to prosody?".into());
    }
    if reply.contains("type='terminate'") || reply.contains("type=\"terminate\"") {
        let condition = attr(reply, "condition").unwrap_or_else(|| "none given".into());
        return Err(format!(
            "prosody refused the session for {domain} (condition: {condition}): check XMPP_DOMAIN"
        ));
    }
    attr(reply, "sid").ok_or_else(|| "a BOSH reply without a session id".to_string())
}

/// The value of the first `name='...'` or `name="..."` attribute.
fn attr(xml: &str, name: &str) -> Option<String> {
    for q in ['\'', '"'] {
        let key = format!(" {name}={q}");
        if let Some(start) = xml.find(&key).map(|i| i + key.len()) {
            let end = xml[start..].find(q)?;
            return Some(xml[start..start + end].to_string());
        }
    }
    None
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// The XMPP websocket: an upgrade request offering the `xmpp` subprotocol
/// must be switched (101) by prosody, through the web container's nginx.
fn websocket(
    agent: &ureq::Agent,
    check: &str,
    url: &str,
    node: Option<&visitors::VisitorNode>,
) -> Probe {
    timed(check, url, || hinted(node, websocket_once(agent, url)))
}

fn websocket_once(agent: &ureq::Agent, url: &str) -> Result<String, String> {
    {
        let resp = agent
            .get(url)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", WS_KEY)
            .header("Sec-WebSocket-Protocol", "xmpp")
            .call()
            .map_err(transport)?;
        let status = resp.status().as_u16();
        if status != 101 {
            return Err(format!(
                "HTTP {status}, expected 101 Switching Protocols from prosody's websocket"
            ));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        if header("sec-websocket-accept") != WS_ACCEPT {
            return Err(
                "HTTP 101 with a wrong Sec-WebSocket-Accept: not a websocket server".into(),
            );
        }
        if !header("sec-websocket-protocol").eq_ignore_ascii_case("xmpp") {
            return Err("HTTP 101 without the xmpp subprotocol: not prosody's websocket".into());
        }
        Ok("HTTP 101, websocket switched to xmpp".into())
    }
}

/// jicofo and bridge health: 200 when healthy (both answer 500 otherwise).
fn health(agent: &ureq::Agent, check: &str, url: &str) -> Probe {
    timed(check, url, || {
        let mut resp = agent.get(url).call().map_err(|e| {
            format!(
                "{}: is {check} running with its port published on 127.0.0.1? (`jitsi-stack status`)",
                transport(e)
            )
        })?;
        match resp.status().as_u16() {
            200 => Ok("healthy".into()),
            s => Err(format!(
                "HTTP {s}: unhealthy{}",
                excerpt(&read_body(&mut resp))
            )),
        }
    })
}

/// A health endpoint only the container itself reaches (jicofo's REST API
/// listens on the container's loopback unless JICOFO_ENABLE_REST is set, as
/// in the upstream images): ask inside the container, as its health check does.
fn in_container(stack: &Stack, service: &str, url: &str, timeout: Duration) -> Probe {
    let shown = format!("{url} (in the {service} container)");
    timed(service, &shown, || {
        let compose = Compose::detect(stack).map_err(|e| {
            format!("{e}; or set JICOFO_ENABLE_REST=1 so smoke can reach jicofo on 127.0.0.1")
        })?;
        let secs = timeout.as_secs().max(1).to_string();
        let write_out = format!("\\n{STATUS_MARK}%{{http_code}}\\n");
        let out = compose
            .capture(&[
                "exec",
                "-T",
                service,
                "curl",
                "--silent",
                "--show-error",
                "--max-time",
                &secs,
                "--output",
                "-",
                "--write-out",
                &write_out,
                url,
            ])
            .map_err(|e| e.to_string())?;
        jicofo_verdict(
            out.status.code(),
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
            &secs,
        )
    })
}

/// What curl appends to the body (`--write-out`): the HTTP status jicofo
/// answered. The probe passes on that status, never on an exit code alone:
/// a wrapper that always exits 0 prints no status and fails.
const STATUS_MARK: &str = "jitsi-stack-probe: HTTP ";

/// Judges `docker compose exec jicofo curl ...` by what it printed.
fn jicofo_verdict(
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
    secs: &str,
) -> Result<String, String> {
    let said = |t: &str| excerpt(t);
    let (body, status) = match stdout.rsplit_once(STATUS_MARK) {
        Some((body, rest)) => (body.trim(), rest.trim()),
        None => ("", ""),
    };
    match (code, status) {
        (None, _) => Err("`docker compose exec jicofo curl` was killed by a signal".into()),
        // curl: 7 connection refused, 28 timeout; the status is then 000.
        (Some(7), _) => Err(format!("jicofo's REST API is not listening{}", said(stderr))),
        (Some(28), _) => Err(format!("no answer within {secs} s")),
        (Some(0), "200") => Ok("HTTP 200: healthy".into()),
        (Some(0), s) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) && s != "000" => {
            Err(format!("HTTP {s}: unhealthy{}", said(body)))
        }
        (Some(0), _) => Err(format!(
            "`docker compose exec jicofo curl` exited 0 but printed no HTTP status{}: the Compose program may hide failures (see `jitsi-stack doctor`)",
            said(stdout)
        )),
        (Some(n), _) => Err(format!(
            "`docker compose exec jicofo curl` exited with {n}{}: is jicofo running? (`jitsi-stack status`)",
            said(stderr)
        )),
    }
}

/// `: text` with the first line of `text`, shortened, or nothing.
fn excerpt(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(l) if l.chars().count() > 120 => {
            format!(": {}...", l.chars().take(120).collect::<String>())
        }
        Some(l) => format!(": {l}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitsi_page_needs_the_app_and_its_config() {
        // The shape of the image's index.html once nginx has run its SSI.
        let page = "<html><head><script>var config = {};\nconfig.hosts = {};</script>\
                    <script src=\"libs/lib-jitsi-meet.min.js?v=139\"></script>\
                    <script src=\"libs/app.bundle.min.js?v=139\"></script></head></html>";
        assert!(page_verdict(page).is_ok());
        let nginx_default = "<html><head><title>Welcome to nginx!</title></head></html>";
        assert!(page_verdict(nginx_default)
            .unwrap_err()
            .contains("not the Jitsi Meet page"));
        // SSI off or config.js missing: the include is left or replaced by an error.
        let no_ssi = page.replace(
            "var config = {};\nconfig.hosts = {};",
            "<!--#include virtual=\"/config.js\" -->",
        );
        assert!(page_verdict(&no_ssi).unwrap_err().contains("config"));
    }

    #[test]
    fn bosh_replies() {
        let ok = "<body xmlns='http://jabber.org/protocol/httpbind' sid='3f2a-9' wait='5' \
                  requests='2' inactivity='60' ver='1.6'><stream:features/></body>";
        assert_eq!(bosh_verdict(ok, "meet.jitsi").unwrap(), "3f2a-9");
        let refused = "<body xmlns=\"http://jabber.org/protocol/httpbind\" type=\"terminate\" \
                       condition=\"host-unknown\"/>";
        let e = bosh_verdict(refused, "meet.jitsi").unwrap_err();
        assert!(
            e.contains("host-unknown") && e.contains("meet.jitsi"),
            "{e}"
        );
        assert!(bosh_verdict("<html><body>It works</body></html>", "meet.jitsi").is_err());
    }

    #[test]
    fn jicofo_passes_on_the_status_it_answered_only() {
        let ok = format!("\n{STATUS_MARK}200\n");
        assert_eq!(
            jicofo_verdict(Some(0), &ok, "", "2").unwrap(),
            "HTTP 200: healthy"
        );
        // A wrapper that exits 0 and prints nothing is no answer.
        let e = jicofo_verdict(Some(0), "", "", "2").unwrap_err();
        assert!(e.contains("no HTTP status"), "{e}");
        let e = jicofo_verdict(
            Some(0),
            &format!("bridge gone\n{STATUS_MARK}503\n"),
            "",
            "2",
        )
        .unwrap_err();
        assert_eq!(e, "HTTP 503: unhealthy: bridge gone");
        let e = jicofo_verdict(
            Some(7),
            &format!("\n{STATUS_MARK}000\n"),
            "curl: (7) refused",
            "2",
        )
        .unwrap_err();
        assert!(e.contains("not listening"), "{e}");
        let e = jicofo_verdict(Some(1), "", "service \"jicofo\" is not running", "2").unwrap_err();
        assert!(
            e.contains("exited with 1") && e.contains("not running"),
            "{e}"
        );
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(""), "");
        assert_eq!(excerpt("\n  bad bridge \nmore"), ": bad bridge");
        assert_eq!(excerpt(&"x".repeat(200)).len(), 2 + 120 + 3);
    }
}
