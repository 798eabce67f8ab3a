//! Value types of the schema and the check each applies to a raw `.env` value.

use serde::Serialize;
use std::net::IpAddr;

/// The type of a variable's value, as the images parse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Kind {
    /// `1`, `0`, `true` or `false`: the forms both the templates' `toBool`
    /// (Go `strconv.ParseBool` after dropping quotes; anything else aborts the
    /// boot) and the boot scripts' `== 1` / `== true` shell tests read alike.
    /// `TRUE` or `t` pass `toBool` but read as false in the scripts.
    Bool,
    /// `1` or `0` only: the boot script compares it numerically (`-eq 1`), so
    /// `true` there reads as false while the templates read it as true.
    Flag,
    /// A TCP/UDP port, 1-65535.
    Port,
    /// `MIN-MAX`, both ports, MIN <= MAX.
    PortRange,
    /// A whole number within bounds.
    Int { min: i64, max: i64 },
    /// A decimal number such as `0.1`.
    Decimal,
    /// An absolute `http(s)://` or `ws(s)://` URL.
    Url,
    /// The site's own address: an `http(s)://` URL of a host with an
    /// optional port and nothing after it (no path, query or fragment: the
    /// images serve Jitsi Meet at the root of the host).
    SiteUrl,
    /// A time zone name of the tz database, such as `Europe/Berlin`.
    TimeZone,
    /// A DNS host name or IP address.
    Host,
    /// Comma-separated host names or IP addresses (spaces around entries
    /// and empty entries are dropped, as when rendering).
    HostList,
    /// One IPv4 or IPv6 address.
    Ip,
    /// `user@domain`.
    Email,
    /// Comma-separated IPv4/IPv6 addresses, each optionally `#port`.
    IpList,
    /// One of a fixed set of words.
    Enum { values: &'static [&'static str] },
    /// Comma-separated words, each one of a fixed set.
    EnumList { values: &'static [&'static str] },
    /// Comma-separated words.
    List,
    /// An absolute path inside the container.
    Path,
    /// A Typesafe Config duration such as `90 seconds` or `24 hours`.
    Duration,
    /// A directory on the host (relative to the stack directory, absolute,
    /// or `~/...`) that Compose mounts: no `:` (the volume syntax's
    /// separator) and no control characters.
    HostDir,
    /// A Compose project name: lower-case letters, digits, `-` and `_`,
    /// starting with a letter or digit (Compose refuses anything else).
    ProjectName,
    /// An image registry and namespace such as `ghcr.io/jitsi`.
    ImageRepo,
    /// An image tag such as `stable-11146-2`.
    ImageTag,
    /// A Kubernetes name that must be a DNS-1123 label (a namespace): at
    /// most 63 of a-z, 0-9 and `-`, a letter or digit at each end.
    DnsLabel,
    /// A Kubernetes name that must be a DNS-1123 subdomain (an ingress
    /// class, a Secret, a storage class, a node): dot-separated labels, at
    /// most 253 characters.
    DnsSubdomain,
    /// Comma-separated Kubernetes node names (DNS-1123 subdomains), each
    /// optionally `=IP`: the address of that node.
    NodeList,
    /// A Kubernetes resource quantity such as `10Gi`, `500M` or `1.5Ti`.
    Quantity,
    /// Any single-line text.
    Text,
}

impl Kind {
    /// Checks `value` (never empty: empty means "unset") against this type.
    /// On failure returns what was expected, phrased for an error message.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let ok = match self {
            Kind::Bool => matches!(value, "1" | "0" | "true" | "false"),
            Kind::Flag => matches!(value, "1" | "0"),
            Kind::Port => parse_port(value).is_some(),
            Kind::PortRange => parse_port_range(value).is_some(),
            Kind::Int { min, max } => value
                .parse::<i64>()
                .is_ok_and(|n| (*min..=*max).contains(&n)),
            Kind::Decimal => value.parse::<f64>().is_ok_and(f64::is_finite),
            Kind::Url => is_url(value),
            Kind::SiteUrl => return check_site_url(value),
            Kind::TimeZone => return check_time_zone(value),
            Kind::Host => is_host(value),
            Kind::HostList => {
                let hosts: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .collect();
                !hosts.is_empty() && hosts.iter().all(|h| is_host(h))
            }
            Kind::Ip => value.parse::<IpAddr>().is_ok(),
            Kind::Email => is_email(value),
            Kind::IpList => return check_ip_list(value),
            Kind::Enum { values } => values.contains(&value),
            Kind::EnumList { values } => {
                let items = parse_js_list(value);
                !items.is_empty() && items.iter().all(|item| values.contains(&item.as_str()))
            }
            // Spaces around items and empty items are dropped when rendering.
            Kind::List => value
                .split(',')
                .all(|item| !item.trim().contains(char::is_whitespace)),
            Kind::Path => value.starts_with('/'),
            Kind::Duration => is_duration(value),
            Kind::HostDir => !value.chars().any(|c| c == ':' || c.is_control()),
            Kind::ProjectName => is_project_name(value),
            Kind::ImageRepo => is_image_repo(value),
            Kind::ImageTag => is_image_tag(value),
            Kind::DnsLabel => is_dns_label(value),
            Kind::DnsSubdomain => is_dns_subdomain(value),
            Kind::NodeList => {
                let items: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .collect();
                !items.is_empty()
                    && items.iter().all(|item| match item.split_once('=') {
                        Some((n, ip)) => is_dns_subdomain(n) && ip.parse::<IpAddr>().is_ok(),
                        None => is_dns_subdomain(item),
                    })
            }
            Kind::Quantity => parse_quantity(value).is_some(),
            Kind::Text => true,
        };
        if ok {
            Ok(())
        } else {
            Err(match self.suggest(value) {
                Some(s) => format!("{} (did you mean {s}?)", self.expected()),
                None => self.expected(),
            })
        }
    }

    /// The valid value closest to a mistyped one, for "did you mean" hints:
    /// for enumerations (each item of a list) and time zones. `None` when
    /// nothing is close or the kind has no list of values.
    pub fn suggest(&self, value: &str) -> Option<String> {
        match self {
            Kind::Enum { values } => {
                super::closest(value.trim(), values.iter().copied()).map(String::from)
            }
            Kind::EnumList { values } => {
                let items = parse_js_list(value);
                let fixed: Option<Vec<&str>> = items
                    .iter()
                    .map(|item| {
                        if values.contains(&item.as_str()) {
                            values.iter().copied().find(|v| v == item)
                        } else {
                            super::closest(item, values.iter().copied())
                        }
                    })
                    .collect();
                fixed.filter(|f| !f.is_empty()).map(|f| f.join(","))
            }
            Kind::TimeZone => super::closest(value, time_zones()).map(String::from),
            _ => None,
        }
    }

    /// What a value of this type looks like, for messages and the reference.
    pub fn expected(&self) -> String {
        match self {
            Kind::Bool => "a boolean: 1, 0, true or false (lower case)".into(),
            Kind::Flag => "1 or 0 (the boot script compares it as a number, so true would read as 0)".into(),
            Kind::Port => "a port number from 1 to 65535".into(),
            Kind::PortRange => "a port range MIN-MAX, such as 20000-20050".into(),
            Kind::Int { min, max } if *max == i64::MAX => format!("a whole number >= {min}"),
            Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Decimal => "a decimal number such as 0.5".into(),
            Kind::Url => "an absolute URL such as https://meet.example.org".into(),
            Kind::SiteUrl => {
                "the site's URL, such as https://meet.example.org or https://meet.example.org:8443 (no path, query or fragment)".into()
            }
            Kind::TimeZone => "a time zone name of the tz database, such as Europe/Berlin or UTC".into(),
            Kind::Host => {
                "a host name or IP address such as meet.example.org (letters, digits, - and dots; no _)".into()
            }
            Kind::HostList => {
                "one or more host names or IP addresses, comma-separated, such as turn1.example.org,turn2.example.org".into()
            }
            Kind::Ip => "an IPv4 or IPv6 address such as 198.51.100.10".into(),
            Kind::Email => "an e-mail address such as admin@example.org".into(),
            Kind::IpList => {
                "comma-separated IP addresses, each optionally with #port, such as 203.0.113.7 or 203.0.113.7#10000"
                    .into()
            }
            Kind::Enum { values } => format!("one of: {}", values.join(", ")),
            Kind::EnumList { values } => format!(
                "a comma-separated list of: {} (a JS array such as ['VP9','VP8'] is accepted too)",
                values.join(", ")
            ),
            Kind::List => "a comma-separated list without spaces inside items".into(),
            Kind::Path => "an absolute path starting with /".into(),
            Kind::Duration => {
                "a duration with a unit, such as 90 seconds, 5 minutes or 24 hours (a bare number means milliseconds)".into()
            }
            Kind::HostDir => {
                "a directory on the host, such as ./config or /srv/jitsi (no ':' or control characters: Compose's volume syntax splits on ':')".into()
            }
            Kind::ProjectName => {
                "a Compose project name: lower-case letters, digits, - and _, starting with a letter or digit".into()
            }
            Kind::ImageRepo => "an image registry and namespace such as ghcr.io/jitsi".into(),
            Kind::ImageTag => "an image tag such as stable-11146-2 (letters, digits, _ . -; at most 128)".into(),
            Kind::DnsLabel => {
                "a DNS-1123 label: at most 63 lower-case letters, digits and -, starting and ending with a letter or digit, such as jitsi".into()
            }
            Kind::DnsSubdomain => {
                "a DNS-1123 subdomain: lower-case letters, digits, - and dots, at most 253, such as nginx or jitsi-tls".into()
            }
            Kind::NodeList => {
                "comma-separated Kubernetes node names (DNS-1123 subdomains, lower case), each optionally =ADDRESS, such as node-a=203.0.113.10,node-b=203.0.113.11".into()
            }
            Kind::Quantity => {
                "a Kubernetes quantity: a number with an optional suffix Ki, Mi, Gi, Ti, k, M, G or T, such as 10Gi".into()
            }
            Kind::Text => "text".into(),
        }
    }

    /// A short name for the reference table.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Flag => "1/0 flag",
            Kind::Port => "port",
            Kind::PortRange => "port range",
            Kind::Int { .. } => "integer",
            Kind::Decimal => "decimal",
            Kind::Url => "URL",
            Kind::SiteUrl => "site URL",
            Kind::TimeZone => "time zone",
            Kind::Host => "host",
            Kind::HostList => "host list",
            Kind::Ip => "IP address",
            Kind::Email => "e-mail",
            Kind::IpList => "IP list",
            Kind::Enum { .. } => "enum",
            Kind::EnumList { .. } => "enum list",
            Kind::List => "list",
            Kind::Path => "path",
            Kind::Duration => "duration",
            Kind::HostDir => "host directory",
            Kind::ProjectName => "project name",
            Kind::ImageRepo => "image repository",
            Kind::ImageTag => "image tag",
            Kind::DnsLabel => "DNS-1123 label",
            Kind::DnsSubdomain => "DNS-1123 subdomain",
            Kind::NodeList => "node list",
            Kind::Quantity => "quantity",
            Kind::Text => "text",
        }
    }
}

/// A list the images paste as a JS array literal (`['VP9', 'VP8']`,
/// `["en"]`, `[AV1,VP9]`) or a plain comma list: brackets, quotes and
/// surrounding spaces removed, empty entries dropped.
pub fn parse_js_list(raw: &str) -> Vec<String> {
    let inner = raw.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(inner);
    inner
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').trim())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A lenient reading of a boolean (any case), for values already checked;
/// `None` when it is not one.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// A DNS-1123 label: at most 63 lower-case letters, digits and `-`,
/// starting and ending with a letter or digit (Kubernetes namespaces,
/// Service and pod names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A Kubernetes quantity in bytes (`10Gi`, `500M`, `1.5Ti`, `1e9`); `None`
/// when it is not one. Milli-units (`500m`) are not byte sizes and refused.
pub fn parse_quantity(value: &str) -> Option<u64> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, suffix) = value.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        s if s.starts_with(['e', 'E']) => 10f64.powi(
            s[1..]
                .parse::<i32>()
                .ok()
                .filter(|e| (0..=18).contains(e))?,
        ),
        _ => return None,
    };
    let bytes = n * factor;
    (1.0..1.8e19).contains(&bytes).then_some(bytes as u64)
}

pub fn parse_port(value: &str) -> Option<u16> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u16>().ok().filter(|p| *p > 0)
}

pub fn parse_port_range(value: &str) -> Option<(u16, u16)> {
    let (lo, hi) = value.split_once('-')?;
    let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
    (lo <= hi).then_some((lo, hi))
}

fn is_url(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https" | "ws" | "wss") {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || authority.starts_with('[') => {
            if !h.contains(':') || h.starts_with('[') {
                if parse_port(port).is_none() {
                    return false;
                }
                h
            } else {
                authority
            }
        }
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // Characters RFC 3986 never allows unencoded (a real URL percent-encodes
    // them). Braces stay allowed: Jitsi URL templates use `{room}`.
    let forbidden = |c: char| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '|')
    };
    !value.chars().any(forbidden) && (is_host(host) || host.parse::<IpAddr>().is_ok())
}

/// Host part of an absolute URL, with its explicit port if any.
pub fn url_host_port(value: &str) -> Option<(String, Option<u16>, String)> {
    let (scheme, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(stripped) = authority.strip_prefix('[') {
        let (host, after) = stripped.split_once(']')?;
        let port = after.strip_prefix(':').and_then(parse_port);
        return Some((host.to_string(), port, scheme.to_string()));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(parse_port(p)?), scheme.to_string())),
        None => Some((authority.to_string(), None, scheme.to_string())),
    }
}

fn is_host(value: &str) -> bool {
    if value.parse::<IpAddr>().is_ok() {
        return true;
    }
    !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                // RFC 952/1123 host names: no `_` (browsers and certificate
                // authorities refuse it; it is only valid in DNS service names).
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Why `host` cannot get a certificate from a public ACME CA such as
/// Let's Encrypt (which issues for public DNS names only), or `None`.
pub fn not_public_dns_name(host: &str) -> Option<&'static str> {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.parse::<IpAddr>().is_ok() {
        return Some(
            "it is an IP address, and Let's Encrypt issues certificates for DNS names only",
        );
    }
    if h == "localhost" || h.ends_with(".localhost") {
        return Some(
            "localhost is this machine's own name, which no certificate authority can verify",
        );
    }
    if !h.contains('.') {
        return Some("a single-label name (no dot) is not a public DNS name");
    }
    // Names reserved for private use (RFC 2606, 6761, 6762, 8375) or
    // common on LANs: none has a public suffix.
    const PRIVATE: &[&str] = &[
        "local",
        "test",
        "example",
        "invalid",
        "internal",
        "lan",
        "localdomain",
        "home.arpa",
    ];
    if PRIVATE
        .iter()
        .any(|t| h == *t || h.ends_with(&format!(".{t}")))
    {
        return Some(
            "it ends in a suffix reserved for private or example use, not a public DNS name",
        );
    }
    None
}

/// Every name TZ may take (zones and links of the tz database).
pub fn time_zones() -> impl Iterator<Item = &'static str> {
    include_str!("tz_names.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn check_time_zone(value: &str) -> Result<(), String> {
    if time_zones().any(|z| z == value) {
        return Ok(());
    }
    let hint = match Kind::TimeZone.suggest(value) {
        Some(z) => format!(" (did you mean {z}?)"),
        None => String::new(),
    };
    Err(format!("{}{hint}", Kind::TimeZone.expected()))
}

fn check_site_url(value: &str) -> Result<(), String> {
    let expected = Kind::SiteUrl.expected();
    if !is_url(value) {
        let host = url_host_port(value).map(|(h, _, _)| h).unwrap_or_default();
        if host.contains('_') {
            return Err(format!(
                "{expected}: {host:?} is not a host name (no _ allowed)"
            ));
        }
        return Err(expected);
    }
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    if !matches!(scheme, "http" | "https") {
        return Err(format!("{expected}: the scheme is {scheme}, not https"));
    }
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    if authority.contains('@') {
        return Err(format!("{expected}: it has a user name before @"));
    }
    if !tail.is_empty() && tail != "/" {
        return Err(format!(
            "{expected}: {tail:?} follows the host; Jitsi Meet is served at the root of its host"
        ));
    }
    Ok(())
}

fn is_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && domain.contains('.')
                && is_host(domain)
        }
        None => false,
    }
}

fn check_ip_list(value: &str) -> Result<(), String> {
    for entry in value.split(',') {
        if entry != entry.trim() {
            return Err(format!(
                "comma-separated IP addresses without spaces (entry {entry:?} has spaces around it)"
            ));
        }
        let (ip, port) = match entry.split_once('#') {
            Some((ip, port)) => (ip, Some(port)),
            None => (entry, None),
        };
        if ip.parse::<IpAddr>().is_err() {
            return Err(format!(
                "comma-separated IP addresses, each optionally with #port ({entry:?} is not an IPv4 or IPv6 address; a host name is not allowed here)"
            ));
        }
        if let Some(p) = port {
            if parse_port(p).is_none() {
                return Err(format!(
                    "comma-separated IP addresses, each optionally with #port ({entry:?} has a port that is not 1-65535)"
                ));
            }
        }
    }
    Ok(())
}

fn is_duration(value: &str) -> bool {
    let v = value.trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    if num.is_empty() || num.parse::<f64>().is_err() {
        return false;
    }
    matches!(
        unit.trim(),
        "ns" | "nano"
            | "nanos"
            | "nanosecond"
            | "nanoseconds"
            | "us"
            | "micro"
            | "micros"
            | "microsecond"
            | "microseconds"
            | "ms"
            | "milli"
            | "millis"
            | "millisecond"
            | "milliseconds"
            | "s"
            | "second"
            | "seconds"
            | "m"
            | "minute"
            | "minutes"
            | "h"
            | "hour"
            | "hours"
            | "d"
            | "day"
            | "days"
    )
}

/// Compose's rule for project names.
fn is_project_name(value: &str) -> bool {
    let mut chars = value.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A registry host (optionally with a port) and path components, as in an
/// image reference before `/<name>:<tag>`.
fn is_image_repo(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('/')
        && !value.ends_with('/')
        && value.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        })
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_image_tag(value: &str) -> bool {
    let mut chars = value.chars();
    value.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubernetes_names_and_quantities() {
        assert!(Kind::DnsLabel.check("meet-prod").is_ok());
        assert!(Kind::DnsLabel.check("Meet_Prod").is_err());
        assert!(Kind::DnsLabel.check(&"a".repeat(64)).is_err());
        assert!(Kind::DnsSubdomain.check("nginx.example").is_ok());
        assert!(Kind::NodeList.check("node-a, node-b").is_ok());
        assert!(Kind::NodeList.check("node-a=203.0.113.1,node-b").is_ok());
        assert!(Kind::NodeList.check("node-a=somewhere").is_err());
        assert!(Kind::NodeList.check("node-a,Node_B").is_err());
        assert_eq!(parse_quantity("10Gi"), Some(10 << 30));
        assert_eq!(parse_quantity("500M"), Some(500_000_000));
        assert_eq!(parse_quantity("1.5Ki"), Some(1536));
        assert_eq!(parse_quantity("1e3"), Some(1000));
        for bad in ["lots", "10GB", "500m", "-1Gi", ".5Gi", "1..2Gi", "0"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn host_lists() {
        for ok in [
            "turn.example.org",
            "a.example.org, b.example.org",
            "203.0.113.7,",
            "a.example.org,,b",
        ] {
            assert_eq!(Kind::HostList.check(ok), Ok(()), "{ok}");
        }
        for bad in [
            ",",
            "a.example.org,b_c.example.org",
            "a.example.org b.example.org",
        ] {
            assert!(Kind::HostList.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compose_names_and_image_references() {
        assert!(Kind::HostDir.check("./config").is_ok());
        assert!(Kind::HostDir.check("/srv/jitsi meet").is_ok());
        assert!(Kind::HostDir.check("/srv/a:b").is_err());
        assert!(Kind::HostDir.check("/srv/a\nb").is_err());
        assert!(Kind::ProjectName.check("meet_1-a").is_ok());
        for bad in ["Meet", "-meet", "me et", "meet.example"] {
            assert!(Kind::ProjectName.check(bad).is_err(), "{bad}");
        }
        assert!(Kind::ImageRepo.check("ghcr.io/jitsi").is_ok());
        assert!(Kind::ImageRepo
            .check("registry.example.org:5000/mirror/jitsi")
            .is_ok());
        for bad in ["ghcr.io/", "a b", "x/${Y}"] {
            assert!(Kind::ImageRepo.check(bad).is_err(), "{bad}");
        }
        assert!(Kind::ImageTag.check("stable-11146-2").is_ok());
        for bad in ["-x", "a:b", "a b", &"x".repeat(129)] {
            assert!(Kind::ImageTag.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans() {
        for v in ["1", "0", "true", "false"] {
            assert!(Kind::Bool.check(v).is_ok(), "{v}");
        }
        // TRUE and t pass Go's ParseBool but the shell tests read them as false.
        for v in ["yes", "on", "2", "tru", " 1", "TRUE", "False", "t"] {
            assert!(Kind::Bool.check(v).is_err(), "{v}");
        }
        assert!(Kind::Flag.check("1").is_ok());
        assert!(Kind::Flag.check("true").is_err());
    }

    #[test]
    fn ports_and_ranges() {
        assert!(Kind::Port.check("443").is_ok());
        assert!(Kind::Port.check("0").is_err());
        assert!(Kind::Port.check("65536").is_err());
        assert!(Kind::Port.check("+80").is_err());
        assert_eq!(parse_port_range("20000-20050"), Some((20000, 20050)));
        assert_eq!(parse_port_range("20050-20000"), None);
    }

    #[test]
    fn urls() {
        assert!(Kind::Url.check("https://meet.example.org").is_ok());
        assert!(Kind::Url.check("https://localhost:8443/").is_ok());
        assert!(Kind::Url.check("http://[::1]:8000").is_ok());
        assert!(Kind::Url.check("meet.example.org").is_err());
        assert!(Kind::Url.check("https://meet example.org").is_err());
        assert!(Kind::Url.check("https://a.example.org/\"x").is_err());
        assert!(Kind::Url.check("https://a.example.org/<x>").is_err());
        assert!(Kind::Url
            .check("https://a.example.org/login?room={room}")
            .is_ok());
        assert!(Kind::Url.check("https://host:99999").is_err());
        assert_eq!(
            url_host_port("https://meet.example.org:8443/x"),
            Some(("meet.example.org".into(), Some(8443), "https".into()))
        );
    }

    #[test]
    fn host_names_have_no_underscore() {
        assert!(Kind::Host.check("meet.example.org").is_ok());
        assert!(Kind::Host.check("meet-1.example.org").is_ok());
        assert!(Kind::Host.check("meet_school.example").is_err());
        assert!(Kind::Url.check("https://meet_school.example").is_err());
        assert!(Kind::SiteUrl.check("https://meet_school.example").is_err());
    }

    #[test]
    fn site_urls_are_a_host_and_a_port() {
        for ok in [
            "https://meet.example.org",
            "https://meet.example.org/",
            "https://meet.example.org:8443",
            "https://[2001:db8::1]:8443",
            "https://203.0.113.7",
        ] {
            assert!(Kind::SiteUrl.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://meet.example.org/jitsi",
            "https://meet.example.org/?x=1",
            "https://meet.example.org?x=1",
            "https://meet.example.org#a",
            "https://user@meet.example.org",
            "wss://meet.example.org",
            "meet.example.org",
        ] {
            assert!(Kind::SiteUrl.check(bad).is_err(), "{bad}");
        }
        let e = Kind::SiteUrl
            .check("https://meet.example.org/jitsi")
            .unwrap_err();
        assert!(e.contains("\"/jitsi\"") && e.contains("root"), "{e}");
    }

    #[test]
    fn public_dns_names() {
        assert_eq!(not_public_dns_name("meet.example.org"), None);
        assert_eq!(not_public_dns_name("meet.school.de"), None);
        for bad in [
            "localhost",
            "203.0.113.7",
            "[2001:db8::1]",
            "meet",
            "meet.local",
            "x.localhost",
            "a.example",
        ] {
            assert!(not_public_dns_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn time_zones_are_tz_database_names() {
        for ok in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+2",
        ] {
            assert!(Kind::TimeZone.check(ok).is_ok(), "{ok}");
        }
        let e = Kind::TimeZone.check("Europe/Berlinn").unwrap_err();
        assert!(e.contains("did you mean Europe/Berlin?"), "{e}");
        assert!(Kind::TimeZone.check("Mars/Olympus_Mons").is_err());
        assert!(Kind::TimeZone.check("europe/berlin").is_err());
        let names: Vec<&str> = time_zones().collect();
        assert!(names.len() > 500, "{}", names.len());
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }

    #[test]
    fn ip_lists() {
        assert!(Kind::IpList.check("203.0.113.7,2001:db8::1#10001").is_ok());
        let err = Kind::IpList.check("203.0.113.7, 10.0.0.1").unwrap_err();
        assert!(err.contains("spaces"), "{err}");
        assert!(Kind::IpList.check("meet.example.org").is_err());
        assert!(Kind::IpList.check("1.2.3.4#0").is_err());
    }

    #[test]
    fn enum_lists() {
        let k = Kind::EnumList {
            values: &["tcp", "udp"],
        };
        assert!(k.check("udp,tcp").is_ok());
        assert!(k.check("['udp', 'tcp' ]").is_ok());
        assert!(k.check("[\"udp\",\"tcp\"]").is_ok());
        assert!(k.check("[udp,sctp]").is_err());
        assert!(k.check("tcp").is_ok());
        assert!(k.check("udp, tcp").is_ok());
        assert!(k.check("sctp").is_err());
    }

    #[test]
    fn durations() {
        assert!(Kind::Duration.check("90 seconds").is_ok());
        assert!(Kind::Duration.check("24 hours").is_ok());
        assert!(Kind::Duration.check("5m").is_ok());
        assert!(Kind::Duration.check("soon").is_err());
        assert!(
            Kind::Duration.check("90").is_err(),
            "bare numbers are milliseconds"
        );
    }
}
