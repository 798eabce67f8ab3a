//! The services' states and waiting on them: what the model plans to run
//! (each service with its health check's start period), what Compose's
//! `ps` or the pods kubectl lists report, the verdict on each, the wait
//! `up` shows (one live line per service on a terminal, timestamped lines
//! otherwise), and what `up` prints once they are healthy or why not.
//! Shared by the compose and Kubernetes targets of `up` and by `user`.

use crate::config::{Component, Stack};
use crate::layout::IMAGE_UID;
use crate::stack::Model;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A service the stack runs, as the rendered compose files define it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    /// Its health check's start period: failures before it do not count.
    /// `None`: no health check, running is enough.
    pub start_period: Option<Duration>,
}

/// Which services, and which health: the one place `up` learns what the
/// stack runs, from the deployment model.
pub fn planned_services(model: &Model) -> Vec<Planned> {
    let mut planned: Vec<Planned> = model
        .services
        .iter()
        .map(|s| Planned {
            name: s.name.clone(),
            start_period: s
                .health
                .as_ref()
                .map(|h| Duration::from_secs(u64::from(h.start_period_s))),
        })
        .collect();
    planned.sort_by(|a, b| a.name.cmp(&b.name));
    planned
}

/// One container as `docker compose ps --format json` reports it.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ServiceState {
    pub service: String,
    pub state: String,
    pub health: String,
    /// The exit status of a stopped container (0 while it runs).
    pub exit_code: i64,
    /// Docker's own summary, such as `Restarting (1) 3 seconds ago`.
    pub status: String,
}

impl ServiceState {
    fn ready(&self) -> bool {
        self.state == "running" && (self.health.is_empty() || self.health == "healthy")
    }

    fn label(&self) -> String {
        if self.state == "pending" && !self.status.is_empty() {
            // A pod the scheduler has not placed yet, and why.
            format!("pending: {}", self.status)
        } else if self.health.is_empty() {
            self.state.clone()
        } else {
            format!("{} ({})", self.state, self.health)
        }
    }
}

/// Parses `ps --format json`: Compose prints a JSON array (older v2) or one
/// object per line (newer).
pub fn parse_ps(text: &str) -> Result<Vec<ServiceState>> {
    let t = text.trim();
    let values: Vec<serde_json::Value> = if t.starts_with('[') {
        serde_json::from_str(t).context("parsing `docker compose ps --format json`")?
    } else {
        t.lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .context("parsing `docker compose ps --format json`")?
    };
    let field = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    Ok(values
        .iter()
        .map(|v| ServiceState {
            service: field(v, "Service"),
            state: field(v, "State").to_ascii_lowercase(),
            health: field(v, "Health").to_ascii_lowercase(),
            exit_code: v.get("ExitCode").and_then(|x| x.as_i64()).unwrap_or(0),
            status: field(v, "Status"),
        })
        .collect())
}

/// The containers Compose reports, then every service of the model it does
/// not report (state `missing`: not created, or removed).
pub fn with_missing(mut states: Vec<ServiceState>, model: &Model) -> Vec<ServiceState> {
    for name in model.service_names() {
        if !states.iter().any(|s| s.service == name) {
            states.push(ServiceState {
                service: name,
                state: "missing".into(),
                ..ServiceState::default()
            });
        }
    }
    states
}

/// Where one service stands at one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    /// Still starting; what Docker says.
    Waiting(String),
    /// It will not become healthy by waiting; why.
    Failed(String),
}

/// Judges one service: an exited or dead container, one Docker is
/// restarting, or one unhealthy once its start period is over has failed.
pub fn verdict(plan: &Planned, state: Option<&ServiceState>, elapsed: Duration) -> Verdict {
    let Some(s) = state else {
        return Verdict::Waiting("not created yet".into());
    };
    match s.state.as_str() {
        "exited" | "dead" => {
            return Verdict::Failed(format!("exited with status {}", s.exit_code));
        }
        // A pod that cannot start (an image that cannot be pulled, a
        // missing Secret): Kubernetes says why.
        "error" => return Verdict::Failed(s.status.clone()),
        "restarting" => {
            return Verdict::Failed(format!(
                "is restarting in a loop (it keeps exiting{})",
                if s.exit_code != 0 {
                    format!(", last with status {}", s.exit_code)
                } else {
                    String::new()
                }
            ));
        }
        _ => {}
    }
    if s.health == "unhealthy" {
        let start = plan.start_period.unwrap_or_default();
        if elapsed >= start {
            return Verdict::Failed(format!(
                "is unhealthy after its start period ({} s)",
                start.as_secs()
            ));
        }
    }
    if s.ready() {
        Verdict::Ready
    } else {
        Verdict::Waiting(s.label())
    }
}

/// How waiting ended.
#[derive(Debug)]
pub enum Outcome {
    Healthy {
        after: Duration,
    },
    /// Services that failed, each with why.
    Failed(Vec<(String, String)>),
    /// Services still not ready at the deadline.
    TimedOut(Vec<String>),
}

/// Polls the states (`docker compose ps`, or the pods `kubectl` lists)
/// until every planned service is ready, one fails, or `limit` passes;
/// shows each service's state as it goes.
pub fn watch(
    mut poll: impl FnMut() -> Result<Vec<ServiceState>>,
    planned: &[Planned],
    limit: Duration,
) -> Result<Outcome> {
    let start = Instant::now();
    let mut view = View::new(planned);
    loop {
        let states = poll()?;
        let by_name: BTreeMap<&str, &ServiceState> =
            states.iter().map(|s| (s.service.as_str(), s)).collect();
        let elapsed = start.elapsed();
        let verdicts: Vec<(&Planned, Verdict)> = planned
            .iter()
            .map(|p| {
                (
                    p,
                    verdict(p, by_name.get(p.name.as_str()).copied(), elapsed),
                )
            })
            .collect();
        view.show(&verdicts, elapsed);
        let failed: Vec<(String, String)> = verdicts
            .iter()
            .filter_map(|(p, v)| match v {
                Verdict::Failed(why) => Some((p.name.clone(), why.clone())),
                _ => None,
            })
            .collect();
        if !failed.is_empty() {
            view.finish();
            return Ok(Outcome::Failed(failed));
        }
        let waiting: Vec<String> = verdicts
            .iter()
            .filter(|(_, v)| *v != Verdict::Ready)
            .map(|(p, _)| p.name.clone())
            .collect();
        if waiting.is_empty() {
            view.finish();
            return Ok(Outcome::Healthy { after: elapsed });
        }
        if start.elapsed() >= limit {
            view.finish();
            return Ok(Outcome::TimedOut(waiting));
        }
        std::thread::sleep(
            poll_interval()
                .min(limit.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(10)),
        );
    }
}

/// What `up` shows while waiting: on a terminal, one live line per service
/// (indicatif); otherwise a timestamped line whenever a service changes.
enum View {
    Live {
        _multi: indicatif::MultiProgress,
        bars: Vec<indicatif::ProgressBar>,
    },
    Plain {
        last: Vec<String>,
    },
}

impl View {
    fn new(planned: &[Planned]) -> View {
        if !std::io::stderr().is_terminal() {
            return View::Plain {
                last: vec![String::new(); planned.len()],
            };
        }
        let multi = indicatif::MultiProgress::with_draw_target(
            indicatif::ProgressDrawTarget::stderr_with_hz(10),
        );
        let width = planned.iter().map(|p| p.name.len()).max().unwrap_or(0);
        let style = indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix:<{width}}}  {{msg}}"
        ))
        .expect("a valid template")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
        let bars = planned
            .iter()
            .map(|p| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(p.name.clone());
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .collect();
        View::Live {
            _multi: multi,
            bars,
        }
    }

    fn show(&mut self, verdicts: &[(&Planned, Verdict)], elapsed: Duration) {
        let secs = elapsed.as_secs();
        match self {
            View::Live { bars, .. } => {
                for (bar, (_, v)) in bars.iter().zip(verdicts) {
                    let msg = match v {
                        Verdict::Ready => crate::color::ok(&format!("healthy, {secs} s")),
                        Verdict::Waiting(label) => format!("{label}, {secs} s"),
                        Verdict::Failed(why) => crate::color::fail(&format!("{why}, {secs} s")),
                    };
                    if *v == Verdict::Ready && !bar.is_finished() {
                        bar.finish_with_message(msg);
                    } else if !bar.is_finished() {
                        bar.set_message(msg);
                    }
                }
            }
            View::Plain { last } => {
                for (seen, (p, v)) in last.iter_mut().zip(verdicts) {
                    let label = match v {
                        Verdict::Ready => "healthy".to_string(),
                        Verdict::Waiting(l) => l.clone(),
                        Verdict::Failed(why) => why.clone(),
                    };
                    if *seen != label {
                        crate::errln!("{} {}: {label} ({secs} s)", utc_timestamp(), p.name);
                        *seen = label;
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        if let View::Live { bars, .. } = self {
            for bar in bars.iter().filter(|b| !b.is_finished()) {
                bar.abandon();
            }
        }
    }
}

/// The time now as `2025-06-01T12:00:03Z`.
fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

/// Seconds since 1970 as an RFC 3339 UTC time (civil-from-days, Howard Hinnant's algorithm).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Known causes, recognised in a service's log.
pub fn log_hints(log: &str, stack: &Stack) -> Vec<String> {
    let l = log.to_ascii_lowercase();
    let mut out = Vec::new();
    if l.contains("permission denied") && l.contains("/config") {
        out.push(format!(
            "the container (uid {IMAGE_UID}) may not write its directory under CONFIG: run `sudo chown -R {IMAGE_UID}:{IMAGE_UID} {}`",
            stack.config_dir().display()
        ));
    }
    if l.contains("address already in use") || l.contains("port is already allocated") {
        out.push(
            "a port it listens on is taken: `jitsi-stack doctor` names the port and `ss -lntup` what holds it; stop that, or change HTTP_PORT/HTTPS_PORT/JVB_PORT in .env"
                .into(),
        );
    }
    if l.contains("not-authorized")
        || l.contains("saslerror")
        || l.contains("sasl authentication failed")
        || l.contains("authentication failed")
    {
        out.push(
            "it could not log in to prosody: its password in .env is not the one prosody registered (a password edited in .env, or prosody's data from another stack); run `jitsi-stack up` again so Compose recreates both with the current .env, and keep each stack's CONFIG to itself"
                .into(),
        );
    }
    out
}

/// What runs, where, and what to do next.
pub fn summary(stack: &Stack, planned: &[Planned], after: Duration) {
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let names: Vec<&str> = planned.iter().map(|p| p.name.as_str()).collect();
    crate::outln!("\nJitsi Meet is up: {url}");
    crate::outln!(
        "running: {} ({} services, ready after {} s)",
        names.join(", "),
        names.len(),
        after.as_secs()
    );
    if stack.behind_proxy() {
        let port = stack.values.port("HTTP_PORT").unwrap_or(8000);
        crate::outln!(
            "behind a reverse proxy: it must forward {url} to http://127.0.0.1:{port} (`jitsi-stack proxy nginx|apache|haproxy|caddy`)"
        );
    }
    crate::outln!("next:");
    crate::outln!(
        "  {:<22} probe it as a browser would{}",
        stack.smoke_command(),
        if stack.self_signed() {
            " (the certificate is self-signed)"
        } else {
            ""
        }
    );
    crate::outln!("  jitsi-stack ports      what the firewall must let in");
    if stack.values.bool("ENABLE_AUTH")
        && stack.values.get_or("AUTH_TYPE", "internal") == "internal"
    {
        crate::outln!("  jitsi-stack user add NAME   create the accounts that may open meetings");
    }
    if stack.has(Component::Jibri) {
        crate::outln!(
            "  recordings land in {}/storage/jibri",
            stack.config_dir().display()
        );
    }
    crate::outln!("  jitsi-stack logs -f    follow the logs");
}

/// Two seconds; tests shorten it with JITSI_STACK_POLL_MS.
pub fn poll_interval() -> Duration {
    std::env::var("JITSI_STACK_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(st: &str, health: &str) -> ServiceState {
        ServiceState {
            service: "jvb".into(),
            state: st.into(),
            health: health.into(),
            exit_code: if st == "exited" { 137 } else { 0 },
            status: String::new(),
        }
    }

    #[test]
    fn verdicts() {
        let plan = Planned {
            name: "jvb".into(),
            start_period: Some(Duration::from_secs(60)),
        };
        let at = |secs| Duration::from_secs(secs);
        let v = |s: Option<&ServiceState>, t| verdict(&plan, s, at(t));
        assert_eq!(v(Some(&state("running", "healthy")), 1), Verdict::Ready);
        assert_eq!(
            v(Some(&state("running", "starting")), 1),
            Verdict::Waiting("running (starting)".into())
        );
        assert_eq!(v(None, 1), Verdict::Waiting("not created yet".into()));
        assert_eq!(
            v(Some(&state("exited", "")), 0),
            Verdict::Failed("exited with status 137".into())
        );
        assert!(
            matches!(v(Some(&state("restarting", "")), 0), Verdict::Failed(w) if w.contains("restarting in a loop"))
        );
        // Unhealthy inside the start period is still starting (Docker may
        // report a stale verdict); after it, a failure.
        assert!(matches!(
            v(Some(&state("running", "unhealthy")), 59),
            Verdict::Waiting(_)
        ));
        assert_eq!(
            v(Some(&state("running", "unhealthy")), 60),
            Verdict::Failed("is unhealthy after its start period (60 s)".into())
        );
        let no_check = Planned {
            name: "etherpad".into(),
            start_period: None,
        };
        assert_eq!(
            verdict(&no_check, Some(&state("running", "")), at(0)),
            Verdict::Ready
        );
    }

    #[test]
    fn utc_times() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_748_779_203), "2025-06-01T12:00:03Z");
    }

    #[test]
    fn planned_services_come_from_the_model() {
        let stack = Stack {
            dir: std::path::PathBuf::from("s"),
            env_path: std::path::PathBuf::from("s/.env"),
            file: crate::envfile::EnvFile::default(),
            values: crate::config::Values::from_pairs([("JVB_INSTANCES", "2")]),
            components: [Component::Etherpad].into_iter().collect(),
            branding_files: Default::default(),
        };
        let model = Model::build(&stack).unwrap();
        let p = planned_services(&model);
        let got: Vec<(&str, Option<u64>)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.start_period.map(|d| d.as_secs())))
            .collect();
        // Every service the model runs, with its health check's start period.
        assert_eq!(
            got,
            [
                ("etherpad", None),
                ("jicofo", Some(60)),
                ("jvb", Some(60)),
                ("jvb-2", Some(60)),
                ("prosody", Some(30)),
                ("web", Some(30)),
            ]
        );
    }

    #[test]
    fn hints_for_known_causes() {
        let stack = Stack {
            dir: std::path::PathBuf::from("s"),
            env_path: std::path::PathBuf::from("s/.env"),
            file: crate::envfile::EnvFile::default(),
            values: crate::config::Values::default(),
            components: Default::default(),
            branding_files: Default::default(),
        };
        let h = log_hints("chown: /config/x: Permission denied", &stack);
        assert!(
            h.len() == 1 && h[0].contains("sudo chown -R 1000:1000 s/config"),
            "{h:?}"
        );
        assert!(
            log_hints("listen tcp :8000: bind: address already in use", &stack)[0].contains("port")
        );
        assert!(
            log_hints("SASL authentication failed: not-authorized", &stack)[0].contains("password")
        );
        assert!(log_hints("all fine", &stack).is_empty());
    }

    #[test]
    fn ps_json_both_forms() {
        let lines = "{\"Service\":\"web\",\"State\":\"running\",\"Health\":\"healthy\"}\n{\"Service\":\"jvb\",\"State\":\"running\",\"Health\":\"starting\"}\n";
        let array = "[{\"Service\":\"web\",\"State\":\"running\",\"Health\":\"healthy\"},{\"Service\":\"jvb\",\"State\":\"running\",\"Health\":\"starting\"}]";
        let a = parse_ps(lines).unwrap();
        assert_eq!(a, parse_ps(array).unwrap());
        assert!(a[0].ready());
        assert!(!a[1].ready());
        assert!(parse_ps("").unwrap().is_empty());
    }
}
