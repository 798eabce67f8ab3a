//! `jitsi-stack proxy KIND`: the reverse-proxy snippet for running the stack
//! behind an existing proxy on the host, filled in from `.env`.

use crate::cli::{ProxyArgs, ProxyKind};
use crate::config::Stack;
use crate::schema::kind::url_host_port;
use crate::{Exit, UsageError};
use anyhow::Result;
use std::path::Path;

/// The paths that need websocket upgrade headers.
// The pinned bridges have no colibri websockets (SCTP only): XMPP is the
// one websocket to pass through.
const WS_PATHS: &[&str] = &["/xmpp-websocket"];

pub fn run(dir: &Path, args: ProxyArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let (host, _, _) = url_host_port(url)
        .ok_or_else(|| UsageError(format!("PUBLIC_URL {url:?} has no host; fix it in .env")))?;
    // The host name came through the schema's URL check: letters, digits,
    // dots and dashes only, so it is safe in every proxy syntax below.
    let port = stack.values.port("HTTP_PORT").unwrap_or(8000);
    let upstream = format!("127.0.0.1:{port}");
    print!("{}", snippet(args.kind, &host, &upstream));
    Ok(Exit::Ok)
}

/// The snippet text for one proxy.
pub fn snippet(kind: ProxyKind, host: &str, upstream: &str) -> String {
    match kind {
        ProxyKind::Nginx => {
            let mut s = format!(
                "# nginx: jitsi-stack behind a TLS-terminating proxy.\n\
                 # In .env set DISABLE_HTTPS=1 and ENABLE_HTTP_REDIRECT=0, then `jitsi-stack up`.\n\
                 server {{\n    listen 443 ssl http2;\n    server_name {host};\n    # ssl_certificate ...; ssl_certificate_key ...;\n\n"
            );
            for p in WS_PATHS {
                s.push_str(&format!(
                    "    location {p} {{\n        proxy_pass http://{upstream};\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";\n        proxy_set_header Host $host;\n        proxy_read_timeout 900s;\n    }}\n\n"
                ));
            }
            s.push_str(&format!(
                "    location /http-bind {{\n        proxy_pass http://{upstream};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $remote_addr;\n    }}\n\n    location / {{\n        proxy_pass http://{upstream};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_set_header X-Forwarded-Proto $scheme;\n    }}\n}}\n"
            ));
            s
        }
        ProxyKind::Apache => format!(
            "# Apache (mod_proxy, mod_proxy_http, mod_proxy_wstunnel, mod_rewrite, mod_headers).\n\
             # In .env set DISABLE_HTTPS=1 and ENABLE_HTTP_REDIRECT=0, then `jitsi-stack up`.\n\
             <VirtualHost *:443>\n    ServerName {host}\n    # SSLEngine on; SSLCertificateFile ...; SSLCertificateKeyFile ...\n    ProxyPreserveHost On\n    RequestHeader set X-Forwarded-Proto \"https\"\n\n    RewriteEngine On\n    RewriteCond %{{HTTP:Upgrade}} =websocket [NC]\n    RewriteRule ^/(xmpp-websocket)$ ws://{upstream}/$1 [P,L]\n\n    ProxyPass /http-bind http://{upstream}/http-bind\n    ProxyPassReverse /http-bind http://{upstream}/http-bind\n    ProxyPass / http://{upstream}/\n    ProxyPassReverse / http://{upstream}/\n</VirtualHost>\n"
        ),
        ProxyKind::Haproxy => format!(
            "# HAProxy: websocket upgrades pass through with plain HTTP mode.\n\
             # In .env set DISABLE_HTTPS=1 and ENABLE_HTTP_REDIRECT=0, then `jitsi-stack up`.\n\
             frontend https-in\n    mode http\n    bind :443 ssl crt /etc/haproxy/certs/{host}.pem\n    http-request set-header X-Forwarded-Proto https\n    acl jitsi hdr(host) -i {host}\n    use_backend jitsi if jitsi\n\n\
             backend jitsi\n    mode http\n    option forwardfor\n    timeout tunnel 900s\n    server web {upstream}\n"
        ),
        ProxyKind::Caddy => format!(
            "# Caddy (certificates are automatic; websockets need no extra settings).\n\
             # In .env set DISABLE_HTTPS=1 and ENABLE_HTTP_REDIRECT=0, then `jitsi-stack up`.\n\
             {host} {{\n    reverse_proxy /xmpp-websocket {upstream}\n    reverse_proxy /http-bind {upstream}\n    reverse_proxy {upstream}\n}}\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snippet_names_the_paths_and_upstream() {
        for kind in [
            ProxyKind::Nginx,
            ProxyKind::Apache,
            ProxyKind::Haproxy,
            ProxyKind::Caddy,
        ] {
            let s = snippet(kind, "meet.example.org", "127.0.0.1:8000");
            assert!(s.contains("meet.example.org"), "{kind:?}");
            assert!(s.contains("127.0.0.1:8000"), "{kind:?}");
            if kind != ProxyKind::Haproxy {
                assert!(
                    s.contains("xmpp-websocket") && s.contains("http-bind"),
                    "{kind:?}"
                );
            }
            assert!(
                !s.contains("colibri-ws"),
                "{kind:?}: no such route any more"
            );
        }
        let nginx = snippet(ProxyKind::Nginx, "meet.example.org", "127.0.0.1:8000");
        assert_eq!(
            nginx
                .matches("proxy_set_header Upgrade $http_upgrade;")
                .count(),
            1
        );
    }
}
