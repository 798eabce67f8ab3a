//! Rendering of each recorder's configuration (`jibri`, `jibri-2`, ...):
//! `jibri.conf` and `xmpp.conf` (HOCON, read by Typesafe Config),
//! `logging.properties` (java.util.logging) and `xorg-video-dummy.conf` (the
//! virtual X display Chrome runs on and ffmpeg records from).
//!
//! The pinned image's boot script (`/etc/s6-overlay/scripts/config`) runs
//! `tpl /defaults/X > /run/jibri/config/X` for these four files
//! (`/etc/jitsi/jibri` is a link to `/run/jibri/config`), after copying the
//! files of `/config` there; `jibri.conf` includes `xmpp.conf` and then the
//! user's `custom-jibri.conf`. The autoscaler sidecar's `config` (shell
//! `export` lines, rendered only when a key file exists in the container) is
//! left to the image.
//!
//! What the image derives at boot, and what is rendered instead:
//! - `JIBRI_INSTANCE_ID` (`jibri-$(date +%N)` when unset), the recorder's id
//!   and brewery nickname: what `stack::jibri_instances` gives the
//!   instance, else the Compose service name (`jibri`, `jibri-2`, ...):
//!   distinct per recorder and stable across restarts.
//! - `LOCAL_ADDRESS` and the sidecar's defaults only reach the sidecar's
//!   config, which the image still renders: nothing to derive here.
//!
//! Where this deliberately differs from the image's templates (which paste
//! values raw): every string is escaped; booleans are real booleans (the
//! image prints `single-use-mode = 1` for `JIBRI_SINGLE_USE_MODE=1`, which
//! jibri rejects); `JIBRI_USAGE_TIMEOUT` is printed as minutes (the image
//! prints a bare number, which Typesafe Config reads as milliseconds);
//! list entries are trimmed and empty ones dropped; the X display gets one
//! computed mode line for the recording resolution instead of a fixed table.

use crate::config::{Stack, Values};
use crate::render::{render_template, Output};
use crate::schema::kind::{self, Kind};
use crate::stack::JibriInstance;
use anyhow::{bail, Result};
use minijinja::{Environment, Value};
use serde::Serialize;

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[
    (
        "jibri/jibri.conf.j2",
        include_str!("../../../templates/jibri/jibri.conf.j2"),
    ),
    (
        "jibri/xmpp.conf.j2",
        include_str!("../../../templates/jibri/xmpp.conf.j2"),
    ),
    (
        "jibri/logging.properties.j2",
        include_str!("../../../templates/jibri/logging.properties.j2"),
    ),
    (
        "jibri/xorg-video-dummy.conf.j2",
        include_str!("../../../templates/jibri/xorg-video-dummy.conf.j2"),
    ),
];

// Chrome's flags are the model's: `check` reads them too.
pub use crate::stack::chrome::{chrome_flags, DEFAULT_CHROME_FLAGS, IGNORE_CERT_FLAG, NO_SANDBOX};

/// Where the image keeps jibri's logs (the boot script creates it; Xorg
/// logs there too). `/storage` is the recorder's own `CONFIG/storage/<name>`.
pub const LOGS_DIR: &str = "/storage/logs";

/// Everything one recorder's files say, decided here.
#[derive(Debug, Clone, Serialize)]
pub struct Jibri {
    /// `jibri.id`, also the brewery nickname.
    pub id: String,
    pub single_use: bool,
    pub external_api_port: u16,
    pub internal_api_port: u16,
    pub recordings_directory: String,
    pub finalize_script: Option<String>,
    /// Empty: no `webhook` block (jibri's default: none).
    pub webhook_subscribers: Vec<String>,
    pub ffmpeg: Ffmpeg,
    /// None: jibri's own default flags.
    pub chrome_flags: Vec<String>,
    /// None without `ENABLE_STATS_D` (jibri's default then applies).
    pub stats_d: Option<StatsD>,
    pub prometheus: bool,
    pub environments: Vec<XmppEnvironment>,
    pub xorg: Xorg,
    pub logs_dir: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ffmpeg {
    /// `WIDTHxHEIGHT`, checked.
    pub resolution: String,
    pub framerate: i64,
    pub queue_size: i64,
    pub streaming_max_bitrate: String,
    pub preset_streaming: String,
    pub preset_recording: String,
    pub crf: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsD {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
}

/// One entry of `jibri.api.xmpp.environments` (one per XMPP server).
#[derive(Debug, Clone, Serialize)]
pub struct XmppEnvironment {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub xmpp_domain: String,
    /// The address Chrome opens meetings under; None: jibri's default
    /// (`https://<xmpp-domain>`).
    pub base_url: Option<String>,
    pub brewery_domain: String,
    pub brewery_room: String,
    pub nickname: String,
    pub control_domain: String,
    pub control_user: String,
    pub control_password: String,
    pub call_domain: String,
    pub call_user: String,
    pub call_password: String,
    /// With its trailing `.`, as the image prints it.
    pub strip_from_room_domain: String,
    /// A Typesafe duration such as `0 minutes`.
    pub usage_timeout: String,
    pub trust_all_certs: bool,
}

/// The virtual display: one mode for the recording resolution.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Xorg {
    /// Normalised `HorizSync` / `VertRefresh` ranges (numbers only).
    pub horiz_sync: String,
    pub vert_refresh: String,
    pub video_ram_kb: u64,
    pub mode: Modeline,
}

/// An Xorg `Modeline` (CVT reduced blanking).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Modeline {
    /// `WIDTHxHEIGHT`, also the `Modes` entry.
    pub name: String,
    /// Pixel clock in MHz, two decimals.
    pub clock: String,
    pub h: [u32; 4],
    pub v: [u32; 4],
    /// Vertical refresh the mode was computed for (Hz).
    pub refresh: u32,
}

fn opt(v: &Values, name: &str) -> Option<String> {
    v.get(name).map(str::to_string)
}

fn int(v: &Values, name: &str, fallback: i64, min: i64, max: i64) -> Result<i64> {
    let n = match v.get(name) {
        None => fallback,
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={raw:?}: expected a whole number (jibri.conf)"))?,
    };
    if !(min..=max).contains(&n) {
        bail!("{name}={n}: expected a whole number from {min} to {max} (jibri.conf)");
    }
    Ok(n)
}

/// Comma-separated entries, trimmed, empty ones dropped.
fn entries(raw: Option<&str>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// `XMPP_SERVER` as the image reads it: comma-separated servers, each
/// optionally `host:port` (default `XMPP_PORT`). An IPv6 address is taken
/// whole (the image would split it at its first `:`); `[v6]:port` works.
pub fn xmpp_servers(v: &Values) -> Result<Vec<(String, u16)>> {
    let default_port = v.port_or("XMPP_PORT", 5222)?;
    let raw = v.get_or("XMPP_SERVER", "xmpp.meet.jitsi");
    let mut out = Vec::new();
    for entry in entries(Some(raw)) {
        let (h, p) = if entry.parse::<std::net::IpAddr>().is_ok() {
            (entry.clone(), None)
        } else if let Some(rest) = entry.strip_prefix('[') {
            match rest.split_once("]:") {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (rest.trim_end_matches(']').to_string(), None),
            }
        } else {
            match entry.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (entry.clone(), None),
            }
        };
        if Kind::Host.check(&h).is_err() {
            bail!("XMPP_SERVER: {entry:?} is not a host name or IP address (optionally host:port)");
        }
        let p = match p {
            None => default_port,
            Some(p) => kind::parse_port(&p).ok_or_else(|| {
                anyhow::anyhow!("XMPP_SERVER: {entry:?}: the part after : must be a port (1-65535)")
            })?,
        };
        out.push((h, p));
    }
    if out.is_empty() {
        bail!("XMPP_SERVER is empty: set it to prosody's host name, such as xmpp.meet.jitsi");
    }
    Ok(out)
}

/// `WIDTHxHEIGHT`, each a whole number the virtual display can hold.
pub fn resolution(raw: &str) -> Result<(u32, u32)> {
    let parsed = raw.split_once('x').and_then(|(w, h)| {
        let num = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        Some((num(w)?, num(h)?))
    });
    match parsed {
        Some((w, h)) if (160..=8192).contains(&w) && (120..=8192).contains(&h) => Ok((w, h)),
        _ => bail!(
            "JIBRI_RECORDING_RESOLUTION={raw:?}: expected WIDTHxHEIGHT such as 1280x720 or 1920x1080 \
             (each from 160x120 to 8192x8192); it sets both ffmpeg's capture size and the virtual display"
        ),
    }
}

/// An ffmpeg bit rate as `-maxrate` reads it: a number with an optional
/// `k`, `M` or `G` suffix.
pub fn bitrate(raw: &str) -> Result<String> {
    let digits = raw.strip_suffix(['k', 'K', 'M', 'G']).unwrap_or(raw);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        bail!(
            "JIBRI_RECORDING_STREAMING_MAX_BITRATE={raw:?}: expected a bit rate such as 2976k or 6M \
             (ffmpeg's -maxrate)"
        );
    }
    Ok(raw.to_string())
}

/// An Xorg `HorizSync` / `VertRefresh` value: comma-separated numbers or
/// `low - high` ranges. Returns the normalised text and the ranges. Units
/// and anything else are refused: the value is printed unquoted.
pub fn sync_ranges(var: &str, raw: &str) -> Result<(String, Vec<(f64, f64)>)> {
    let refuse = || {
        anyhow::anyhow!(
            "{var}={raw:?}: expected numbers or ranges such as \"5.0 - 1000.0\" or \"30-80, 100\" \
             (Xorg reads it unquoted; no units or other text)"
        )
    };
    let number = |s: &str| -> Option<(String, f64)> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && s.bytes().filter(|b| *b == b'.').count() <= 1
            && s.bytes().any(|b| b.is_ascii_digit());
        ok.then(|| s.parse::<f64>().ok().map(|n| (s.to_string(), n)))
            .flatten()
    };
    let mut text = Vec::new();
    let mut ranges = Vec::new();
    for part in raw.split(',') {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo_s, lo) = number(lo).ok_or_else(refuse)?;
                let (hi_s, hi) = number(hi).ok_or_else(refuse)?;
                if lo > hi {
                    return Err(refuse());
                }
                text.push(format!("{lo_s} - {hi_s}"));
                ranges.push((lo, hi));
            }
            None => {
                let (n_s, n) = number(part).ok_or_else(refuse)?;
                text.push(n_s);
                ranges.push((n, n));
            }
        }
    }
    Ok((text.join(", "), ranges))
}

/// Xorg accepts a mode within 1% of a monitor range (SYNC_TOLERANCE).
fn within(ranges: &[(f64, f64)], value: f64) -> bool {
    ranges
        .iter()
        .any(|(lo, hi)| value >= lo * 0.99 && value <= hi * 1.01)
}

/// VESA CVT reduced-blanking timings for `w`x`h` at `refresh` Hz, with the
/// exact width as the active area (so the mode name matches the capture
/// size even when it is not a multiple of 8).
pub fn cvt_reduced(w: u32, h: u32, refresh: u32) -> Modeline {
    const H_BLANK: u32 = 160;
    const H_FRONT: u32 = 48;
    const H_SYNC: u32 = 32;
    const MIN_V_BLANK_US: f64 = 460.0;
    const V_FRONT: u32 = 3;
    const MIN_V_BACK: u32 = 6;
    let v_sync = match (w, h) {
        _ if w * 3 == h * 4 => 4,
        _ if w * 9 == h * 16 => 5,
        _ if w * 10 == h * 16 => 6,
        _ if w * 4 == h * 5 || w * 9 == h * 15 => 7,
        _ => 10,
    };
    let h_period_est = (1_000_000.0 / f64::from(refresh) - MIN_V_BLANK_US) / f64::from(h);
    let vbi =
        ((MIN_V_BLANK_US / h_period_est).floor() as u32 + 1).max(V_FRONT + v_sync + MIN_V_BACK);
    let v_total = h + vbi;
    let h_total = w + H_BLANK;
    // Pixel clock from the estimated line period (as the `cvt` tool), in
    // 0.25 MHz steps, rounded down.
    let quarters = (f64::from(h_total) / h_period_est / 0.25).floor() as u64;
    Modeline {
        name: format!("{w}x{h}"),
        clock: format!("{}.{:02}", quarters / 4, (quarters % 4) * 25),
        h: [w, w + H_FRONT, w + H_FRONT + H_SYNC, h_total],
        v: [h, h + V_FRONT, h + V_FRONT + v_sync, v_total],
        refresh,
    }
}

impl Modeline {
    fn clock_hz(&self) -> f64 {
        self.clock.parse::<f64>().unwrap_or(0.0) * 1e6
    }
    /// Horizontal frequency in kHz.
    pub fn hsync_khz(&self) -> f64 {
        self.clock_hz() / f64::from(self.h[3]) / 1000.0
    }
    /// Actual vertical refresh in Hz.
    pub fn vrefresh_hz(&self) -> f64 {
        self.clock_hz() / (f64::from(self.h[3]) * f64::from(self.v[3]))
    }
}

/// Highest pixel clock used, so the mode stays within what the dummy video
/// driver accepts by default.
const MAX_CLOCK_MHZ: f64 = 300.0;

/// The virtual display for the recording resolution: the first of 60, 50,
/// 30, 25, 20, 15 and 10 Hz whose mode fits the monitor ranges and the
/// clock limit.
pub fn xorg(v: &Values, (w, h): (u32, u32)) -> Result<Xorg> {
    let (horiz_sync, hs) = sync_ranges(
        "JIBRI_XORG_HORIZ_SYNC",
        v.get_or("JIBRI_XORG_HORIZ_SYNC", "5.0 - 1000.0"),
    )?;
    let (vert_refresh, vr) = sync_ranges(
        "JIBRI_XORG_VERT_REFRESH",
        v.get_or("JIBRI_XORG_VERT_REFRESH", "5.0 - 200.0"),
    )?;
    let mode = [60, 50, 30, 25, 20, 15, 10]
        .into_iter()
        .map(|r| cvt_reduced(w, h, r))
        .find(|m| {
            m.clock_hz() <= MAX_CLOCK_MHZ * 1e6
                && within(&hs, m.hsync_khz())
                && within(&vr, m.vrefresh_hz())
        });
    let Some(mode) = mode else {
        bail!(
            "JIBRI_RECORDING_RESOLUTION={w}x{h} has no display mode at 10-60 Hz within \
             JIBRI_XORG_HORIZ_SYNC ({horiz_sync} kHz), JIBRI_XORG_VERT_REFRESH ({vert_refresh} Hz) \
             and a pixel clock of at most {MAX_CLOCK_MHZ} MHz; widen those ranges (the defaults \
             5.0 - 1000.0 and 5.0 - 200.0 fit every common resolution) or lower the resolution"
        );
    };
    // 32 bits per pixel; at least the image's 192000 kB.
    let needed = (u64::from(w) * u64::from(h) * 4).div_ceil(1024);
    Ok(Xorg {
        horiz_sync,
        vert_refresh,
        video_ram_kb: needed.max(192_000),
        mode,
    })
}

/// The webhook subscribers: `JIBRI_WEBHOOK_SUBSCRIBERS`, else, with
/// `AUTOSCALER_URL`, the sidecar's hook on `AUTOSCALER_SIDECAR_PORT` (the
/// image's boot-time default, which it applies only when the sidecar's key
/// file exists in the container; the host cannot see that, so it is
/// assumed: setting AUTOSCALER_URL means running the sidecar).
pub fn webhook_subscribers(v: &Values) -> Result<Vec<String>> {
    let listed = entries(v.raw("JIBRI_WEBHOOK_SUBSCRIBERS"));
    if !listed.is_empty() || v.raw("AUTOSCALER_URL").is_none() {
        return Ok(listed);
    }
    let p = v.port_or("AUTOSCALER_SIDECAR_PORT", 6000)?;
    Ok(vec![format!("http://localhost:{p}/hook")])
}

/// The prefix jibri strips from a room's MUC domain to build the meeting
/// URL: `JIBRI_STRIP_DOMAIN_JID`, else the first label of `XMPP_MUC_DOMAIN`
/// (the image's default), followed by a `.`.
pub fn strip_from_room_domain(v: &Values) -> String {
    let prefix = match v.raw("JIBRI_STRIP_DOMAIN_JID") {
        Some(p) => p.to_string(),
        None => v
            .get_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi")
            .split('.')
            .next()
            .unwrap_or("")
            .to_string(),
    };
    format!("{prefix}.")
}

/// Computes one recorder's files.
pub fn derive(stack: &Stack, r: &JibriInstance) -> Result<Jibri> {
    let v = &stack.values;
    // Upstream: FATAL ERROR: Jibri recorder password and auth password must be set.
    let (Some(control_password), Some(call_password)) = (
        v.raw("JIBRI_XMPP_PASSWORD").map(str::to_string),
        v.raw("JIBRI_RECORDER_PASSWORD").map(str::to_string),
    ) else {
        bail!(
            "JIBRI_XMPP_PASSWORD and JIBRI_RECORDER_PASSWORD must both be set in .env (the recorder's \
             control and meeting accounts): run `jitsi-stack gen-passwords`"
        );
    };
    let id = r.instance_id.clone();
    let res_raw = v.text("JIBRI_RECORDING_RESOLUTION", "1280x720");
    let res = resolution(&res_raw)?;
    let usage_minutes = int(v, "JIBRI_USAGE_TIMEOUT", 0, 0, i64::from(u32::MAX))?;
    // The image copies the old XMPP_RECORDER_DOMAIN into an unset
    // XMPP_HIDDEN_DOMAIN before its template applies hidden.meet.jitsi.
    let hidden_var =
        if v.raw("XMPP_HIDDEN_DOMAIN").is_none() && v.raw("XMPP_RECORDER_DOMAIN").is_some() {
            "XMPP_RECORDER_DOMAIN"
        } else {
            "XMPP_HIDDEN_DOMAIN"
        };
    let call_domain = v.host_or(hidden_var, "hidden.meet.jitsi")?;
    let control_user =
        crate::render::jvm::xmpp_name("JIBRI_XMPP_USER", v.get_or("JIBRI_XMPP_USER", "jibri"))?;
    let call_user = crate::render::jvm::xmpp_name(
        "JIBRI_RECORDER_USER",
        v.get_or("JIBRI_RECORDER_USER", "recorder"),
    )?;
    let brewery_room = crate::render::jvm::xmpp_name(
        "JIBRI_BREWERY_MUC",
        v.get_or("JIBRI_BREWERY_MUC", "jibribrewery"),
    )?;
    let xmpp_domain = v.host_or("XMPP_DOMAIN", "meet.jitsi")?;
    let brewery_domain = v.host_or("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")?;
    let control_domain = v.host_or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")?;
    v.host_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi")?;
    let environments = xmpp_servers(v)?
        .into_iter()
        .enumerate()
        .map(|(i, (host, port))| XmppEnvironment {
            // The image prints `<XMPP_ENV_NAME>-<index>`; the compose files
            // (upstream's and these) do not pass XMPP_ENV_NAME, so `-0`.
            name: format!("-{i}"),
            host,
            port,
            xmpp_domain: xmpp_domain.clone(),
            // Only when set in .env, as the image (`if .Env.PUBLIC_URL`).
            base_url: v.raw("PUBLIC_URL").map(str::to_string),
            brewery_domain: brewery_domain.clone(),
            brewery_room: brewery_room.clone(),
            nickname: id.clone(),
            control_domain: control_domain.clone(),
            control_user: control_user.clone(),
            control_password: control_password.clone(),
            call_domain: call_domain.clone(),
            call_user: call_user.clone(),
            call_password: call_password.clone(),
            strip_from_room_domain: strip_from_room_domain(v),
            usage_timeout: format!("{usage_minutes} minutes"),
            trust_all_certs: v.bool("XMPP_TRUST_ALL_CERTS"),
        })
        .collect();
    let preset = |name: &str, fallback: &str| -> Result<String> {
        let p = v.text(name, fallback);
        // The schema's enum is the one list of presets (`check` runs first).
        let ok = crate::schema::lookup(name).is_none_or(|var| var.kind.check(&p).is_ok());
        if !ok {
            bail!("{name}={p:?}: expected an x264 preset such as ultrafast, veryfast or medium");
        }
        Ok(p)
    };
    Ok(Jibri {
        single_use: v.bool("JIBRI_SINGLE_USE_MODE"),
        external_api_port: v.port_or("JIBRI_HTTP_API_EXTERNAL_PORT", 2222)?,
        internal_api_port: v.port_or("JIBRI_HTTP_API_INTERNAL_PORT", 3333)?,
        recordings_directory: v.text("JIBRI_RECORDING_DIR", "/storage/recordings"),
        finalize_script: opt(v, "JIBRI_FINALIZE_RECORDING_SCRIPT_PATH"),
        webhook_subscribers: webhook_subscribers(v)?,
        ffmpeg: Ffmpeg {
            resolution: format!("{}x{}", res.0, res.1),
            framerate: int(v, "JIBRI_RECORDING_FRAMERATE", 30, 1, 60)?,
            queue_size: int(
                v,
                "JIBRI_RECORDING_QUEUE_SIZE",
                4096,
                1,
                i64::from(i32::MAX),
            )?,
            streaming_max_bitrate: bitrate(
                v.get_or("JIBRI_RECORDING_STREAMING_MAX_BITRATE", "2976k"),
            )?,
            preset_streaming: preset("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_STREAMING", "veryfast")?,
            preset_recording: preset("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_RECORDING", "ultrafast")?,
            crf: int(v, "JIBRI_RECORDING_CONSTANT_RATE_FACTOR", 25, 0, 51)?,
        },
        chrome_flags: chrome_flags(v),
        stats_d: match v.raw("ENABLE_STATS_D") {
            None => None,
            Some(_) => Some(StatsD {
                enabled: v.bool("ENABLE_STATS_D"),
                host: v.host_or("JIBRI_STATSD_HOST", "localhost")?,
                port: v.port_or("JIBRI_STATSD_PORT", 8125)?,
            }),
        },
        prometheus: v.bool("JIBRI_ENABLE_PROMETHEUS"),
        environments,
        xorg: xorg(v, res)?,
        logs_dir: LOGS_DIR,
        id,
    })
}

/// Renders the files of `recorders` (the model's).
pub fn render(
    env: &Environment<'_>,
    stack: &Stack,
    recorders: &[JibriInstance],
    ctx: &Value,
    out: &mut Output,
) -> Result<()> {
    for r in recorders {
        let j = derive(stack, r)?;
        let ctx = minijinja::context! { jibri => Value::from_serialize(&j), ..ctx.clone() };
        let dir = format!("generated/{}", r.instance.name);
        for file in [
            "jibri.conf",
            "xmpp.conf",
            "logging.properties",
            "xorg-video-dummy.conf",
        ] {
            out.add(
                format!("{dir}/{file}"),
                render_template(env, &format!("jibri/{file}.j2"), &ctx)?,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvt_matches_the_cvt_tool() {
        // `cvt -r 1920 1080 60` and `cvt -r 1280 720 60` (xcvt 0.1.2).
        let m = cvt_reduced(1920, 1080, 60);
        assert_eq!(m.clock, "138.50");
        assert_eq!(m.h, [1920, 1968, 2000, 2080]);
        assert_eq!(m.v, [1080, 1083, 1088, 1111]);
        let m = cvt_reduced(1280, 720, 60);
        assert_eq!(m.clock, "63.75");
        assert_eq!(m.h, [1280, 1328, 1360, 1440]);
        assert_eq!(m.v, [720, 723, 728, 741]);
        // `cvt -r 1280 1024 60` (5:4).
        let m = cvt_reduced(1280, 1024, 60);
        assert_eq!(m.clock, "90.75");
        assert_eq!(m.v, [1024, 1027, 1034, 1054]);
        // `cvt -r 3840 2160 60`.
        assert_eq!(cvt_reduced(3840, 2160, 60).clock, "533.00");
    }

    #[test]
    fn display_mode_fits_the_ranges_and_clock() {
        let x = xorg(&Values::default(), (1280, 720)).unwrap();
        assert_eq!(x.mode.refresh, 60);
        assert_eq!(x.horiz_sync, "5.0 - 1000.0");
        assert_eq!(x.video_ram_kb, 192_000);
        // 4K at 60 Hz needs over 500 MHz: a lower refresh is chosen.
        let x = xorg(&Values::default(), (3840, 2160)).unwrap();
        assert!(x.mode.refresh < 60 && x.mode.clock_hz() <= 300e6, "{x:?}");
        // A fixed 60 Hz monitor (within Xorg's 1%) keeps 60 Hz.
        let v = Values::from_pairs([
            ("JIBRI_XORG_HORIZ_SYNC", "30.0-80.0"),
            ("JIBRI_XORG_VERT_REFRESH", "60.0"),
        ]);
        let x = xorg(&v, (1920, 1080)).unwrap();
        assert_eq!((x.mode.refresh, x.vert_refresh.as_str()), (60, "60.0"));
        // Nothing fits: refused, naming the variables.
        let v = Values::from_pairs([("JIBRI_XORG_VERT_REFRESH", "200-300")]);
        let err = xorg(&v, (1280, 720)).unwrap_err().to_string();
        assert!(err.contains("JIBRI_XORG_VERT_REFRESH"), "{err}");
    }

    #[test]
    fn sync_ranges_accept_numbers_only() {
        let (t, r) = sync_ranges("X", " 30 -80 ,100").unwrap();
        assert_eq!(t, "30 - 80, 100");
        assert_eq!(r, vec![(30.0, 80.0), (100.0, 100.0)]);
        for bad in [
            "",
            "30-",
            "80-30",
            "30 kHz",
            "5.0 - 1000.0\nEndSection",
            "1.2.3",
            "-5",
        ] {
            let err = sync_ranges("JIBRI_XORG_HORIZ_SYNC", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("JIBRI_XORG_HORIZ_SYNC"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn resolution_and_bitrate_are_checked() {
        assert_eq!(resolution("1920x1080").unwrap(), (1920, 1080));
        for bad in [
            "1920X1080",
            "1920x",
            "x1080",
            "-1x5",
            "1920x1080 ",
            "99999x1",
            "1e3x720",
        ] {
            assert!(resolution(bad).is_err(), "{bad}");
        }
        for ok in ["2976k", "6M", "1500", "2.5M"] {
            assert_eq!(bitrate(ok).unwrap(), ok);
        }
        for bad in ["", "k", "2976k -f null", "1.2.3k", "10kk"] {
            let err = bitrate(bad).unwrap_err().to_string();
            assert!(
                err.contains("JIBRI_RECORDING_STREAMING_MAX_BITRATE"),
                "{err}"
            );
        }
    }

    #[test]
    fn xmpp_servers_split_like_the_image_but_keep_ipv6_whole() {
        let v = Values::from_pairs([
            (
                "XMPP_SERVER",
                " a.example.org , b.example.org:5333,,2001:db8::1,[2001:db8::2]:6000",
            ),
            ("XMPP_PORT", "5223"),
        ]);
        assert_eq!(
            xmpp_servers(&v).unwrap(),
            vec![
                ("a.example.org".to_string(), 5223),
                ("b.example.org".to_string(), 5333),
                ("2001:db8::1".to_string(), 5223),
                ("2001:db8::2".to_string(), 6000),
            ]
        );
        assert_eq!(
            xmpp_servers(&Values::default()).unwrap(),
            vec![("xmpp.meet.jitsi".to_string(), 5222)]
        );
        for bad in ["a.example.org:0", "a b", "x:y", ","] {
            let v = Values::from_pairs([("XMPP_SERVER", bad)]);
            let err = xmpp_servers(&v).unwrap_err().to_string();
            assert!(err.contains("XMPP_SERVER"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn strip_prefix_follows_the_muc_domain_unless_set() {
        assert_eq!(strip_from_room_domain(&Values::default()), "muc.");
        let v = Values::from_pairs([("XMPP_MUC_DOMAIN", "conference.example.org")]);
        assert_eq!(strip_from_room_domain(&v), "conference.");
        let v = Values::from_pairs([
            ("XMPP_MUC_DOMAIN", "conference.example.org"),
            ("JIBRI_STRIP_DOMAIN_JID", "rooms"),
        ]);
        assert_eq!(strip_from_room_domain(&v), "rooms.");
    }

    #[test]
    fn webhooks_and_chrome_flags() {
        let v = Values::from_pairs([("JIBRI_WEBHOOK_SUBSCRIBERS", " https://a/x ,,https://b ")]);
        assert_eq!(
            webhook_subscribers(&v).unwrap(),
            ["https://a/x", "https://b"]
        );
        let v = Values::from_pairs([("AUTOSCALER_URL", "https://as.example.org")]);
        assert_eq!(
            webhook_subscribers(&v).unwrap(),
            ["http://localhost:6000/hook"]
        );
        assert!(webhook_subscribers(&Values::default()).unwrap().is_empty());

        // Every branch ends with --no-sandbox (no SYS_ADMIN in the container).
        let default = chrome_flags(&Values::default());
        assert_eq!(default, DEFAULT_CHROME_FLAGS);
        assert_eq!(default.last().unwrap(), "--no-sandbox");
        let v = Values::from_pairs([("IGNORE_CERTIFICATE_ERRORS", "true")]);
        let flags = chrome_flags(&v);
        assert_eq!(flags[..DEFAULT_CHROME_FLAGS.len()], *DEFAULT_CHROME_FLAGS);
        assert_eq!(flags.last().unwrap(), "--ignore-certificate-errors");
        let v = Values::from_pairs([
            ("IGNORE_CERTIFICATE_ERRORS", "true"),
            ("CHROMIUM_FLAGS", " --a ,, --b=c d "),
        ]);
        assert_eq!(chrome_flags(&v), ["--a", "--b=c d", "--no-sandbox"]);
        let v = Values::from_pairs([("CHROMIUM_FLAGS", " , ")]);
        assert_eq!(chrome_flags(&v), DEFAULT_CHROME_FLAGS);
    }

    #[test]
    fn jid_names_refuse_what_changes_an_address() {
        assert!(crate::render::jvm::xmpp_name("X", "recorder").is_ok());
        for bad in ["", "a@b", "a/b", "a b", "a\"b", "ü", "{{x}}"] {
            let err = crate::render::jvm::xmpp_name("JIBRI_XMPP_USER", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("JIBRI_XMPP_USER"), "{bad:?}: {err}");
        }
    }
}
