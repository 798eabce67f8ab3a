//! `up`, `down`, `status`, `logs`, `restart` and `doctor` with the
//! Kubernetes target, through a fake `kubectl` first on PATH that records
//! its arguments and answers with canned pod lists: they pass and fail as
//! their compose counterparts do, kubectl's exit status passed through.

use crate::harness::init_stack;
use crate::{Run, Test};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

const FAKE: &str = r#"#!/bin/sh
# Fake kubectl for jitsi-stack's tests: logs every call, answers from files.
printf '%s\n' "kubectl $*" >> "$FAKE_LOG"
case "$*" in
  "config current-context")
    if [ "$FAKE_CONTEXT" = none ]; then echo "error: current-context is not set" >&2; exit 1; fi
    echo "${FAKE_CONTEXT:-test-cluster}"; exit 0 ;;
  "version -o json")
    if [ "$FAKE_CLUSTER" = down ]; then
      echo '{"clientVersion":{"major":"1","minor":"32"}}'
      echo "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?" >&2; exit 1
    fi
    echo "{\"clientVersion\":{\"major\":\"1\",\"minor\":\"32\"},\"serverVersion\":{\"major\":\"1\",\"minor\":\"${FAKE_MINOR:-36}\",\"gitVersion\":\"v1.${FAKE_MINOR:-36}.2\"}}"; exit 0 ;;
  "-n kube-system get service kube-dns"*) printf '%s' "${FAKE_DNS:-10.96.0.10}"; exit 0 ;;
  "get ingressclass "*)
    if [ "$FAKE_INGRESS" = none ]; then echo "Error from server (NotFound): ingressclasses.networking.k8s.io \"${3}\" not found" >&2; exit 1; fi
    printf '%s' "${FAKE_INGRESS:-k8s.io/ingress-nginx}"; exit 0 ;;
  "get pods "*"-o json")
    # Call N answers from $FAKE_PODS.N when that exists, else from $FAKE_PODS.
    n=$(( $(cat "$FAKE_PODS.n" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_PODS.n"
    if [ -f "$FAKE_PODS.$n" ]; then cat "$FAKE_PODS.$n"; else cat "$FAKE_PODS"; fi; exit 0 ;;
  "logs "*) echo "log line from the fake kubectl"; exit "${FAKE_EXIT:-0}" ;;
  "apply "*) exit "${FAKE_APPLY_EXIT:-0}" ;;
  "rollout status "*) exit "${FAKE_ROLLOUT_EXIT:-0}" ;;
esac
exit "${FAKE_EXIT:-0}"
"#;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kubectl");
        fs::write(&p, FAKE).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("pods.json"), "{\"items\":[]}").unwrap();
        Fake { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What `get pods -o json` answers: (service, state) with state one of
    /// `ready`, `starting`, `crash`, `pending`, `image`.
    fn pods(&self, pods: &[(&str, &str)]) {
        fs::write(self.file("pods.json"), pods_json(pods)).unwrap();
    }

    fn pods_call(&self, n: u32, pods: &[(&str, &str)]) {
        fs::write(self.file(&format!("pods.json.{n}")), pods_json(pods)).unwrap();
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.file("log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn attach(&self, t: Test) -> Test {
        t.path_prepend(self.dir.path())
            .env("FAKE_LOG", self.file("log").to_str().unwrap())
            .env("FAKE_PODS", self.file("pods.json").to_str().unwrap())
            .env("JITSI_STACK_POLL_MS", "20")
    }
}

fn pods_json(pods: &[(&str, &str)]) -> String {
    let items: Vec<serde_json::Value> = pods
        .iter()
        .map(|(svc, st)| {
            let labels = serde_json::json!({ "app.kubernetes.io/instance": svc });
            let status = match *st {
                "ready" => serde_json::json!({"phase": "Running",
                    "containerStatuses": [{"ready": true, "state": {"running": {}}}]}),
                "starting" => serde_json::json!({"phase": "Running",
                    "containerStatuses": [{"ready": false, "state": {"running": {}}}]}),
                "crash" => serde_json::json!({"phase": "Running",
                    "containerStatuses": [{"ready": false,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 2}}}]}),
                "image" => serde_json::json!({"phase": "Pending",
                    "containerStatuses": [{"ready": false,
                        "state": {"waiting": {"reason": "ImagePullBackOff",
                            "message": "Back-off pulling image \"ghcr.io/jitsi/jvb:stable-11146-2\""}}}]}),
                _ => serde_json::json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "message": "0/3 nodes are available: 3 node(s) didn't have free ports"}]}),
            };
            serde_json::json!({"metadata": {"name": format!("{svc}-0"), "labels": labels}, "status": status})
        })
        .collect();
    serde_json::json!({ "items": items }).to_string()
}

const CORE: &[&str] = &["jicofo", "jvb", "prosody", "web"];

fn ready(services: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    services.iter().map(|s| (*s, "ready")).collect()
}

/// A stack whose target is Kubernetes.
fn kube_stack() -> Run {
    init_stack(&[("JITSI_STACK_TARGET", "kubernetes")], &[])
}

#[test]
fn kubernetes_up_applies_waits_for_the_pods_and_the_rollouts() {
    let fake = Fake::new();
    fake.pods_call(1, &[("prosody", "pending"), ("web", "starting")]);
    fake.pods_call(2, &[("prosody", "starting"), ("web", "ready")]);
    fake.pods(&ready(CORE));
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["up", "--timeout", "20"])
        .run();
    assert!(run.stdout.contains("Jitsi Meet is up"), "{}", run.stdout);
    assert!(run.exists("kubernetes/kustomization.yaml"));
    let calls = fake.calls();
    assert_eq!(
        calls[..2],
        [
            "kubectl apply --server-side -f ./kubernetes/namespace.yaml",
            "kubectl apply --server-side -k ./kubernetes",
        ],
        "{calls:?}"
    );
    let polls = calls
        .iter()
        .filter(|c| c.starts_with("kubectl get pods"))
        .count();
    assert!(polls >= 3, "{calls:?}");
    assert_eq!(
        calls[2],
        "kubectl get pods -n jitsi -l app.kubernetes.io/part-of=jitsi -o json"
    );
    let rollouts: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("kubectl rollout status"))
        .collect();
    assert_eq!(rollouts.len(), 4, "{calls:?}");
    assert!(rollouts
        .iter()
        .any(|c| c.starts_with("kubectl rollout status -n jitsi statefulset/prosody --timeout=")));
    assert!(rollouts
        .iter()
        .any(|c| c.starts_with("kubectl rollout status -n jitsi deployment/jicofo --timeout=")));
    // The progress shows each service as compose's does (plain lines off a terminal).
    assert!(
        run.stderr
            .contains("prosody: pending: 0/3 nodes are available"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("web: healthy"), "{}", run.stderr);
}

#[test]
fn kubernetes_up_stops_at_the_first_failing_pod_with_its_logs() {
    let fake = Fake::new();
    fake.pods(&[
        ("jicofo", "ready"),
        ("jvb", "crash"),
        ("prosody", "ready"),
        ("web", "starting"),
    ]);
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["up", "--timeout", "60"])
        .status(1)
        .run();
    assert!(
        run.stderr
            .contains("error: jvb is restarting in a loop (it keeps exiting, last with status 2)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("log line from the fake kubectl"),
        "{}",
        run.stderr
    );
    let calls = fake.calls();
    assert!(
        calls.contains(
            &"kubectl logs -n jitsi -l app.kubernetes.io/instance=jvb --all-containers --tail 20"
                .to_string()
        ),
        "{calls:?}"
    );
    // Early: the first poll decided, no rollout waited for.
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("kubectl get pods"))
            .count(),
        1
    );
    assert!(!calls.iter().any(|c| c.contains("rollout")));

    // An image that cannot be pulled fails as early, with Kubernetes's reason.
    let fake = Fake::new();
    fake.pods(&[
        ("jicofo", "ready"),
        ("jvb", "image"),
        ("prosody", "ready"),
        ("web", "ready"),
    ]);
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["up"])
        .status(1)
        .run();
    assert!(
        run.stderr
            .contains("error: jvb cannot start: ImagePullBackOff: Back-off pulling image"),
        "{}",
        run.stderr
    );
}

#[test]
fn kubernetes_up_times_out_naming_the_waiting_services() {
    let fake = Fake::new();
    fake.pods(&[
        ("jicofo", "ready"),
        ("jvb", "pending"),
        ("prosody", "ready"),
        ("web", "ready"),
    ]);
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["up", "--timeout", "1"])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("not ready after 1 s: jvb"),
        "{}",
        run.stderr
    );
}

#[test]
fn kubernetes_kubectl_exit_statuses_are_passed_through() {
    // apply fails: its status is up's, and nothing is waited for.
    let fake = Fake::new();
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["up"])
        .env("FAKE_APPLY_EXIT", "7")
        .status(7)
        .run();
    assert!(
        run.stderr.contains(
            "`kubectl apply --server-side -f ./kubernetes/namespace.yaml` exited with status 7"
        ),
        "{}",
        run.stderr
    );
    assert!(!fake.calls().iter().any(|c| c.contains("get pods")));
    // A rollout that does not finish.
    let fake = Fake::new();
    fake.pods(&ready(CORE));
    let run = fake
        .attach(Test::again(run))
        .args(["up"])
        .env("FAKE_ROLLOUT_EXIT", "1")
        .status(1)
        .run();
    assert!(run.stderr.contains("rollout status"), "{}", run.stderr);
    // down, status, logs, restart: kubectl's arguments, and its status.
    let mut run = Test::again(run).args(["render"]).run();
    for (args, want) in [
        (vec!["down"], "kubectl delete -k ./kubernetes --ignore-not-found=true"),
        (vec!["status"], "kubectl get pods -n jitsi -l app.kubernetes.io/part-of=jitsi -o wide"),
        (
            vec!["logs", "jvb", "--tail", "5", "-f"],
            "kubectl logs -n jitsi -l app.kubernetes.io/instance=jvb --all-containers --prefix --max-log-requests=50 --tail 5 --follow",
        ),
        (
            vec!["logs"],
            "kubectl logs -n jitsi -l app.kubernetes.io/part-of=jitsi --all-containers --prefix --max-log-requests=50 --tail -1",
        ),
        (
            vec!["restart", "jvb"],
            "kubectl rollout restart -n jitsi statefulset/jvb",
        ),
    ] {
        let fake = Fake::new();
        run = fake.attach(Test::again(run)).args(&args).run();
        assert_eq!(fake.calls(), [want], "{args:?}");
        let fake = Fake::new();
        run = fake
            .attach(Test::again(run))
            .args(&args)
            .env("FAKE_EXIT", "5")
            .status(5)
            .run();
        assert!(
            run.stderr.contains(&format!("`{want}` exited with status 5")),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn kubernetes_status_json_down_volumes_and_usage_errors() {
    let fake = Fake::new();
    fake.pods(&[("web", "ready"), ("jvb", "crash")]);
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["status", "--json"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    let states = &doc["services"];
    let by = |n: &str| {
        states
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == n)
            .unwrap_or_else(|| panic!("no {n} in {states}"))
            .clone()
    };
    assert_eq!(by("web")["health"], "healthy");
    assert_eq!(by("jvb")["state"], "restarting");
    // Services of the model with no pod, as compose's status reports them.
    assert_eq!(by("prosody")["state"], "missing");
    // down --volumes would delete the accounts: refused with what to do instead.
    let run = fake
        .attach(Test::again(run))
        .args(["down", "--volumes", "--yes"])
        .status(2)
        .run();
    assert!(
        run.stderr.contains("kubectl -n jitsi delete pvc"),
        "{}",
        run.stderr
    );
    let run = fake
        .attach(Test::again(run))
        .args(["logs", "nosuch"])
        .status(2)
        .run();
    assert!(
        run.stderr.contains("no service \"nosuch\""),
        "{}",
        run.stderr
    );
    // pull has nothing to do (upgrade runs it before up): not a failure.
    let run = fake.attach(Test::again(run)).args(["pull"]).run();
    assert!(run.stdout.contains("each node pulls"), "{}", run.stdout);
    // No kubectl at all: the runner's "could not start", exit 127.
    let empty = tempfile::tempdir().unwrap();
    let run = Test::again(run)
        .env("PATH", empty.path().to_str().unwrap())
        .args(["status"])
        .status(127)
        .run();
    assert!(
        run.stderr.contains("`kubectl` not found: install kubectl"),
        "{}",
        run.stderr
    );
    // down before any render: nothing to delete, said so.
    let fake = Fake::new();
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["down"])
        .status(2)
        .run();
    assert!(
        run.stderr.contains("render --target kubernetes"),
        "{}",
        run.stderr
    );
}

#[test]
fn kubernetes_doctor_checks_the_context_the_version_and_the_dns() {
    let fake = Fake::new();
    let run = fake
        .attach(Test::again(kube_stack()))
        .args(["doctor"])
        .run();
    assert!(
        run.stdout.contains("kubectl context: test-cluster"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cluster version v1.36.2"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the cluster DNS is 10.96.0.10"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("IngressClass nginx is served by k8s.io/ingress-nginx"),
        "{}",
        run.stdout
    );
    // No Docker is asked.
    assert!(!run.stdout.contains("Docker"), "{}", run.stdout);
    // web's Ingress class: missing, or served by another controller than
    // the one its annotations are for (warnings: doctor still passes).
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .env("FAKE_INGRESS", "none")
        .run();
    assert!(
        run.stdout.contains(
            "no IngressClass nginx (Error from server (NotFound): ingressclasses.networking.k8s.io \"nginx\" not found)"
        ) && run.stdout.contains("set JITSI_STACK_K8S_INGRESS_CLASS to one"),
        "{}",
        run.stdout
    );
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .env("FAKE_INGRESS", "traefik.io/ingress-controller")
        .run();
    assert!(
        run.stdout.contains(
            "IngressClass nginx is served by \"traefik.io/ingress-controller\", but web's Ingress carries nginx's annotations"
        ) && run.stdout.contains("set JITSI_STACK_K8S_INGRESS_CONTROLLER"),
        "{}",
        run.stdout
    );
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .env("FAKE_DNS", "10.43.0.10")
        .status(1)
        .run();
    assert!(
        run.stdout
            .contains("kube-dns is 10.43.0.10, but JITSI_STACK_K8S_DNS is 10.96.0.10")
            && run.stdout.contains("set JITSI_STACK_K8S_DNS=10.43.0.10"),
        "{}",
        run.stdout
    );
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .env("FAKE_MINOR", "29")
        .run();
    assert!(
        run.stdout.contains(
            "the cluster runs Kubernetes v1.29.2; the objects are validated for 1.35 to 1.37"
        ),
        "{}",
        run.stdout
    );
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .env("FAKE_CONTEXT", "none")
        .status(1)
        .run();
    assert!(
        run.stdout.contains("kubectl has no current context"),
        "{}",
        run.stdout
    );
    let run = fake
        .attach(Test::again(run))
        .args(["doctor", "--json"])
        .env("FAKE_CLUSTER", "down")
        .status(1)
        .run();
    assert!(
        run.stdout
            .contains("does not answer: The connection to the server 10.0.0.1:6443 was refused"),
        "{}",
        run.stdout
    );
}

#[test]
fn kubernetes_up_keeps_external_secrets_external() {
    let run = Test::again(kube_stack())
        .args(["render", "--secrets", "external"])
        .run();
    assert!(!run.exists("kubernetes/secrets"));
    let fake = Fake::new();
    let run = fake
        .attach(Test::again(run))
        .args(["up", "--no-wait"])
        .run();
    assert!(
        run.stdout.contains("not waiting for the pods"),
        "{}",
        run.stdout
    );
    assert!(!run.exists("kubernetes/secrets"), "up wrote the secrets");
    assert!(run.exists("kubernetes/secrets.example.yaml"));
    // --dry-run names what would run and runs nothing.
    let fake = Fake::new();
    let run = fake
        .attach(Test::again(run))
        .args(["up", "--dry-run"])
        .run();
    assert!(
        run.stdout
            .contains("kubectl apply --server-side -k ./kubernetes"),
        "{}",
        run.stdout
    );
    assert_eq!(fake.calls(), Vec::<String>::new());
}

/// The argument lists the fake saw, given to the real kubectl (the one
/// .ci/install-deps installs) with a kubeconfig whose server refuses: each
/// gets as far as talking to the server, so kubectl's own parser accepts
/// every flag and form jitsi-stack uses. A wrong flag is a usage error
/// before any connection.
#[test]
fn kubernetes_real_kubectl_accepts_the_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubeconfig");
    fs::write(
        &config,
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: \"https://127.0.0.1:1\"}\n  name: refused\ncontexts:\n- context: {cluster: refused, user: nobody}\n  name: refused\ncurrent-context: refused\nusers:\n- name: nobody\n  user: {token: x}\n",
    )
    .unwrap();
    // A stack rendered, so -k and -f name real files.
    let run = Test::again(kube_stack()).args(["render"]).run();
    let kubectl = |args: &str| {
        let out = std::process::Command::new("kubectl")
            .current_dir(run.path())
            .env("KUBECONFIG", &config)
            .args(args.split(' '))
            .output()
            .expect("kubectl (.ci/install-deps installs it)");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let usage = |text: &str| {
        text.contains("--help")
            || text.contains("unknown flag")
            || text.contains("unknown shorthand")
    };
    // The check itself: a bad flag is told apart.
    assert!(usage(&kubectl(
        "apply --server-side --no-such-flag -k ./kubernetes"
    )));
    for args in [
        "apply --server-side -f ./kubernetes/namespace.yaml",
        "apply --server-side -k ./kubernetes",
        "get pods -n jitsi -l app.kubernetes.io/part-of=jitsi -o json",
        "get pods -n jitsi -l app.kubernetes.io/part-of=jitsi -o wide",
        "rollout status -n jitsi statefulset/prosody --timeout=5s",
        "rollout status -n jitsi deployment/jicofo --timeout=5s",
        "rollout restart -n jitsi statefulset/jvb deployment/jicofo",
        "logs -n jitsi -l app.kubernetes.io/instance=jvb --all-containers --tail 20",
        "logs -n jitsi -l app.kubernetes.io/part-of=jitsi --all-containers --prefix --max-log-requests=50 --tail -1 --follow",
        "delete -k ./kubernetes --ignore-not-found=true",
        "version -o json",
        "-n kube-system get service kube-dns -o jsonpath={.spec.clusterIP}",
        "get ingressclass nginx -o jsonpath={.spec.controller}",
    ] {
        let text = kubectl(args);
        assert!(!usage(&text), "kubectl {args}: {text}");
        assert!(
            text.contains("127.0.0.1:1"),
            "kubectl {args} did not reach for the server: {text}"
        );
    }
    assert_eq!(kubectl("config current-context").trim(), "refused");
}

#[test]
fn kubernetes_upgrade_renders_applies_and_waits_through_kubectl() {
    let stack = crate::migrate::old_stack(1, 2);
    let env = stack.path().join(".env");
    let mut text = fs::read_to_string(&env).unwrap();
    text.push_str("JITSI_STACK_TARGET=kubernetes\n");
    fs::write(&env, text).unwrap();
    let fake = Fake::new();
    fake.pods(&ready(CORE));
    let run = fake
        .attach(Test::again(stack))
        .args(["upgrade", "--yes", "--no-smoke", "--timeout", "20"])
        .run();
    assert!(
        run.stdout.contains("upgraded from stable-10431 to"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("each node pulls"), "{}", run.stdout);
    let calls = fake.calls();
    assert!(
        calls.contains(&"kubectl apply --server-side -k ./kubernetes".to_string()),
        "{calls:?}"
    );
    // The new release's images are what was applied.
    assert!(run.read("kubernetes/kustomization.yaml").contains(&format!(
        "newTag: {}",
        jitsi_stack::schema::PINNED_IMAGE_VERSION
    )));
}
