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

/// The path of the one websocket to pass through, for the site and for a
/// tenant (`/TENANT/xmpp-websocket`: config.js asks for that on
/// `https://HOST/TENANT/room`, the web image's ENABLE_SUBDOMAINS default).
// The pinned bridges have no colibri websockets (SCTP only).
const WS_PATH: &str = "xmpp-websocket";

/// The modules the Apache snippet uses, as `a2enmod` names them.
const APACHE_MODULES: &str = "ssl proxy proxy_http proxy_wstunnel rewrite headers";

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
        crate::errln!("{} {w}", crate::color::stderr().warn("warning:"));
    }
    crate::out!("{}", snippet(args.kind, &site));
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
        ProxyKind::Nginx => nginx(site, &header),
        ProxyKind::Apache => apache(site, &header),
        ProxyKind::Haproxy => haproxy(site, &header),
        ProxyKind::Caddy => caddy(site, &header),
    }
}

// Each proxy passes on the Host the browser sent (port included: the web
// container builds redirects from it), the client's address
// (X-Forwarded-For) and the scheme (X-Forwarded-Proto: https).

fn nginx(site: &Site, header: &str) -> String {
    let Site {
        host,
        port,
        upstream,
    } = site;
    // proxy_set_header in a location replaces the server's: the websocket
    // location repeats them.
    let forwarded = "proxy_set_header Host $http_host;\n        \
                     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        \
                     proxy_set_header X-Forwarded-Proto $scheme;";
    let mut s = format!(
        "# nginx: {header}\
         server {{\n    \
         # `http2` on the listen line works on nginx 1.22 (Debian 12) and later; 1.25.1 and later\n    \
         # prefer `http2 on;` (and warn).\n    \
         listen {port} ssl http2;\n    \
         listen [::]:{port} ssl http2;\n    \
         server_name {host};\n    \
         # ssl_certificate ...; ssl_certificate_key ...;\n\n    \
         # Every route: the Host as sent (port included), the client, the scheme.\n    \
         {server_forwarded}\n\n    \
         # XMPP over websocket, the site's and a tenant's (/TENANT/{WS_PATH}).\n    \
         location ~ ^/([^/]+/)?{WS_PATH}$ {{\n        \
         proxy_pass http://{upstream};\n        \
         proxy_http_version 1.1;\n        \
         proxy_set_header Upgrade $http_upgrade;\n        \
         proxy_set_header Connection \"upgrade\";\n        \
         {forwarded}\n        \
         proxy_read_timeout 900s;\n    \
         }}\n\n    \
         # BOSH (/http-bind, /TENANT/http-bind): the web container holds a poll up to a minute.\n    \
         location ~ ^/([^/]+/)?http-bind$ {{\n        \
         proxy_pass http://{upstream};\n        \
         proxy_read_timeout 90s;\n    \
         }}\n\n    \
         location / {{\n        \
         proxy_pass http://{upstream};\n    \
         }}\n\
         }}\n",
        server_forwarded = forwarded.replace("\n        ", "\n    "),
    );
    if *port == 443 {
        s.push_str(&format!(
            "\nserver {{\n    listen 80;\n    listen [::]:80;\n    server_name {host};\n    return 301 https://$host$request_uri;\n}}\n"
        ));
    }
    s
}

fn apache(site: &Site, header: &str) -> String {
    let Site {
        host,
        port,
        upstream,
    } = site;
    // Debian's ports.conf listens on 80, and on 443 with mod_ssl; another
    // port needs its own Listen (a second `Listen 443` would be refused).
    let listen = if *port == 443 {
        String::new()
    } else {
        format!("# Not in ports.conf (Debian's listens on 80 and 443):\nListen {port} https\n")
    };
    let mut s = format!(
        "# Apache 2.4 (a2enmod {APACHE_MODULES}):\n# {header}\
         {listen}\
         <VirtualHost *:{port}>\n    \
         ServerName {host}\n    \
         # Your certificate and key:\n    \
         SSLEngine on\n    \
         SSLCertificateFile /etc/ssl/certs/{host}.pem\n    \
         SSLCertificateKeyFile /etc/ssl/private/{host}.key\n\n    \
         # The Host as sent; X-Forwarded-For comes with mod_proxy_http.\n    \
         ProxyPreserveHost On\n    \
         RequestHeader set X-Forwarded-Proto \"https\"\n\n    \
         # XMPP over websocket, the site's and a tenant's (/TENANT/{WS_PATH}).\n    \
         RewriteEngine On\n    \
         RewriteCond %{{HTTP:Upgrade}} =websocket [NC]\n    \
         RewriteRule ^/((?:[^/]+/)?{WS_PATH})$ ws://{upstream}/$1 [P,L]\n\n    \
         # Everything else, BOSH (/http-bind) included.\n    \
         ProxyPass / http://{upstream}/\n    \
         ProxyPassReverse / http://{upstream}/\n\
         </VirtualHost>\n"
    );
    if *port == 443 {
        s.push_str(&format!(
            "\n<VirtualHost *:80>\n    ServerName {host}\n    Redirect permanent / https://{host}/\n</VirtualHost>\n"
        ));
    }
    s
}

fn haproxy(site: &Site, header: &str) -> String {
    let Site {
        host,
        port,
        upstream,
    } = site;
    let mut s = format!(
        "# HAProxy 2.x, after the global and defaults sections of haproxy.cfg (websocket\n\
         # upgrades pass through in HTTP mode); the certificate and its key in one PEM file.\n# {header}\
         frontend jitsi-https\n    \
         mode http\n    \
         bind :{port} ssl crt /etc/haproxy/certs/{host}.pem\n    \
         http-request set-header X-Forwarded-Proto https\n    \
         acl jitsi hdr(host) -i {host} {host}:{port}\n    \
         use_backend jitsi if jitsi\n\n\
         backend jitsi\n    \
         mode http\n    \
         option forwardfor\n    \
         # BOSH polls are held up to a minute (Debian's defaults say 50s); websockets stay open.\n    \
         timeout server 90s\n    \
         timeout tunnel 900s\n    \
         server web {upstream}\n"
    );
    // On 443, plain HTTP on 80 is redirected, as the nginx and Apache
    // snippets do.
    if *port == 443 {
        s.push_str(&format!(
            "\nfrontend jitsi-http\n    \
             mode http\n    \
             bind :80\n    \
             acl jitsi hdr(host) -i {host} {host}:80\n    \
             http-request redirect scheme https code 301 if jitsi\n"
        ));
    }
    s
}

fn caddy(site: &Site, header: &str) -> String {
    let Site {
        host,
        port,
        upstream,
    } = site;
    // Tabs: `caddy fmt`'s layout (Caddy warns about any other).
    format!(
        "# Caddy 2 (certificates are automatic; websockets need no extra settings):\n# {header}\
         {host}{site_port} {{\n\treverse_proxy {upstream}\n}}\n",
        site_port = if *port == 443 {
            String::new()
        } else {
            format!(":{port}")
        }
    )
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

    /// What tests/cli/proxy.rs cannot see by running the proxies: timeouts
    /// longer than its requests take.
    #[test]
    fn bosh_polls_outlast_the_web_containers_minute() {
        let haproxy = snippet(ProxyKind::Haproxy, &site(443));
        // Debian's haproxy.cfg defaults to `timeout server 50000` (50 s).
        assert!(haproxy.contains("\n    timeout server 90s\n"), "{haproxy}");
        let nginx = snippet(ProxyKind::Nginx, &site(443));
        let bosh = nginx
            .split("location ~ ^/([^/]+/)?http-bind$ {")
            .nth(1)
            .unwrap();
        let bosh = bosh.split('}').next().unwrap();
        assert!(bosh.contains("proxy_read_timeout 90s;"), "{bosh}");
    }
}
