//! `jitsi-stack proxy KIND`: the reverse-proxy configuration for running the
//! stack behind a proxy on the same host, filled in from `.env`: the proxy
//! serves PUBLIC_URL (TLS, its port) and passes everything to the web
//! container on 127.0.0.1:HTTP_PORT. Refused when the stack is not set up
//! for that.

use crate::cli::{ProxyArgs, ProxyKind};
use crate::config::{Stack, BEHIND_PROXY_VAR};
use crate::schema::kind::url_host_port;
use crate::{Exit, UsageError};
use anyhow::{bail, Result};
use std::path::Path;

/// The paths that need websocket upgrade headers.
// The pinned bridges have no colibri websockets (SCTP only): XMPP is the
// one websocket to pass through.
const WS_PATHS: &[&str] = &["/xmpp-websocket"];

/// What the snippet is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The host users open (from PUBLIC_URL).
    pub host: String,
    /// The port the proxy listens on for HTTPS (PUBLIC_URL's, else 443).
    pub port: u16,
    /// Where the web container answers: `127.0.0.1:HTTP_PORT`.
    pub upstream: String,
}

pub fn run(dir: &Path, args: ProxyArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let site = site(&stack)?;
    for w in warnings(&stack) {
        eprintln!("{} {w}", crate::color::stderr().warn("warning:"));
    }
    print!("{}", snippet(args.kind, &site));
    Ok(Exit::Ok)
}

/// The proxy's site from `.env`, or why this stack cannot sit behind one
/// as configured (with the settings to change).
pub fn site(stack: &Stack) -> Result<Site> {
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let (host, port, _) = url_host_port(url)
        .ok_or_else(|| UsageError(format!("PUBLIC_URL {url:?} has no host; fix it in .env")))?;
    let http = stack.values.port("HTTP_PORT").unwrap_or(8000);
    let https = stack.values.port("HTTPS_PORT").unwrap_or(8443);
    let port = port.unwrap_or(443);
    let env = stack.env_path.display();
    if !stack.behind_proxy() {
        bail!(
            "this stack is not set up to run behind a reverse proxy: its web container is published on \
             every interface (HTTP_PORT={http}, HTTPS_PORT={https}){clash}, so a proxy on this host would \
             compete with it for the ports. In {env} set {BEHIND_PROXY_VAR}=1 and DISABLE_HTTPS=1, \
             ENABLE_HTTP_REDIRECT=0 and ENABLE_LETSENCRYPT=0 (a new stack: `jitsi-stack init --behind-proxy`), \
             run `jitsi-stack up`, then this again",
            clash = if http == port || https == port || http == 80 {
                format!(", including port {} that the proxy needs", if https == port { https } else if http == port { http } else { 80 })
            } else {
                String::new()
            }
        );
    }
    let mut wrong = Vec::new();
    if stack.values.bool("ENABLE_LETSENCRYPT") {
        wrong.push("ENABLE_LETSENCRYPT=0 (the proxy gets the certificate)");
    }
    if stack.values.bool("ENABLE_HTTP_REDIRECT") {
        wrong.push(
            "ENABLE_HTTP_REDIRECT=0 (the proxy redirects to HTTPS; the web container would loop)",
        );
    }
    if http == port {
        wrong.push("an HTTP_PORT other than the port of PUBLIC_URL (the proxy listens there)");
    }
    if !wrong.is_empty() {
        bail!(
            "{BEHIND_PROXY_VAR}=1, but {env} contradicts it; set {}, then `jitsi-stack up` and run this again",
            wrong.join(", ")
        );
    }
    Ok(Site {
        host,
        port,
        upstream: format!("127.0.0.1:{http}"),
    })
}

/// Settings that work but are not what the proxy mode wants.
fn warnings(stack: &Stack) -> Vec<String> {
    let mut out = Vec::new();
    if !stack.values.bool("DISABLE_HTTPS") {
        out.push(format!(
            "DISABLE_HTTPS is not 1 in {}: the web container still makes its own certificate, which nothing uses (the proxy talks plain HTTP to it)",
            stack.env_path.display()
        ));
    }
    out
}

/// The snippet text for one proxy.
pub fn snippet(kind: ProxyKind, site: &Site) -> String {
    let Site {
        host,
        port,
        upstream,
    } = site;
    let header = format!(
        "the stack's web container answers plain HTTP on {upstream} ({BEHIND_PROXY_VAR}=1);\n\
         # this proxy serves https://{host}{shown_port} and passes everything to it.\n",
        shown_port = if *port == 443 {
            String::new()
        } else {
            format!(":{port}")
        }
    );
    match kind {
        ProxyKind::Nginx => {
            let mut s = format!(
                "# nginx: {header}\
                 server {{\n    # `http2` on the listen line works on nginx 1.22 (Debian 12) and later.\n    listen {port} ssl http2;\n    listen [::]:{port} ssl http2;\n    server_name {host};\n    # ssl_certificate ...; ssl_certificate_key ...;\n\n"
            );
            for p in WS_PATHS {
                s.push_str(&format!(
                    "    location {p} {{\n        proxy_pass http://{upstream};\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n        proxy_set_header Host $host;\n        proxy_read_timeout 900s;\n    }}\n\n"
                ));
            }
            s.push_str(&format!(
                "    location /http-bind {{\n        proxy_pass http://{upstream};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $remote_addr;\n    }}\n\n    location / {{\n        proxy_pass http://{upstream};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_set_header X-Forwarded-Proto $scheme;\n    }}\n}}\n"
            ));
            if *port == 443 {
                s.push_str(&format!(
                    "\nserver {{\n    listen 80;\n    listen [::]:80;\n    server_name {host};\n    return 301 https://$host$request_uri;\n}}\n"
                ));
            }
            s
        }
        ProxyKind::Apache => format!(
            "# Apache (mod_ssl, mod_proxy, mod_proxy_http, mod_proxy_wstunnel, mod_rewrite, mod_headers):\n# {header}\
             <VirtualHost *:{port}>\n    ServerName {host}\n    # SSLEngine on; SSLCertificateFile ...; SSLCertificateKeyFile ...\n    ProxyPreserveHost On\n    RequestHeader set X-Forwarded-Proto \"https\"\n\n    RewriteEngine On\n    RewriteCond %{{HTTP:Upgrade}} =websocket [NC]\n    RewriteRule ^/(xmpp-websocket)$ ws://{upstream}/$1 [P,L]\n\n    ProxyPass /http-bind http://{upstream}/http-bind\n    ProxyPassReverse /http-bind http://{upstream}/http-bind\n    ProxyPass / http://{upstream}/\n    ProxyPassReverse / http://{upstream}/\n</VirtualHost>\n"
        ),
        ProxyKind::Haproxy => format!(
            "# HAProxy (websocket upgrades pass through in HTTP mode):\n# {header}\
             frontend https-in\n    mode http\n    bind :{port} ssl crt /etc/haproxy/certs/{host}.pem\n    http-request set-header X-Forwarded-Proto https\n    acl jitsi hdr(host) -i {host} {host}:{port}\n    use_backend jitsi if jitsi\n\n\
             backend jitsi\n    mode http\n    option forwardfor\n    timeout tunnel 900s\n    server web {upstream}\n"
        ),
        ProxyKind::Caddy => format!(
            "# Caddy (certificates are automatic; websockets need no extra settings):\n# {header}\
             {host}{site_port} {{\n    reverse_proxy {upstream}\n}}\n",
            site_port = if *port == 443 { String::new() } else { format!(":{port}") }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(port: u16) -> Site {
        Site {
            host: "meet.example.org".into(),
            port,
            upstream: "127.0.0.1:8000".into(),
        }
    }

    #[test]
    fn every_snippet_names_the_host_port_and_upstream() {
        for kind in [
            ProxyKind::Nginx,
            ProxyKind::Apache,
            ProxyKind::Haproxy,
            ProxyKind::Caddy,
        ] {
            let s = snippet(kind, &site(443));
            assert!(s.contains("meet.example.org"), "{kind:?}");
            assert!(s.contains("127.0.0.1:8000"), "{kind:?}");
            if matches!(kind, ProxyKind::Nginx | ProxyKind::Apache) {
                assert!(
                    s.contains("xmpp-websocket") && s.contains("http-bind"),
                    "{kind:?}"
                );
            }
            assert!(
                !s.contains("colibri-ws"),
                "{kind:?}: no such route any more"
            );
            assert!(
                !s.contains("DISABLE_HTTPS=1 and"),
                "{kind:?}: no instructions to change .env"
            );
            let other = snippet(kind, &site(8443));
            assert!(other.contains("8443"), "{kind:?}: the public URL's port");
        }
        let nginx = snippet(ProxyKind::Nginx, &site(443));
        assert_eq!(
            nginx
                .matches("proxy_set_header Upgrade $http_upgrade;")
                .count(),
            1
        );
        assert!(nginx.contains("listen 443 ssl http2;"), "{nginx}");
        assert!(
            nginx.contains("return 301 https://$host$request_uri;"),
            "{nginx}"
        );
        let nginx = snippet(ProxyKind::Nginx, &site(8443));
        assert!(
            nginx.contains("listen 8443 ssl http2;") && !nginx.contains("listen 80;"),
            "{nginx}"
        );
    }
}
