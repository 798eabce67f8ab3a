//! `up`, `down`, `status`, `logs`, `restart`, `pull` and `doctor` for the
//! Kubernetes target (`JITSI_STACK_TARGET=kubernetes`): the rendered
//! `kubernetes/` handed to `kubectl` through the process runner
//! ([`crate::docker::Kubectl`]), with the compose target's progress display
//! and early failure (the pods' states read as the containers' are).

use super::watch::{self, Outcome, ServiceState};
use crate::cli::{DownArgs, LogsArgs, RestartArgs, StatusArgs, Target, UpArgs};
use crate::commands::render::load_checked;
use crate::commands::report::{bad, ok, CheckResult, Status};
use crate::config::Stack;
use crate::docker::Kubectl;
use crate::render::kubernetes::{self as k8s, Secrets, Settings};
use crate::stack::Model;
use crate::{Exit, UsageError};
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// How many log lines of a failing service are shown.
const LOG_LINES: &str = "20";

/// Whether the stack's commands run on Kubernetes (JITSI_STACK_TARGET).
pub fn is_target(dir: &Path) -> Result<bool> {
    Ok(crate::commands::render::target(dir, None)? == Target::Kubernetes)
}

/// The stack, its cluster settings and kubectl bound to its `kubernetes/`.
fn load(dir: &Path) -> Result<(Stack, Settings, Kubectl)> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let settings = Settings::read(&stack, secrets_mode(&stack.dir))?;
    let kubectl = Kubectl::new(&stack.dir.join(k8s::DIR), &settings.namespace);
    Ok((stack, settings, kubectl))
}

/// The Secrets mode of the last render: external when it wrote the example
/// and no generated inputs.
fn secrets_mode(dir: &Path) -> Secrets {
    let root = dir.join(k8s::DIR);
    if root.join(k8s::EXTERNAL_EXAMPLE).is_file() && !root.join(k8s::SECRETS_DIR).exists() {
        Secrets::External
    } else {
        Secrets::Generated
    }
}

/// The selector of every pod of the stack (`PART_OF_LABEL=PART_OF`).
const ALL_PODS: &str = "app.kubernetes.io/part-of=jitsi";

fn pods_of(service: &str) -> String {
    format!("{}={service}", k8s::INSTANCE_LABEL)
}

/// `kubernetes/` must exist for kubectl to act on it.
fn rendered(kubectl: &Kubectl) -> Result<()> {
    if Path::new(&kubectl.kustomization)
        .join("kustomization.yaml")
        .is_file()
    {
        Ok(())
    } else {
        Err(UsageError(format!(
            "{} has no kustomization.yaml: run `jitsi-stack render --target kubernetes` (or `jitsi-stack up`) first",
            kubectl.kustomization
        ))
        .into())
    }
}

pub fn up(dir: &Path, args: UpArgs) -> Result<Exit> {
    // Rendered and applied under the lock, as compose's `up` (a dry run
    // changes nothing and takes none); `.env` checked first, its findings shown.
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::lock::acquire(dir, crate::lock::Wait::default())?)
    };
    let stack = load_checked(dir, &args.with)?;
    let (_, settings, kubectl) = load(dir)?;
    let ns_file = format!("{}/{}", kubectl.kustomization, k8s::NAMESPACE_FILE);
    let apply_ns = ["apply", "--server-side", "-f", ns_file.as_str()];
    let apply = [
        "apply",
        "--server-side",
        "-k",
        kubectl.kustomization.as_str(),
    ];
    if args.dry_run {
        let out = k8s::render(&stack, settings.secrets)?;
        crate::outln!(
            "dry run: would render {} files into {}/{} and run:",
            out.files.len(),
            stack.dir.display(),
            k8s::DIR
        );
        crate::outln!("  {}", kubectl.display(&apply_ns));
        crate::outln!("  {}", kubectl.display(&apply));
        if !args.no_wait {
            crate::outln!(
                "  {}  (until every pod is ready, at most {} s), then `kubectl rollout status` of each workload",
                kubectl.display(&pods_args(&settings.namespace)),
                args.timeout
            );
        }
        return Ok(Exit::Ok);
    }
    crate::commands::render::write_kubernetes(&stack, settings.secrets)?;
    kubectl.run(&apply_ns)?;
    kubectl.run(&apply)?;
    let model = Model::build(&k8s::cluster_stack(&stack, &settings)?)?;
    let planned = watch::planned_services(&model);
    if args.no_wait {
        crate::outln!(
            "applied; not waiting for the pods (--no-wait). `jitsi-stack status` shows progress."
        );
        return Ok(Exit::Ok);
    }
    let limit = Duration::from_secs(args.timeout);
    let start = Instant::now();
    let ns = settings.namespace.clone();
    let outcome = watch::watch(
        || parse_pods(&kubectl.output(&pods_args(&ns))?),
        &planned,
        limit,
    )?;
    match outcome {
        Outcome::Healthy { after } => {
            // Every pod is ready; the rollouts must have finished too (a
            // ready pod may still be the previous revision's).
            let left = limit.saturating_sub(start.elapsed()).as_secs().max(1);
            let timeout = format!("--timeout={left}s");
            for s in &model.services {
                let w = k8s::workload(s);
                kubectl.run(&["rollout", "status", "-n", &ns, &w, &timeout])?;
            }
            watch::summary(&stack, &planned, after);
            Ok(Exit::Ok)
        }
        Outcome::Failed(failed) => {
            crate::errln!();
            for (name, why) in &failed {
                crate::errln!("{} {name} {why}", crate::color::fail("error:"));
            }
            show_logs(&kubectl, &stack, failed.iter().map(|(n, _)| n.as_str()));
            crate::errln!("fix the cause above, then run `jitsi-stack up` again (`jitsi-stack doctor` checks kubectl and the cluster)");
            Ok(Exit::Invalid)
        }
        Outcome::TimedOut(waiting) => {
            crate::errln!(
                "\n{} not ready after {} s: {}",
                crate::color::fail("error:"),
                args.timeout,
                waiting.join(", ")
            );
            show_logs(&kubectl, &stack, waiting.iter().map(String::as_str));
            crate::errln!("fix: `kubectl -n {ns} describe pods`, then `jitsi-stack logs SERVICE`; `jitsi-stack up --timeout N` to wait longer");
            Ok(Exit::Invalid)
        }
    }
}

/// `kubectl get pods` of the stack's pods, as JSON.
fn pods_args(namespace: &str) -> Vec<&str> {
    vec!["get", "pods", "-n", namespace, "-l", ALL_PODS, "-o", "json"]
}

fn show_logs<'a>(kubectl: &Kubectl, stack: &Stack, services: impl Iterator<Item = &'a str>) {
    for svc in services {
        crate::errln!("--- last log lines of {svc}:");
        let sel = pods_of(svc);
        match kubectl.output(&[
            "logs",
            "-n",
            &kubectl.namespace,
            "-l",
            &sel,
            "--all-containers",
            "--tail",
            LOG_LINES,
        ]) {
            Ok(text) => {
                crate::err!("{text}");
                if !text.ends_with('\n') && !text.is_empty() {
                    crate::errln!();
                }
                for hint in watch::log_hints(&text, stack) {
                    crate::errln!("{} {hint}", crate::color::hint("hint:"));
                }
            }
            Err(e) => crate::errln!("(could not read logs: {e})"),
        }
    }
}

/// How bad a pod's state is, to report the worst pod of a service.
fn severity(s: &ServiceState) -> u8 {
    match s.state.as_str() {
        "error" | "restarting" | "exited" | "dead" => 3,
        "running" if s.health == "healthy" => 0,
        _ => 1,
    }
}

/// The pods `kubectl get pods -o json` lists, as the states compose's `ps`
/// gives: one per service (its worst pod), named by the pod's instance label.
pub fn parse_pods(text: &str) -> Result<Vec<ServiceState>> {
    let doc: Value = serde_json::from_str(text).context("parsing `kubectl get pods -o json`")?;
    let mut out: Vec<ServiceState> = Vec::new();
    for pod in doc["items"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let Some(service) = pod["metadata"]["labels"][k8s::INSTANCE_LABEL].as_str() else {
            continue;
        };
        let s = pod_state(service, pod);
        match out.iter_mut().find(|o| o.service == service) {
            Some(o) if severity(&s) > severity(o) => *o = s,
            Some(_) => {}
            None => out.push(s),
        }
    }
    Ok(out)
}

fn pod_state(service: &str, pod: &Value) -> ServiceState {
    let mut s = ServiceState {
        service: service.to_string(),
        ..ServiceState::default()
    };
    let status = &pod["status"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        s.state = "terminating".into();
        return s;
    }
    let Some(c) = status["containerStatuses"]
        .as_array()
        .and_then(|a| a.first())
    else {
        s.state = match text(&status["phase"]).as_str() {
            "Failed" => "exited",
            _ => "pending",
        }
        .into();
        // Why the scheduler has not placed it (no node with the port,
        // an unbound claim, ...).
        if let Some(cond) = status["conditions"].as_array().and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
        }) {
            s.status = text(&cond["message"]);
        }
        return s;
    };
    let state = &c["state"];
    if let Some(w) = state["waiting"].as_object() {
        let reason = w.get("reason").and_then(Value::as_str).unwrap_or("");
        let message = w.get("message").and_then(Value::as_str).unwrap_or("");
        match reason {
            "CrashLoopBackOff" => {
                s.state = "restarting".into();
                s.exit_code = c["lastState"]["terminated"]["exitCode"]
                    .as_i64()
                    .unwrap_or(0);
            }
            "ErrImagePull"
            | "ImagePullBackOff"
            | "InvalidImageName"
            | "CreateContainerConfigError"
            | "CreateContainerError"
            | "RunContainerError" => {
                s.state = "error".into();
                s.status = if message.is_empty() {
                    format!("cannot start: {reason}")
                } else {
                    format!("cannot start: {reason}: {message}")
                };
            }
            _ => s.state = "created".into(),
        }
        if s.status.is_empty() {
            s.status = reason.to_string();
        }
    } else if let Some(t) = state["terminated"].as_object() {
        s.state = "exited".into();
        s.exit_code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
    } else if state["running"].is_object() {
        s.state = "running".into();
        s.health = if c["ready"] == true {
            "healthy"
        } else {
            "starting"
        }
        .into();
    } else {
        s.state = "created".into();
    }
    s
}

pub fn down(dir: &Path, args: DownArgs) -> Result<Exit> {
    let (_, settings, kubectl) = load(dir)?;
    if args.volumes {
        return Err(UsageError(format!(
            "--volumes: on Kubernetes the stack's data are its claims (prosody's accounts, the recordings), which `down` keeps as compose's keeps CONFIG; delete them yourself with `kubectl -n {} delete pvc --all` (or the namespace with `kubectl delete namespace {}`)",
            settings.namespace, settings.namespace
        ))
        .into());
    }
    rendered(&kubectl)?;
    kubectl.run(&[
        "delete",
        "-k",
        &kubectl.kustomization,
        "--ignore-not-found=true",
    ])?;
    Ok(Exit::Ok)
}

pub fn status(dir: &Path, args: StatusArgs) -> Result<Exit> {
    let (stack, settings, kubectl) = load(dir)?;
    let ns = settings.namespace.as_str();
    if args.json {
        let states = parse_pods(&kubectl.output(&pods_args(ns))?)?;
        let model = Model::build(&k8s::cluster_stack(&stack, &settings)?)?;
        let states = watch::with_missing(states, &model);
        let doc = serde_json::json!({
            "format_version": crate::commands::JSON_FORMAT_VERSION,
            "services": states,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        kubectl.run(&["get", "pods", "-n", ns, "-l", ALL_PODS, "-o", "wide"])?;
    }
    Ok(Exit::Ok)
}

/// A service of the stack, or a usage error naming them.
fn known_service(stack: &Stack, settings: &Settings, name: &str) -> Result<()> {
    let model = Model::build(&k8s::cluster_stack(stack, settings)?)?;
    let names = model.service_names();
    if names.iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(UsageError(format!(
            "no service {name:?} in this stack; its services: {}",
            names.join(", ")
        ))
        .into())
    }
}

pub fn logs(dir: &Path, args: LogsArgs) -> Result<Exit> {
    let (stack, settings, kubectl) = load(dir)?;
    let sel = match &args.service {
        Some(s) => {
            known_service(&stack, &settings, s)?;
            pods_of(s)
        }
        None => ALL_PODS.to_string(),
    };
    // kubectl's default with a selector is the last 10 lines; compose's
    // is everything.
    let tail = args.tail.map_or("-1".to_string(), |n| n.to_string());
    let mut a = vec![
        "logs",
        "-n",
        &settings.namespace,
        "-l",
        &sel,
        "--all-containers",
        "--prefix",
        "--max-log-requests=50",
        "--tail",
        &tail,
    ];
    if args.follow {
        a.push("--follow");
    }
    kubectl.run(&a)?;
    Ok(Exit::Ok)
}

pub fn restart(dir: &Path, args: RestartArgs) -> Result<Exit> {
    let (stack, settings, kubectl) = load(dir)?;
    let model = Model::build(&k8s::cluster_stack(&stack, &settings)?)?;
    if let Some(s) = &args.service {
        known_service(&stack, &settings, s)?;
    }
    let workloads: Vec<String> = model
        .services
        .iter()
        .filter(|s| args.service.as_ref().is_none_or(|n| *n == s.name))
        .map(k8s::workload)
        .collect();
    let mut a = vec!["rollout", "restart", "-n", settings.namespace.as_str()];
    a.extend(workloads.iter().map(String::as_str));
    kubectl.run(&a)?;
    Ok(Exit::Ok)
}

/// Nothing to do, and not a failure: `upgrade` pulls before its `up`.
pub fn pull(_dir: &Path) -> Result<Exit> {
    crate::outln!(
        "on Kubernetes each node pulls the pinned images when a pod starts there: nothing to pull from this host (`jitsi-stack up` applies and waits)"
    );
    Ok(Exit::Ok)
}

/// `doctor` for the Kubernetes target: kubectl, its context, the cluster's
/// version and DNS address, the `.env` mode and the site's DNS.
pub fn doctor(stack: &Stack) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let settings = match Settings::read(stack, Secrets::Generated) {
        Ok(s) => s,
        Err(e) => {
            return vec![bad(
                Status::Fail,
                "env",
                format!("{e:#}"),
                "fix .env (`jitsi-stack check` shows how)",
            )]
        }
    };
    let kubectl = Kubectl::new(&stack.dir.join(k8s::DIR), &settings.namespace);
    out.extend(cluster_findings(&kubectl, &settings));
    out.extend(super::site_checks::env_mode_check(stack));
    out.push(super::site_checks::dns_check(stack));
    out
}

fn first_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string()
}

fn cluster_findings(kubectl: &Kubectl, settings: &Settings) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let context = match kubectl.probe(&["config", "current-context"]) {
        Err(e) => {
            out.push(bad(
                Status::Fail,
                "kubectl",
                format!("kubectl cannot be run: {e}"),
                crate::docker::KUBECTL_INSTALL,
            ));
            return out;
        }
        Ok(o) if !o.status.success() => {
            out.push(bad(
                Status::Fail,
                "kubectl-context",
                format!("kubectl has no current context ({})", first_line(&o)),
                "choose the cluster: `kubectl config get-contexts`, then `kubectl config use-context NAME`",
            ));
            return out;
        }
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
    };
    out.push(ok("kubectl-context", format!("kubectl context: {context}")));
    let version = match kubectl.probe(&["version", "-o", "json"]) {
        Ok(o) if o.status.success() => serde_json::from_slice::<Value>(&o.stdout).ok(),
        Ok(o) => {
            out.push(bad(
                Status::Fail,
                "cluster",
                format!(
                    "the cluster of context {context} does not answer: {}",
                    first_line(&o)
                ),
                "check the context's server and credentials (`kubectl cluster-info`), or choose another context",
            ));
            return out;
        }
        Err(e) => {
            out.push(bad(
                Status::Fail,
                "cluster",
                format!("the cluster of context {context} does not answer: {e}"),
                "check the context's server and credentials (`kubectl cluster-info`)",
            ));
            return out;
        }
    };
    let server = version.as_ref().map(|v| &v["serverVersion"]);
    let parsed = server.and_then(|s| {
        let num = |k: &str| {
            s[k].as_str()
                .map(|x| x.trim_end_matches('+'))
                .and_then(|x| x.parse::<u32>().ok())
        };
        Some((
            num("major")?,
            num("minor")?,
            s["gitVersion"].as_str().unwrap_or(""),
        ))
    });
    let ((omaj, omin), (nmaj, nmin)) = k8s::VALIDATED_VERSIONS;
    match parsed {
        None => out.push(bad(
            Status::Fail,
            "cluster-version",
            format!("the cluster of context {context} reported no server version"),
            "check `kubectl version`",
        )),
        Some((maj, min, git)) if (maj, min) < (omaj, omin) || (maj, min) > (nmaj, nmin) => {
            out.push(bad(
                Status::Warn,
                "cluster-version",
                format!(
                    "the cluster runs Kubernetes {git}; the objects are validated for {omaj}.{omin} to {nmaj}.{nmin}"
                ),
                "upgrade the cluster to a supported release, or check `kubectl apply --dry-run=server -k kubernetes/` there",
            ))
        }
        Some((_, _, git)) => out.push(ok(
            "cluster-version",
            format!("cluster version {git} (objects validated for {omaj}.{omin} to {nmaj}.{nmin})"),
        )),
    }
    // nginx resolves with the cluster DNS Service's address.
    match kubectl.probe(&[
        "-n",
        "kube-system",
        "get",
        "service",
        "kube-dns",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]) {
        Ok(o) if o.status.success() => {
            let ip = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if ip == settings.dns {
                out.push(ok(
                    "cluster-dns",
                    format!("the cluster DNS is {ip}, as JITSI_STACK_K8S_DNS says"),
                ));
            } else {
                out.push(bad(
                    Status::Fail,
                    "cluster-dns",
                    format!(
                        "the cluster DNS Service kube-dns is {ip}, but JITSI_STACK_K8S_DNS is {}: nginx would resolve nothing",
                        settings.dns
                    ),
                    format!("set JITSI_STACK_K8S_DNS={ip} in .env, then `jitsi-stack up`"),
                ));
            }
        }
        _ => out.push(bad(
            Status::Warn,
            "cluster-dns",
            format!(
                "no kube-system/kube-dns Service visible; nginx resolves with JITSI_STACK_K8S_DNS={}",
                settings.dns
            ),
            "find the cluster DNS Service's address (`kubectl -n kube-system get svc`) and set JITSI_STACK_K8S_DNS to it",
        )),
    }
    out.push(ingress_class_finding(kubectl, settings));
    out
}

/// web's Ingress class exists, and its controller is the one the
/// Ingress's annotations are written for.
fn ingress_class_finding(kubectl: &Kubectl, settings: &Settings) -> CheckResult {
    let class = &settings.ingress_class;
    let controller = settings.ingress_controller.name();
    match kubectl.probe(&[
        "get",
        "ingressclass",
        class,
        "-o",
        "jsonpath={.spec.controller}",
    ]) {
        Ok(o) if o.status.success() => {
            let by = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if by.contains(controller) {
                ok(
                    "ingress-class",
                    format!("IngressClass {class} is served by {by}"),
                )
            } else {
                bad(
                    Status::Warn,
                    "ingress-class",
                    format!(
                        "IngressClass {class} is served by {by:?}, but web's Ingress carries {controller}'s annotations: BOSH and the websocket may time out"
                    ),
                    "set JITSI_STACK_K8S_INGRESS_CONTROLLER to the controller of that class (nginx, haproxy, traefik or contour), then `jitsi-stack up`",
                )
            }
        }
        Ok(o) => bad(
            Status::Warn,
            "ingress-class",
            format!(
                "no IngressClass {class} ({}): no controller would serve web's Ingress",
                first_line(&o)
            ),
            "list the classes with `kubectl get ingressclass` and set JITSI_STACK_K8S_INGRESS_CLASS to one",
        ),
        Err(e) => bad(
            Status::Warn,
            "ingress-class",
            format!("could not ask for IngressClass {class}: {e}"),
            "check `kubectl get ingressclass`",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_is_the_rendered_label() {
        assert_eq!(ALL_PODS, format!("{}={}", k8s::PART_OF_LABEL, k8s::PART_OF));
    }

    #[test]
    fn pods_read_as_compose_states() {
        let pods = serde_json::json!({"items": [
            {"metadata": {"labels": {"app.kubernetes.io/instance": "web"}},
             "status": {"phase": "Running", "containerStatuses": [{"ready": true, "state": {"running": {}}}]}},
            {"metadata": {"labels": {"app.kubernetes.io/instance": "jvb"}},
             "status": {"phase": "Running", "containerStatuses": [{"ready": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 3}}}]}},
            {"metadata": {"labels": {"app.kubernetes.io/instance": "jibri"}},
             "status": {"phase": "Pending", "containerStatuses": [{"ready": false,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]}},
            {"metadata": {"labels": {"app.kubernetes.io/instance": "prosody"}},
             "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available"}]}},
            // During a rollout: the old pod ready, the new one crashing.
            {"metadata": {"labels": {"app.kubernetes.io/instance": "jicofo"}},
             "status": {"phase": "Running", "containerStatuses": [{"ready": true, "state": {"running": {}}}]}},
            {"metadata": {"labels": {"app.kubernetes.io/instance": "jicofo"}},
             "status": {"phase": "Running", "containerStatuses": [{"ready": false, "state": {"terminated": {"exitCode": 1}}}]}},
        ]});
        let s = parse_pods(&pods.to_string()).unwrap();
        let by = |n: &str| s.iter().find(|x| x.service == n).unwrap().clone();
        assert_eq!(
            (by("web").state.as_str(), by("web").health.as_str()),
            ("running", "healthy")
        );
        assert_eq!(
            (by("jvb").state.as_str(), by("jvb").exit_code),
            ("restarting", 3)
        );
        assert_eq!(by("jibri").state, "error");
        assert!(by("jibri").status.contains("ImagePullBackOff: not found"));
        assert_eq!(by("prosody").state, "pending");
        assert_eq!(by("prosody").status, "0/3 nodes are available");
        assert_eq!(
            (by("jicofo").state.as_str(), by("jicofo").exit_code),
            ("exited", 1)
        );
        assert_eq!(s.len(), 5);
    }
}
