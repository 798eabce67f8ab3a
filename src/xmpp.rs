//! A minimal XMPP client for the checks that span hosts: connect to a
//! prosody's client port, STARTTLS, complete the TLS handshake verifying
//! the certificate against a pinned CA only (never the system's CAs, never
//! "trust anything"), log in with real SASL (SCRAM-SHA-1, or PLAIN inside
//! the verified TLS session when the server offers nothing better), bind a
//! resource and optionally join a MUC room, as a bridge joins its brewery.
//!
//! It reads only what these steps need from the stream: one top-level
//! element at a time, bounded in size and time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// The largest element accepted from the server.
const MAX_ELEMENT: usize = 256 * 1024;
/// The most PBKDF2 iterations a server may ask for.
const MAX_ITERATIONS: u32 = 1_000_000;

/// What to log in to, and as whom.
#[derive(Clone, Debug)]
pub struct Login<'a> {
    /// The host to connect to (a name or an address).
    pub host: &'a str,
    pub port: u16,
    /// The XMPP domain: the stream's `to`, the account's domain and the
    /// name the certificate must be valid for.
    pub domain: &'a str,
    pub user: &'a str,
    pub password: &'a str,
    /// The CA certificate(s) the server's certificate must chain to (PEM).
    pub ca_pem: &'a str,
    pub timeout: Duration,
}

/// Which step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Resolve,
    Connect,
    Stream,
    StartTls,
    Tls,
    Auth,
    Bind,
    Muc,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Resolve => "resolve",
            Step::Connect => "connect",
            Step::Stream => "stream",
            Step::StartTls => "starttls",
            Step::Tls => "tls",
            Step::Auth => "auth",
            Step::Bind => "bind",
            Step::Muc => "muc",
        }
    }
}

/// A failed step and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub step: Step,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step.name(), self.message)
    }
}

impl std::error::Error for Error {}

fn err(step: Step, message: impl Into<String>) -> Error {
    Error {
        step,
        message: message.into(),
    }
}

fn tls_config(ca_pem: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(crate::tls::pinned_verifier(ca_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A logged-in session.
pub struct Session {
    tls: Tls,
    reader: Reader,
    /// The address connected to.
    pub peer: SocketAddr,
    /// The TLS version and cipher suite negotiated.
    pub tls_version: String,
    /// The SASL mechanism that logged in.
    pub mechanism: &'static str,
    /// The full JID bound.
    pub jid: String,
}

/// Buffered reading of top-level stream elements.
#[derive(Default)]
struct Reader {
    buf: Vec<u8>,
}

/// How an element ends in the buffer, if it does.
enum Scan {
    /// The stream's opening tag ends at this offset.
    Open(usize),
    /// A complete top-level element ends at this offset.
    Element(usize),
    /// `</stream:stream>`.
    Closed,
    Incomplete,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The end of the tag starting at `start` (`<`), quotes honoured.
fn tag_end(buf: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in buf.iter().enumerate().skip(start + 1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn scan(buf: &[u8], want_open: bool) -> Scan {
    let mut i = 0;
    let mut depth = 0usize;
    while i < buf.len() {
        if buf[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &buf[i..];
        if rest.starts_with(b"<?") {
            match find(buf, b"?>", i) {
                Some(e) => i = e + 2,
                None => return Scan::Incomplete,
            }
            continue;
        }
        if rest.starts_with(b"<!--") {
            match find(buf, b"-->", i) {
                Some(e) => i = e + 3,
                None => return Scan::Incomplete,
            }
            continue;
        }
        let Some(end) = tag_end(buf, i) else {
            return Scan::Incomplete;
        };
        if rest.starts_with(b"</") {
            if depth == 0 {
                return Scan::Closed;
            }
            depth -= 1;
            if depth == 0 {
                return Scan::Element(end + 1);
            }
        } else if buf[end - 1] == b'/' {
            if depth == 0 {
                return Scan::Element(end + 1);
            }
        } else if want_open && depth == 0 && rest.starts_with(b"<stream:stream") {
            return Scan::Open(end + 1);
        } else {
            depth += 1;
        }
        i = end + 1;
    }
    Scan::Incomplete
}

impl Reader {
    fn fill(&mut self, r: &mut impl Read, step: Step) -> Result<(), Error> {
        let mut chunk = [0u8; 8192];
        let n = r.read(&mut chunk).map_err(|e| io_error(step, &e))?;
        if n == 0 {
            return Err(err(step, "the server closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        if self.buf.len() > MAX_ELEMENT {
            return Err(err(step, "the server sent an element too large to be XMPP"));
        }
        Ok(())
    }

    /// The server's stream header.
    fn open(&mut self, r: &mut impl Read, step: Step) -> Result<String, Error> {
        loop {
            match scan(&self.buf, true) {
                Scan::Open(end) => return Ok(self.take(end)),
                Scan::Element(end) => {
                    let el = self.take(end);
                    return Err(err(
                        step,
                        format!("expected an XMPP stream, got {}", excerpt(&el)),
                    ));
                }
                Scan::Closed => return Err(err(step, "the server closed the stream")),
                Scan::Incomplete => self.fill(r, step)?,
            }
        }
    }

    /// The next top-level element.
    fn element(&mut self, r: &mut impl Read, step: Step) -> Result<String, Error> {
        loop {
            match scan(&self.buf, false) {
                Scan::Element(end) => {
                    let el = self.take(end);
                    if el.starts_with("<stream:error") {
                        return Err(err(step, format!("stream error: {}", excerpt(&el))));
                    }
                    return Ok(el);
                }
                Scan::Closed => return Err(err(step, "the server closed the stream")),
                Scan::Open(_) | Scan::Incomplete => self.fill(r, step)?,
            }
        }
    }

    fn take(&mut self, end: usize) -> String {
        let taken: Vec<u8> = self.buf.drain(..end).collect();
        String::from_utf8_lossy(&taken).trim().to_string()
    }
}

fn io_error(step: Step, e: &std::io::Error) -> Error {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return err(Step::Tls, tls_message(tls));
    }
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            err(step, "no answer in time")
        }
        _ => err(step, e.to_string()),
    }
}

fn tls_message(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(_) => format!(
            "{} (it must be issued by the pinned CA for the XMPP domain)",
            crate::tls::describe(e)
        ),
        other => crate::tls::describe(other),
    }
}

/// The start of an element, for messages.
fn excerpt(el: &str) -> String {
    let one: String = el.chars().take(160).collect();
    if one.len() < el.len() {
        format!("{one}...")
    } else {
        one
    }
}

/// The value of `name='...'` or `name="..."` in the first tag of `el`.
pub fn attr(el: &str, name: &str) -> Option<String> {
    let end = tag_end(el.as_bytes(), 0).unwrap_or(el.len());
    let tag = &el[..end];
    for q in ['\'', '"'] {
        let key = format!(" {name}={q}");
        if let Some(start) = tag.find(&key).map(|i| i + key.len()) {
            let stop = tag[start..].find(q)?;
            return Some(unescape(&tag[start..start + stop]));
        }
    }
    None
}

/// The text of every `<tag>...</tag>` inside `el`.
fn texts(el: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = vec![];
    let mut rest = el;
    while let Some(s) = rest.find(&open) {
        let after = &rest[s + open.len()..];
        let Some(e) = after.find(&close) else { break };
        out.push(unescape(after[..e].trim()));
        rest = &after[e + close.len()..];
    }
    out
}

/// The character data of an element such as `<challenge ...>DATA</challenge>`.
fn inner(el: &str) -> String {
    let start = tag_end(el.as_bytes(), 0).map(|e| e + 1).unwrap_or(0);
    let end = el.rfind("</").unwrap_or(el.len()).max(start);
    el[start..end].trim().to_string()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Escapes text for an attribute or element body.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn stream_header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{}' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        escape(domain)
    )
}

fn send(w: &mut impl Write, text: &str, step: Step) -> Result<(), Error> {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| io_error(step, &e))
}

/// Resolves `host:port` (an address is taken as it is).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| err(Step::Resolve, format!("{host} does not resolve: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(err(Step::Resolve, format!("{host} has no address")));
    }
    Ok(addrs)
}

/// Whether `host:port` accepts a TCP connection within `timeout` (the
/// address that answered); the connection is closed at once.
pub fn tcp_reachable(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, Error> {
    connect(host, port, timeout).map(|(_, a)| a)
}

/// The first of `host`'s addresses that accepts a TCP connection within
/// `timeout`, with the stream; else the last address's error.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<(TcpStream, SocketAddr), Error> {
    let mut last = None;
    for a in resolve(host, port)? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok((s, a)),
            Err(e) => last = Some(format!("{a}: {e}")),
        }
    }
    Err(err(
        Step::Connect,
        last.unwrap_or_else(|| "no address to connect to".into()),
    ))
}

/// Connects, secures the stream with the pinned CA, logs in and binds.
pub fn login(l: &Login<'_>) -> Result<Session, Error> {
    let config = tls_config(l.ca_pem).map_err(|e| err(Step::Tls, format!("{e:#}")))?;
    let (mut tcp, peer) = connect(l.host, l.port, l.timeout)?;
    for set in [TcpStream::set_read_timeout, TcpStream::set_write_timeout] {
        set(&tcp, Some(l.timeout)).map_err(|e| err(Step::Connect, e.to_string()))?;
    }

    // Plain stream: only STARTTLS happens before TLS.
    let mut reader = Reader::default();
    send(&mut tcp, &stream_header(l.domain), Step::Stream)?;
    reader.open(&mut tcp, Step::Stream)?;
    let features = reader.element(&mut tcp, Step::Stream)?;
    if !features.contains("urn:ietf:params:xml:ns:xmpp-tls") {
        return Err(err(
            Step::StartTls,
            "the server does not offer STARTTLS: it would take the password in the clear; refused",
        ));
    }
    send(
        &mut tcp,
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        Step::StartTls,
    )?;
    let answer = reader.element(&mut tcp, Step::StartTls)?;
    if !answer.starts_with("<proceed") {
        return Err(err(
            Step::StartTls,
            format!("the server refused STARTTLS: {}", excerpt(&answer)),
        ));
    }
    if !reader.buf.is_empty() {
        return Err(err(
            Step::StartTls,
            "the server sent data before the TLS handshake",
        ));
    }

    let name = rustls_pki_types::ServerName::try_from(l.domain.to_string())
        .map_err(|e| err(Step::Tls, format!("{}: {e}", l.domain)))?;
    let mut conn =
        rustls::ClientConnection::new(config, name).map_err(|e| err(Step::Tls, e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| io_error(Step::Tls, &e))?;
    }
    let tls_version = format!(
        "{:?} {:?}",
        conn.protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default(),
        conn.negotiated_cipher_suite()
            .map(|s| s.suite())
            .map(|s| format!("{s:?}"))
            .unwrap_or_default()
    )
    .replace('"', "");
    let mut tls = rustls::StreamOwned::new(conn, tcp);

    // Secured stream: SASL.
    send(&mut tls, &stream_header(l.domain), Step::Auth)?;
    reader.open(&mut tls, Step::Auth)?;
    let features = reader.element(&mut tls, Step::Auth)?;
    let mechanisms = texts(&features, "mechanism");
    let mechanism = if mechanisms.iter().any(|m| m == "SCRAM-SHA-1") {
        scram_sha1(&mut tls, &mut reader, l.user, l.password)?;
        "SCRAM-SHA-1"
    } else if mechanisms.iter().any(|m| m == "PLAIN") {
        plain(&mut tls, &mut reader, l.user, l.password)?;
        "PLAIN"
    } else {
        return Err(err(
            Step::Auth,
            format!(
                "the server offers no password login jitsi-stack speaks (SCRAM-SHA-1, PLAIN): {}",
                mechanisms.join(", ")
            ),
        ));
    };

    // Authenticated stream: bind a resource.
    send(&mut tls, &stream_header(l.domain), Step::Bind)?;
    reader.open(&mut tls, Step::Bind)?;
    reader.element(&mut tls, Step::Bind)?;
    send(
        &mut tls,
        "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>jitsi-stack</resource></bind></iq>",
        Step::Bind,
    )?;
    let jid = loop {
        let el = reader.element(&mut tls, Step::Bind)?;
        if el.starts_with("<iq") && attr(&el, "id").as_deref() == Some("bind1") {
            if attr(&el, "type").as_deref() != Some("result") {
                return Err(err(Step::Bind, format!("bind refused: {}", excerpt(&el))));
            }
            break texts(&el, "jid").into_iter().next().unwrap_or_default();
        }
    };
    Ok(Session {
        tls,
        reader,
        peer,
        tls_version,
        mechanism,
        jid,
    })
}

fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    ring::hmac::sign(&k, data).as_ref().to_vec()
}

/// The client's proof and the server signature it must send back, for a
/// SCRAM-SHA-1 exchange (RFC 5802).
fn scram_keys(
    password: &str,
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
) -> (Vec<u8>, Vec<u8>) {
    let mut salted = [0u8; 20];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA1,
        std::num::NonZeroU32::new(iterations).expect("checked non-zero"),
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let client_key = hmac(&salted, b"Client Key");
    let stored = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &client_key);
    let signature = hmac(stored.as_ref(), auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = hmac(&salted, b"Server Key");
    (proof, hmac(&server_key, auth_message.as_bytes()))
}

fn sasl_failure(el: &str) -> Error {
    let condition = [
        "not-authorized",
        "account-disabled",
        "credentials-expired",
        "malformed-request",
        "temporary-auth-failure",
        "invalid-mechanism",
        "aborted",
    ]
    .into_iter()
    .find(|c| el.contains(&format!("<{c}")))
    .unwrap_or("failure");
    let hint = if condition == "not-authorized" {
        ": wrong user name or password (is the node's account created on the main host? run `jitsi-stack up` there)"
    } else {
        ""
    };
    err(
        Step::Auth,
        format!("the server refused the login ({condition}){hint}"),
    )
}

fn scram_sha1(tls: &mut Tls, reader: &mut Reader, user: &str, password: &str) -> Result<(), Error> {
    let mut nonce = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let cnonce = B64.encode(nonce);
    let first_bare = format!("n={},r={cnonce}", sasl_name(user));
    send(
        tls,
        &format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{}</auth>",
            B64.encode(format!("n,,{first_bare}"))
        ),
        Step::Auth,
    )?;
    let el = reader.element(tls, Step::Auth)?;
    if !el.starts_with("<challenge") {
        return Err(sasl_failure(&el));
    }
    let server_first = B64
        .decode(inner(&el))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            err(
                Step::Auth,
                "the server's SCRAM challenge is not base64 text",
            )
        })?;
    let field = |k: &str| {
        server_first
            .split(',')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .map(String::from)
    };
    let (Some(snonce), Some(salt), Some(iter)) = (field("r"), field("s"), field("i")) else {
        return Err(err(
            Step::Auth,
            "the server's SCRAM challenge lacks r, s or i",
        ));
    };
    if !snonce.starts_with(&cnonce) || snonce.len() == cnonce.len() {
        return Err(err(
            Step::Auth,
            "the server's SCRAM nonce does not extend ours",
        ));
    }
    let salt = B64
        .decode(salt)
        .map_err(|_| err(Step::Auth, "the server's SCRAM salt is not base64"))?;
    let iterations = iter
        .parse::<u32>()
        .ok()
        .filter(|i| (1..=MAX_ITERATIONS).contains(i))
        .ok_or_else(|| {
            err(
                Step::Auth,
                "the server's SCRAM iteration count is out of range",
            )
        })?;
    let without_proof = format!("c={},r={snonce}", B64.encode("n,,"));
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let (proof, server_signature) = scram_keys(password, &salt, iterations, &auth_message);
    send(
        tls,
        &format!(
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
            B64.encode(format!("{without_proof},p={}", B64.encode(proof)))
        ),
        Step::Auth,
    )?;
    let el = reader.element(tls, Step::Auth)?;
    if !el.starts_with("<success") {
        return Err(sasl_failure(&el));
    }
    // The server proves it knows the password too.
    let last = B64
        .decode(inner(&el))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if last.strip_prefix("v=") != Some(B64.encode(server_signature).as_str()) {
        return Err(err(
            Step::Auth,
            "the server's SCRAM signature is wrong: it does not hold this account's key",
        ));
    }
    Ok(())
}

fn plain(tls: &mut Tls, reader: &mut Reader, user: &str, password: &str) -> Result<(), Error> {
    send(
        tls,
        &format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{}</auth>",
            B64.encode(format!("\0{user}\0{password}"))
        ),
        Step::Auth,
    )?;
    let el = reader.element(tls, Step::Auth)?;
    if el.starts_with("<success") {
        Ok(())
    } else {
        Err(sasl_failure(&el))
    }
}

impl Session {
    /// Joins `room` (a bare room JID) as `nick`, as a bridge joins its
    /// brewery; returns once the room has sent our own presence back.
    pub fn join(&mut self, room: &str, nick: &str) -> Result<(), Error> {
        let to = format!("{room}/{nick}");
        send(
            &mut self.tls,
            &format!(
                "<presence to='{}'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
                escape(&to)
            ),
            Step::Muc,
        )?;
        loop {
            let el = self.reader.element(&mut self.tls, Step::Muc)?;
            if !el.starts_with("<presence") || attr(&el, "from").as_deref() != Some(to.as_str()) {
                continue;
            }
            if attr(&el, "type").as_deref() == Some("error") {
                return Err(err(
                    Step::Muc,
                    format!("{room} refused us: {}", excerpt(&el)),
                ));
            }
            if el.contains("code='110'") || el.contains("code=\"110\"") {
                return Ok(());
            }
        }
    }

    /// Ends the stream politely.
    pub fn close(mut self) {
        let _ = send(&mut self.tls, "</stream:stream>", Step::Stream);
        self.tls.conn.send_close_notify();
        let _ = self.tls.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_sha1_matches_rfc_5802() {
        // The example exchange of RFC 5802, section 5.
        let first_bare = "n=user,r=fyko+d2lbbFgONRv9qkxdawL";
        let server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        let without_proof = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        let auth = format!("{first_bare},{server_first},{without_proof}");
        let salt = B64.decode("QSXCR+Q6sek8bf92").unwrap();
        let (proof, server) = scram_keys("pencil", &salt, 4096, &auth);
        assert_eq!(B64.encode(proof), "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
        assert_eq!(B64.encode(server), "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
        assert_eq!(B64.encode("n,,"), "biws");
    }

    #[test]
    fn elements_are_cut_at_their_end() {
        let s = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='a>b'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features><proceed/>";
        let mut r = Reader { buf: s.to_vec() };
        let mut empty: &[u8] = &[];
        let open = r.open(&mut empty, Step::Stream).unwrap();
        assert!(open.ends_with("id='a>b'>"), "{open}");
        let f = r.element(&mut empty, Step::Stream).unwrap();
        assert!(f.starts_with("<stream:features") && f.ends_with("</stream:features>"));
        assert_eq!(r.element(&mut empty, Step::Stream).unwrap(), "<proceed/>");
        assert!(r.element(&mut empty, Step::Stream).is_err());
        let mut r = Reader {
            buf: b"</stream:stream>".to_vec(),
        };
        let e = r.element(&mut empty, Step::Auth).unwrap_err();
        assert!(e.message.contains("closed"), "{e}");
    }

    #[test]
    fn attributes_texts_and_failures() {
        let el =
            "<iq type='result' id=\"bind1\"><bind><jid>node-b@auth.meet.jitsi/x</jid></bind></iq>";
        assert_eq!(attr(el, "type").as_deref(), Some("result"));
        assert_eq!(attr(el, "id").as_deref(), Some("bind1"));
        assert_eq!(texts(el, "jid"), ["node-b@auth.meet.jitsi/x"]);
        assert_eq!(inner("<challenge xmlns='x'>cj1h</challenge>"), "cj1h");
        let f = sasl_failure(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
        );
        assert_eq!(f.step, Step::Auth);
        assert!(f.message.contains("not-authorized") && f.message.contains("password"));
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
    }
}
