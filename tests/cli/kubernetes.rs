//! The Kubernetes target (`render --target kubernetes`), checked offline by
//! the programs that read it: `kubectl kustomize` builds `kubernetes/` with
//! no other input, and `kubernetes-validate --strict` (PyPI) validates
//! every object for the oldest and the newest supported Kubernetes
//! version it bundles. Over every configuration of `scripts/fidelity-matrix`
//! and the media modes: the files of each ConfigMap (and file Secret) are
//! the compose target's mounted files byte for byte but for the documented
//! substitutions, the containers' environments are compose's with secrets
//! as Secret references, no secret value is outside `kubernetes/secrets/`,
//! and a second render rewrites nothing.

use crate::harness::{init_stack, Run, Test};
use base64::Engine;
use jitsi_stack::render::kubernetes::lint;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One configuration: `.env` additions, components, commands before render.
pub struct Config {
    pub name: String,
    pub with: Vec<String>,
    pub vars: Vec<(String, String)>,
    pub commands: Vec<Vec<String>>,
}

/// The configurations of `scripts/fidelity-matrix --list`.
pub fn fidelity_configs() -> Vec<Config> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fidelity-matrix");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--list")
        .output()
        .expect("python3 scripts/fidelity-matrix --list");
    assert!(out.status.success(), "fidelity-matrix --list failed");
    let mut configs = vec![];
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (name, rest) = line.split_once(": ").expect("name: rest");
        let mut parts = rest.split("; ");
        let mut tokens = parts.next().unwrap().split_whitespace();
        let mut with = vec![];
        // What the script adds to every configuration (its BASE).
        let mut vars: Vec<(String, String)> = [
            ("ENABLE_RECORDING", "1"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
            ("JIGASI_SIP_URI", "gateway@sip.example.org"),
            ("JIGASI_SIP_PASSWORD", "sip-password-4711"),
            ("JIGASI_SIP_SERVER", "sip.example.org"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        while let Some(t) = tokens.next() {
            if t == "--with" {
                with = tokens
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect();
            } else {
                let (k, v) = t.split_once('=').expect("VAR=value");
                vars.push((k.to_string(), v.to_string()));
            }
        }
        let commands = parts
            .map(|c| {
                c.split_whitespace()
                    .skip(1) // "jitsi-stack"
                    .map(String::from)
                    .collect()
            })
            .collect();
        configs.push(Config {
            name: name.to_string(),
            with,
            vars,
            commands,
        });
    }
    assert!(
        configs.len() >= 20,
        "fidelity-matrix lists {} configurations",
        configs.len()
    );
    configs
}

pub fn config(name: &str, with: &str, vars: &[(&str, &str)]) -> Config {
    Config {
        name: name.into(),
        with: with
            .split(',')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        commands: vec![],
    }
}

const ALL: &str = "jibri,jigasi,transcriber,etherpad,whiteboard";
const SIP: &[(&str, &str)] = crate::matrix::SIP;

/// The Kubernetes-specific configurations on top of the matrix.
pub fn media_configs() -> Vec<Config> {
    let with_sip = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = SIP.to_vec();
        v.extend_from_slice(&[("ENABLE_RECORDING", "1"), ("ENABLE_TRANSCRIPTIONS", "1")]);
        v.extend_from_slice(extra);
        v
    };
    vec![
        config(
            "hostport-3",
            ALL,
            &with_sip(&[
                ("JVB_INSTANCES", "3"),
                ("JITSI_STACK_K8S_MEDIA", "hostport"),
                ("JITSI_STACK_K8S_BRIDGE_NODES", "node-a,node-b,node-c"),
            ]),
        ),
        config(
            "nodeport-3",
            ALL,
            &with_sip(&[
                ("JVB_INSTANCES", "3"),
                ("JITSI_STACK_K8S_MEDIA", "nodeport"),
                ("JVB_ADVERTISE_IPS", "203.0.113.7"),
            ]),
        ),
        config(
            "loadbalancer-2",
            ALL,
            &with_sip(&[
                ("JVB_INSTANCES", "2"),
                ("JITSI_STACK_K8S_MEDIA", "loadbalancer"),
            ]),
        ),
        config(
            "recorders-2-everything",
            "jibri,etherpad,whiteboard,turn,monitoring",
            &[("JIBRI_INSTANCES", "2"), ("ENABLE_RECORDING", "1")],
        ),
        config(
            "namespace-secrets",
            "jibri",
            &[
                ("JITSI_STACK_K8S_NAMESPACE", "meet-prod"),
                ("JITSI_STACK_K8S_CLUSTER_DOMAIN", "k8s.example"),
                ("JITSI_STACK_K8S_DNS", "10.43.0.10"),
            ],
        ),
    ]
}

/// A fresh stack for `c`, its commands run, then `render` (compose) and
/// `render --target kubernetes`. Components the Kubernetes target refuses
/// (log-analyser, which reads Docker's log files) are left out.
pub fn render_both(c: &Config) -> Run {
    let vars: Vec<(&str, &str)> = c
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut run = init_stack(&vars, &[]);
    for cmd in &c.commands {
        run = Test::again(run).args(cmd).run();
    }
    let with: Vec<&str> = c
        .with
        .iter()
        .map(String::as_str)
        .filter(|w| *w != "log-analyser")
        .collect();
    let mut args = vec!["render".to_string()];
    if !with.is_empty() {
        args.extend(["--with".into(), with.join(",")]);
    }
    let run = Test::again(run).args(&args).run();
    args.extend(["--target".into(), "kubernetes".into()]);
    Test::again(run).args(&args).run()
}

/// `kubectl kustomize kubernetes/` of the stack: the YAML it prints.
pub fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.join("kubernetes"))
        .output()
        .unwrap_or_else(|e| {
            panic!("running kubectl ({e}): install it (.ci/install-deps installs it)")
        });
    assert!(
        out.status.success(),
        "kubectl kustomize {}/kubernetes: exit {:?}\n{}",
        dir.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Kubernetes versions kubernetes-validate bundles (`1.25`, ...), sorted.
fn bundled_versions() -> Vec<(u32, u32)> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import kubernetes_validate, os\n\
             d = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema')\n\
             print('\\n'.join(n for n in os.listdir(d) if n.endswith('-local-strict')))",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "kubernetes-validate not installed: `pip install kubernetes-validate` (.ci/install-deps)\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<(u32, u32)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|n| {
            let mut it = n.trim_start_matches('v').split('.');
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The oldest and newest still-supported versions it bundles: upstream
/// Kubernetes supports the three newest minor releases, so the newest
/// bundled one and the one two minors below it.
pub fn versions_to_check() -> Vec<String> {
    let v = bundled_versions();
    let newest = *v.last().expect("no bundled schema");
    let oldest = v
        .iter()
        .copied()
        .find(|&(maj, min)| maj == newest.0 && min + 2 >= newest.1)
        .unwrap();
    vec![
        format!("{}.{}.0", oldest.0, oldest.1),
        format!("{}.{}.0", newest.0, newest.1),
    ]
}

/// `kubernetes-validate --strict` of `yaml` for `version`; Err with its report.
pub fn validate(yaml: &str, version: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("built.yaml");
    std::fs::write(&file, yaml).unwrap();
    validate_files(&[file], version)
}

/// `kubernetes-validate --strict` of several files in one run; Err with
/// its report (each line names the file and the object).
pub fn validate_files(files: &[PathBuf], version: &str) -> Result<(), String> {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", version])
        .args(files)
        .output()
        .expect("running kubernetes-validate (.ci/install-deps installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !text.contains("ERROR") {
        Ok(())
    } else {
        Err(text
            .lines()
            .filter(|l| l.starts_with("ERROR"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

pub fn documents(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .map(|v| serde_json::to_value(v).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn unescaped_env(svc: &Value, k: &str) -> String {
    svc["environment"][k]
        .as_str()
        .unwrap_or_else(|| panic!("no {k}"))
        .replace("$$", "$")
}

/// A Secret's value (kustomize may fold long base64 lines).
fn b64(v: &Value) -> Vec<u8> {
    let text: String = v.as_str().unwrap().split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn env_file(run: &Run, rel: &str) -> BTreeMap<String, String> {
    run.read(rel)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The secrets of `.env`: the values of the schema's secret variables.
fn secret_values(run: &Run) -> Vec<String> {
    let env = jitsi_stack::envfile::EnvFile::read(&run.path().join(".env")).unwrap();
    env.entries()
        .filter(|e| {
            jitsi_stack::schema::lookup(&e.key).is_some_and(|v| v.is_secret()) && e.value.len() >= 8
        })
        .map(|e| e.value.clone())
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Secrets: only under kubernetes/secrets/ (0600 in a 0700 directory),
/// which the .gitignore render writes lists; none in the built objects but
/// the Secrets.
fn check_secrets(run: &Run, docs: &[Value]) {
    use std::os::unix::fs::PermissionsExt;
    let root = run.path().join("kubernetes");
    let secrets = secret_values(run);
    assert!(!secrets.is_empty());
    for f in files_under(&root) {
        let rel = f.strip_prefix(&root).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        if rel.starts_with("secrets") {
            assert_eq!(mode, 0o600, "{} is {mode:o}", f.display());
            continue;
        }
        assert_eq!(mode, 0o644, "{} is {mode:o}", f.display());
        let text = std::fs::read_to_string(&f).unwrap();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret of .env is in {}",
                f.display()
            );
        }
    }
    if root.join("secrets").exists() {
        let mode = std::fs::metadata(root.join("secrets"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        assert!(run
            .read("kubernetes/.gitignore")
            .lines()
            .any(|l| l == "/secrets/"));
    }
    for d in docs.iter().filter(|d| d["kind"] != "Secret") {
        let text = d.to_string();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret of .env is in {} {}",
                d["kind"],
                d["metadata"]["name"]
            );
        }
    }
}

/// Compose's merged model of the stack (COMPOSE_FILE from .env); the
/// compose tests check it in depth, here it is the reference.
pub fn compose_config(dir: &Path) -> Value {
    let out = Command::new(crate::envfile::compose_bin())
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["config", "--format", "json"])
        .output()
        .expect("running docker-compose");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The documented substitutions (docs/kubernetes.md, "Differences from
/// the compose target") applied to a compose-mounted file.
fn substituted(text: &str, env: &BTreeMap<String, String>, bridge: Option<&str>) -> String {
    let ns = env
        .get("JITSI_STACK_K8S_NAMESPACE")
        .map_or("jitsi", String::as_str);
    let domain = env
        .get("JITSI_STACK_K8S_CLUSTER_DOMAIN")
        .map_or("cluster.local", String::as_str);
    let dns = env
        .get("JITSI_STACK_K8S_DNS")
        .map_or("10.96.0.10", String::as_str);
    let mut out = text.to_string();
    for (alias, service) in [
        ("xmpp.meet.jitsi", "xmpp"),
        ("jicofo.meet.jitsi", "jicofo"),
        ("etherpad.meet.jitsi", "etherpad"),
        ("whiteboard.meet.jitsi", "whiteboard"),
        ("jvb.meet.jitsi", "jvb"),
        ("jigasi.meet.jitsi", "jigasi"),
        ("jibri.meet.jitsi", "jibri"),
        ("web.meet.jitsi", "web"),
    ] {
        out = jitsi_stack::render::kubernetes::replace_host(
            &out,
            alias,
            &format!("{service}.{ns}.svc.{domain}"),
        );
    }
    // Each visitor node of the compose project (the indexes render
    // records) by its Service's cluster name instead of its service name.
    for i in env
        .get("JITSI_STACK_VISITOR_INDEXES")
        .map_or("", String::as_str)
        .split(',')
        .filter(|i| !i.is_empty())
    {
        out = jitsi_stack::render::kubernetes::replace_host(
            &out,
            &format!("prosody-v{i}"),
            &format!("prosody-v{i}.{ns}.svc.{domain}"),
        );
    }
    if !env.contains_key("NGINX_RESOLVER") {
        out = out.replace("resolver 127.0.0.11", &format!("resolver {dns}"));
    }
    if !env.contains_key("SHUTDOWN_REST_ENABLED") {
        // The bridges' and SIP gateways' preStop hooks stop them through
        // the shutdown endpoint of their REST API.
        out = out
            .replace(
                "shutdown {\n      enabled = false\n",
                "shutdown {\n      enabled = true\n",
            )
            .replace(
                "org.jitsi.jigasi.ENABLE_REST_SHUTDOWN=false\n",
                "org.jitsi.jigasi.ENABLE_REST_SHUTDOWN=true\n",
            );
    }
    if let Some(b) = bridge {
        out = out.replace(
            &format!("local-address = \"{b}\""),
            &format!("local-address = \"{b}-0\""),
        );
    }
    out
}

/// Every ConfigMap key and file Secret key a pod mounts is the compose
/// target's file at the same path, byte for byte after the documented
/// substitutions; the environment is compose's, secrets as references.
fn check_equal_to_compose(run: &Run, docs: &[Value], media: &str) {
    let compose = compose_config(run.path());
    let env: BTreeMap<String, String> =
        jitsi_stack::envfile::EnvFile::read(&run.path().join(".env"))
            .unwrap()
            .entries()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
    let secrets_env = env_file(run, "kubernetes/secrets/jitsi.env");
    let mut compared = 0;
    for w in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
    {
        let name = w["metadata"]["name"].as_str().unwrap();
        let svc = &compose["services"][name];
        assert!(svc.is_object(), "{name}: no compose service of that name");
        let pod = &w["spec"]["template"]["spec"];
        let volumes = pod["volumes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let c = &pod["containers"][0];
        let binds = if svc["volumes"].is_array() {
            crate::compose::binds(svc)
        } else {
            vec![]
        };
        for m in c["volumeMounts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let Some(key) = m["subPath"].as_str() else {
                continue;
            };
            let target = m["mountPath"].as_str().unwrap();
            let vol = volumes.iter().find(|v| v["name"] == m["name"]).unwrap();
            let data = if let Some(cm) = vol["configMap"]["name"].as_str() {
                let cm = find(docs, "ConfigMap", cm)
                    .unwrap_or_else(|| panic!("{name}: no ConfigMap {cm}"));
                cm["data"][key].as_str().unwrap().as_bytes().to_vec()
            } else {
                let sn = vol["secret"]["secretName"].as_str().unwrap();
                let s =
                    find(docs, "Secret", sn).unwrap_or_else(|| panic!("{name}: no Secret {sn}"));
                b64(&s["data"][key])
            };
            let (source, _, _) = binds
                .iter()
                .find(|(_, t, _)| t == target)
                .unwrap_or_else(|| panic!("{name}: compose mounts nothing at {target}"));
            let want = std::fs::read(source).unwrap();
            let bridge = (c["name"] == "jvb").then_some(name);
            let mut want = substituted(&String::from_utf8(want).unwrap(), &env, bridge);
            if c["name"] == "jvb" && media == "nodeport" {
                // The one substitution that depends on the bridge: its
                // node port as each advertised address's public port.
                let idx: u16 = name.strip_prefix("jvb-").map_or(1, |n| n.parse().unwrap());
                let port = 30000 + idx - 1;
                let udp = unescaped_env(svc, "JVB_PORT");
                for ip in env["JVB_ADVERTISE_IPS"].split(',') {
                    want = want.replace(
                        &format!("public-address = \"{ip}\"\n"),
                        &format!(
                            "public-address = \"{ip}\"\n          local-port = {udp}\n          public-port = {port}\n"
                        ),
                    );
                }
            }
            assert_eq!(
                String::from_utf8(data).unwrap(),
                want,
                "{name}: {target} differs from the compose target's {source}"
            );
            compared += 1;
        }
        // The environment: compose's, with secrets as Secret references.
        let mut k8s_env = BTreeMap::new();
        for e in c["env"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let k = e["name"].as_str().unwrap().to_string();
            let v = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else {
                let r = &e["valueFrom"]["secretKeyRef"];
                let secret = find(docs, "Secret", r["name"].as_str().unwrap()).unwrap();
                let raw = b64(&secret["data"][r["key"].as_str().unwrap()]);
                assert_eq!(
                    secrets_env
                        .get(r["key"].as_str().unwrap())
                        .map(String::as_bytes),
                    Some(raw.as_slice())
                );
                String::from_utf8(raw).unwrap()
            };
            k8s_env.insert(k, v);
        }
        let mut compose_env = BTreeMap::new();
        if let Some(o) = svc["environment"].as_object() {
            for (k, v) in o {
                let v = v.as_str().unwrap_or("").replace("$$", "$");
                compose_env.insert(k.clone(), substituted(&v, &env, None));
            }
        }
        if media == "nodeport" {
            // Each advertised address with the node port base (the image
            // announces base + n - 1 for bridge n, as compose's do).
            if let Some(ips) = compose_env.get_mut("JVB_ADVERTISE_IPS") {
                *ips = ips
                    .split(',')
                    .map(|ip| format!("{ip}#30000"))
                    .collect::<Vec<_>>()
                    .join(",");
            }
        }
        // A variable compose leaves to the image's default alias
        // (XMPP_SERVER=xmpp.meet.jitsi) is set to the cluster name.
        for (k, v) in &k8s_env {
            if compose_env.contains_key(k) {
                continue;
            }
            if k == "NGINX_RESOLVER" && !env.contains_key(k) {
                // nginx resolves with the cluster DNS, not Docker's.
                let dns = env
                    .get("JITSI_STACK_K8S_DNS")
                    .map_or("10.96.0.10", String::as_str);
                assert_eq!(v, dns, "{name}: NGINX_RESOLVER");
                compose_env.insert(k.clone(), v.clone());
                continue;
            }
            if k == "SHUTDOWN_REST_ENABLED" && !env.contains_key(k) {
                // The graceful stop of the preStop hooks needs it.
                assert_eq!(v, "1", "{name}: SHUTDOWN_REST_ENABLED");
                compose_env.insert(k.clone(), v.clone());
                continue;
            }
            let default = jitsi_stack::schema::lookup(k).and_then(|var| var.default);
            let Some(default) = default.filter(|d| substituted(d, &env, None) != *d) else {
                continue;
            };
            assert_eq!(*v, substituted(default, &env, None), "{name}: {k}");
            compose_env.insert(k.clone(), v.clone());
        }
        assert_eq!(
            k8s_env, compose_env,
            "{name}: the environment differs from compose's"
        );
    }
    assert!(compared > 0);
}

/// Everything but the schemas for one configuration: render, build, the
/// own checks, secrets, equality with compose. Returns the built YAML.
fn check_config(c: &Config) -> String {
    let run = render_both(c);
    let yaml = kustomize(run.path());
    let docs = documents(&yaml);
    check_secrets(&run, &docs);
    let problems = own_checks(&run);
    assert!(
        problems.is_empty(),
        "{}: the project's own checks:\n{}",
        c.name,
        problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let media = c
        .vars
        .iter()
        .find(|(k, _)| k == "JITSI_STACK_K8S_MEDIA")
        .map_or("hostport", |(_, v)| v.as_str());
    check_equal_to_compose(&run, &docs, media);
    eprintln!("{}: {} objects", c.name, docs.len());
    yaml
}

/// `f` over `items` on as many threads as there are cores (at most 4),
/// results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap().push((i, r));
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Checks every configuration, then validates the objects they build with
/// `kubernetes-validate --strict`: each distinct object once (an object
/// that several configurations build alike gets the same verdict), all of
/// them in one run per Kubernetes version, the two versions at once. A
/// failure names the configuration (the file of its objects).
pub fn check_configs(configs: &[Config], versions: &[String]) {
    let built = parallel_map(configs, check_config);
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::HashSet::new();
    let (mut total, mut files) = (0, vec![]);
    for (c, yaml) in configs.iter().zip(&built) {
        let mut unique = vec![];
        for doc in yaml.split("\n---\n") {
            total += 1;
            if seen.insert(doc.trim().to_string()) {
                unique.push(doc.trim());
            }
        }
        if !unique.is_empty() {
            let file = dir.path().join(format!("{}.yaml", c.name));
            std::fs::write(&file, unique.join("\n---\n") + "\n").unwrap();
            files.push(file);
        }
    }
    assert!(!files.is_empty());
    std::thread::scope(|scope| {
        let handles: Vec<_> = versions
            .iter()
            .map(|v| (v, scope.spawn(|| validate_files(&files, v))))
            .collect();
        for (v, h) in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("kubernetes-validate --strict -k {v}:\n{e}");
            }
        }
    });
    eprintln!(
        "{} configurations, {total} objects ({} distinct) validated for {versions:?}",
        configs.len(),
        seen.len()
    );
}

#[test]
fn kubernetes_matrix_builds_validates_and_equals_compose() {
    let versions = versions_to_check();
    assert_eq!(versions.len(), 2);
    // What `doctor` compares the cluster's version with.
    let ((omaj, omin), (nmaj, nmin)) = jitsi_stack::render::kubernetes::VALIDATED_VERSIONS;
    assert_eq!(
        versions,
        [format!("{omaj}.{omin}.0"), format!("{nmaj}.{nmin}.0")],
        "update render::kubernetes::VALIDATED_VERSIONS"
    );
    check_configs(&fidelity_configs(), &versions);
}

#[test]
fn kubernetes_media_modes_build_validate_and_equal_compose() {
    check_configs(&media_configs(), &versions_to_check());
}

#[test]
fn kubernetes_render_is_deterministic_and_rewrites_nothing() {
    let c = config("twice", "jibri,turn", &[("JVB_INSTANCES", "2")]);
    let run = render_both(&c);
    let snap = |run: &Run| -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
        files_under(&run.path().join("kubernetes"))
            .into_iter()
            .map(|p| {
                let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                (p.clone(), (std::fs::read(&p).unwrap(), m))
            })
            .collect()
    };
    let first = snap(&run);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = Test::again(run)
        .args(["render", "--with", "jibri,turn", "--target", "kubernetes"])
        .run();
    assert!(
        run.stdout.starts_with("nothing changed: "),
        "{}",
        run.stdout
    );
    assert_eq!(
        first,
        snap(&run),
        "a second render changed bytes or rewrote a file"
    );
    // The same `.env` rendered in another directory: the same bytes.
    let elsewhere = Test::new()
        .env_file(&run.read(".env"))
        .args(["render", "--with", "jibri,turn", "--target", "kubernetes"])
        .run();
    let bytes = |r: &Run| -> BTreeMap<PathBuf, Vec<u8>> {
        let root = r.path().join("kubernetes");
        files_under(&root)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(&root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        bytes(&run),
        bytes(&elsewhere),
        "two renders of the same .env differ"
    );
    // A stray file in kubernetes/ goes; the target follows JITSI_STACK_TARGET.
    std::fs::write(run.path().join("kubernetes/stray.yaml"), "x").unwrap();
    let env = run.path().join(".env");
    let mut text = std::fs::read_to_string(&env).unwrap();
    text.push_str("JITSI_STACK_TARGET=kubernetes\n");
    std::fs::write(&env, text).unwrap();
    let run = Test::again(run)
        .args(["render", "--with", "jibri,turn"])
        .run();
    assert!(!run.exists("kubernetes/stray.yaml"));
    assert!(run.stdout.contains("(1 changed)"), "{}", run.stdout);
}

#[test]
fn kubernetes_validate_rejects_a_broken_copy() {
    // The validator is not a no-op: an unknown field fails --strict.
    let c = config("broken", "", &[]);
    let run = render_both(&c);
    let yaml = kustomize(run.path());
    let v = versions_to_check();
    assert!(validate(&yaml, &v[0]).is_ok());
    let broken = yaml.replacen("containerPort:", "containerPorts:", 1);
    assert!(validate(&broken, &v[0]).is_err());
    let broken = yaml.replacen("  replicas: 1\n", "  replicas: 1\n  replica: 1\n", 1);
    assert!(validate(&broken, &v[1]).is_err());
}

#[test]
fn kubernetes_refuses_log_analyser_and_writes_nothing() {
    let run = init_stack(&[], &[]);
    let run = Test::again(run)
        .args([
            "render",
            "--with",
            "monitoring,log-analyser",
            "--target",
            "kubernetes",
        ])
        .status(1)
        .run();
    assert!(run.stderr.contains("log-analyser"), "{}", run.stderr);
    assert!(!run.exists("kubernetes"));
}

/// The project's own checks (`render::kubernetes::lint`) over `kubernetes/`
/// as written on disk.
fn own_checks(run: &Run) -> Vec<lint::Problem> {
    let files = lint::read_dir(run.path()).unwrap();
    lint::check(&files, &secret_values(run))
}

/// A rendered `kubernetes/` (files and the stack's secrets) that passes
/// every own check, for the broken copies below.
struct Rendered {
    files: BTreeMap<String, String>,
    secrets: Vec<String>,
}

fn rendered(c: Config) -> Rendered {
    let run = render_both(&c);
    let r = Rendered {
        files: lint::read_dir(run.path()).unwrap(),
        secrets: secret_values(&run),
    };
    assert_eq!(lint::check(&r.files, &r.secrets), vec![], "{}", c.name);
    r
}

/// Three bridges pinned to three nodes on their host ports, a recorder.
fn hostport_render() -> &'static Rendered {
    static R: std::sync::OnceLock<Rendered> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        rendered(config(
            "lint-hostport",
            "jibri",
            &[
                ("JVB_INSTANCES", "3"),
                ("ENABLE_RECORDING", "1"),
                ("JITSI_STACK_K8S_BRIDGE_NODES", "node-a,node-b,node-c"),
            ],
        ))
    })
}

fn nodeport_render() -> &'static Rendered {
    static R: std::sync::OnceLock<Rendered> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        rendered(config(
            "lint-nodeport",
            "",
            &[
                ("JVB_INSTANCES", "2"),
                ("JITSI_STACK_K8S_MEDIA", "nodeport"),
                ("JVB_ADVERTISE_IPS", "203.0.113.7"),
            ],
        ))
    })
}

/// The own checks' findings on a copy of `r` with `from` replaced by `to`
/// (first occurrence) in `file`.
fn broken(r: &Rendered, file: &str, from: &str, to: &str) -> Vec<lint::Problem> {
    let mut files = r.files.clone();
    let text = files.get_mut(file).unwrap_or_else(|| panic!("no {file}"));
    assert!(text.contains(from), "{file} has no {from:?}");
    *text = text.replacen(from, to, 1);
    lint::check(&files, &r.secrets)
}

/// Asserts that `problems` has one of `check` whose text contains `needle`.
fn assert_finding(problems: &[lint::Problem], check: &str, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.check == check && p.to_string().contains(needle)),
        "no [{check}] finding containing {needle:?} in:\n{}",
        problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn kubernetes_own_check_names_fails_on_a_broken_copy() {
    let r = hostport_render();
    // A Service name that is not a DNS-1123 label.
    let p = broken(r, "prosody.yaml", "name: xmpp\n", "name: XMPP_server\n");
    assert_finding(
        &p,
        "name",
        "Service/XMPP_server: name \"XMPP_server\" is not a DNS-1123 label",
    );
    // A workload name over 63 characters.
    let long = "j".repeat(64);
    let p = broken(
        r,
        "jicofo.yaml",
        "  name: jicofo\n",
        &format!("  name: {long}\n"),
    );
    assert_finding(&p, "name", &format!("Deployment/{long}: name"));
    // A generated name that is no DNS-1123 subdomain once kustomize adds its hash.
    let p = broken(
        r,
        "kustomization.yaml",
        "- name: web-config\n",
        &format!("- name: web-{}\n", "c".repeat(250)),
    );
    assert_finding(&p, "name", "is not a DNS-1123 subdomain");
    // A volume name.
    let p = broken(
        r,
        "jvb-2.yaml",
        "- name: tmpfs-run\n        emptyDir",
        "- name: tmpfs_run\n        emptyDir",
    );
    assert_finding(&p, "name", "volume name \"tmpfs_run\"");
}

#[test]
fn kubernetes_own_check_port_names_fails_on_a_broken_copy() {
    let r = hostport_render();
    let p = broken(
        r,
        "jvb-2.yaml",
        "name: udp-10001\n",
        "name: udp-media-port-1\n",
    );
    assert_finding(
        &p,
        "port-name",
        "\"udp-media-port-1\" is not an IANA service name",
    );
    let p = broken(r, "web.yaml", "name: tcp-8000\n", "name: '8000'\n");
    assert_finding(&p, "port-name", "\"8000\" is not an IANA service name");
}

#[test]
fn kubernetes_own_check_selectors_fails_on_a_broken_copy() {
    let r = hostport_render();
    // A Deployment whose selector is not in its pods' labels.
    let p = broken(
        r,
        "jicofo.yaml",
        "matchLabels:\n      app.kubernetes.io/instance: jicofo\n",
        "matchLabels:\n      app.kubernetes.io/instance: jicofo-x\n",
    );
    assert_finding(&p, "selector", "Deployment/jicofo: spec.selector");
    // A StatefulSet's.
    let p = broken(
        r,
        "jvb-2.yaml",
        "matchLabels:\n      app.kubernetes.io/instance: jvb-2\n",
        "matchLabels:\n      app.kubernetes.io/instance: jvb-9\n",
    );
    assert_finding(&p, "selector", "StatefulSet/jvb-2: spec.selector");
    // A Service that selects no pod.
    let p = broken(
        r,
        "web.yaml",
        "  selector:\n    app.kubernetes.io/instance: web\n",
        "  selector:\n    app.kubernetes.io/instance: webb\n",
    );
    assert_finding(&p, "selector", "Service/web: spec.selector");
    // The bridges' PodDisruptionBudget.
    let p = broken(
        r,
        "jvb.yaml",
        "matchLabels:\n      app.kubernetes.io/component: jvb\n",
        "matchLabels:\n      app.kubernetes.io/component: bridge\n",
    );
    assert_finding(&p, "selector", "PodDisruptionBudget/jvb");
    // prosody's NetworkPolicy.
    let p = broken(
        r,
        "network-policies.yaml",
        "podSelector:\n    matchLabels:\n      app.kubernetes.io/instance: prosody\n",
        "podSelector:\n    matchLabels:\n      app.kubernetes.io/instance: prosodie\n",
    );
    assert_finding(&p, "selector", "NetworkPolicy/prosody-clients");
}

#[test]
fn kubernetes_own_check_references_fails_on_a_broken_copy() {
    let r = hostport_render();
    let p = broken(
        r,
        "jvb-2.yaml",
        "name: jvb-2-config\n",
        "name: jvb-2-konfig\n",
    );
    assert_finding(&p, "reference", "ConfigMap \"jvb-2-konfig\" does not exist");
    let p = broken(
        r,
        "jvb-2.yaml",
        "secretName: jvb-2-files\n",
        "secretName: jvb-2-filez\n",
    );
    assert_finding(&p, "reference", "Secret \"jvb-2-filez\" does not exist");
    let p = broken(
        r,
        "jvb-2.yaml",
        "subPath: logging.properties\n",
        "subPath: log.properties\n",
    );
    assert_finding(
        &p,
        "reference",
        "subPath \"log.properties\" is no key of ConfigMap \"jvb-2-config\"",
    );
    let p = broken(
        r,
        "jvb-2.yaml",
        "key: JVB_AUTH_PASSWORD\n",
        "key: JVB_PASSWORD\n",
    );
    assert_finding(
        &p,
        "reference",
        "env JVB_AUTH_PASSWORD: \"JVB_PASSWORD\" is no key of Secret \"jitsi-env\"",
    );
    let p = broken(
        r,
        "jvb-2.yaml",
        "- name: tmpfs-tmp\n          mountPath",
        "- name: tmpfs-var\n          mountPath",
    );
    assert_finding(
        &p,
        "reference",
        "volumeMount /tmp: volume \"tmpfs-var\" does not exist",
    );
    // prosody's data claim renamed: its mount no longer resolves.
    let p = broken(
        r,
        "prosody.yaml",
        "  - metadata:\n      name: storage-prosody\n",
        "  - metadata:\n      name: prosody-data\n",
    );
    assert_finding(
        &p,
        "reference",
        "volumeMount /var/lib/prosody: volume \"storage-prosody\" does not exist",
    );
    // The Ingress's backend port.
    let p = broken(r, "web.yaml", "number: 8000\n", "number: 80\n");
    assert_finding(&p, "reference", "backend Service \"web\" has no port 80");
    // A generator's input file.
    let p = broken(
        r,
        "kustomization.yaml",
        "config.js=config/web/config.js",
        "config.js=config/web/konfig.js",
    );
    assert_finding(&p, "reference", "file config/web/konfig.js does not exist");
}

#[test]
fn kubernetes_own_check_port_ranges_fails_on_a_broken_copy() {
    let r = nodeport_render();
    let p = broken(r, "jvb-2.yaml", "nodePort: 30001\n", "nodePort: 20001\n");
    assert_finding(
        &p,
        "port",
        "nodePort 20001 is outside the node port range 30000-32767",
    );
    let p = broken(r, "jvb-2.yaml", "nodePort: 30001\n", "nodePort: 30000\n");
    assert_finding(
        &p,
        "port",
        "nodePort 30000 is also used by Service/jvb-media",
    );
    let p = broken(
        r,
        "web.yaml",
        "containerPort: 8000\n",
        "containerPort: 88888\n",
    );
    assert_finding(&p, "port", "containerPort 88888 is outside 1-65535");
    let p = broken(
        r,
        "web.yaml",
        "    port: 8000\n    targetPort",
        "    port: 0\n    targetPort",
    );
    assert_finding(&p, "port", "Service/web: port 0 is outside 1-65535");
    // A probe's port (web's health check is the kubelet's GET of 8000).
    let p = broken(
        r,
        "web.yaml",
        "            port: 8000\n",
        "            port: 0\n",
    );
    assert_finding(
        &p,
        "port",
        "Deployment/web: startupProbe.httpGet.port 0 is outside 1-65535",
    );
    let p = broken(
        r,
        "web.yaml",
        "            port: 8000\n",
        "            port: 8080\n",
    );
    assert_finding(
        &p,
        "reference",
        "Deployment/web: startupProbe.httpGet.port 8080 is no port of the container",
    );
}

#[test]
fn kubernetes_own_check_host_ports_fails_on_a_broken_copy() {
    let r = hostport_render();
    let mut files = r.files.clone();
    let f = files.get_mut("jvb-2.yaml").unwrap();
    *f = f
        .replacen(
            "kubernetes.io/hostname: node-b\n",
            "kubernetes.io/hostname: node-a\n",
            1,
        )
        .replacen("hostPort: 10001\n", "hostPort: 10000\n", 1);
    let p = lint::check(&files, &r.secrets);
    assert_finding(
        &p,
        "host-port",
        "StatefulSet/jvb-2: hostPort 10000/UDP is also used by StatefulSet/jvb on node node-a",
    );
    // The same port on different nodes is fine.
    let p = broken(r, "jvb-2.yaml", "hostPort: 10001\n", "hostPort: 10000\n");
    assert_eq!(p, vec![]);
    // A bridge pinned to no node may land on node-a.
    let p = broken(
        r,
        "jvb-2.yaml",
        "      nodeSelector:\n        kubernetes.io/hostname: node-b\n",
        "",
    );
    let mut files = r.files.clone();
    let f = files.get_mut("jvb-2.yaml").unwrap();
    *f = f
        .replacen(
            "      nodeSelector:\n        kubernetes.io/hostname: node-b\n",
            "",
            1,
        )
        .replacen("hostPort: 10001\n", "hostPort: 10000\n", 1);
    assert_eq!(p, vec![]);
    let p = lint::check(&files, &r.secrets);
    assert_finding(
        &p,
        "host-port",
        "hostPort 10000/UDP is also used by StatefulSet/jvb on node node-a",
    );
}

#[test]
fn kubernetes_own_check_secrets_fails_on_a_broken_copy() {
    let r = hostport_render();
    let secret = r.secrets.iter().find(|s| s.len() >= 8).expect("a secret");
    let mut files = r.files.clone();
    files
        .get_mut("config/web/config.js")
        .unwrap()
        .push_str(&format!("// {secret}\n"));
    let p = lint::check(&files, &r.secrets);
    assert_finding(
        &p,
        "secret",
        "kubernetes/config/web/config.js: holds a secret value of .env",
    );
    // Under secrets/ it is where it belongs.
    let mut files = r.files.clone();
    files.insert("secrets/extra.env".into(), format!("X={secret}\n"));
    assert_eq!(lint::check(&files, &r.secrets), vec![]);
}

/// `check` output for a fresh stack with `vars`: (exit status, stderr).
fn check_with(vars: &[(&str, &str)]) -> String {
    let run = init_stack(vars, &[]);
    let run = Test::again(run).args(["check"]).status(1).run();
    run.stderr
}

#[test]
fn kubernetes_check_validates_the_settings() {
    // Names: the namespace is a DNS-1123 label, the ingress class a subdomain.
    let err = check_with(&[
        ("JITSI_STACK_K8S_NAMESPACE", "Meet_Prod"),
        ("JITSI_STACK_K8S_INGRESS_CLASS", "Nginx Ingress"),
    ]);
    assert!(
        err.contains("JITSI_STACK_K8S_NAMESPACE: not a valid DNS-1123 label")
            && err.contains("found:    \"Meet_Prod\"")
            && err.contains("JITSI_STACK_K8S_INGRESS_CLASS: not a valid DNS-1123 subdomain"),
        "{err}"
    );
    assert!(err.contains("fix:      edit line"), "{err}");
    // The cluster DNS is an address; quantities parse.
    let err = check_with(&[
        ("JITSI_STACK_K8S_DNS", "kube-dns"),
        ("JITSI_STACK_K8S_RECORDINGS_STORAGE", "lots"),
        ("JITSI_STACK_K8S_PROSODY_STORAGE", "2Gi"),
    ]);
    assert!(
        err.contains("JITSI_STACK_K8S_DNS: not a valid IP address")
            && err.contains("JITSI_STACK_K8S_RECORDINGS_STORAGE: not a valid quantity")
            && !err.contains("JITSI_STACK_K8S_PROSODY_STORAGE"),
        "{err}"
    );
    // Node names, and one named node per bridge.
    let err = check_with(&[
        ("JVB_INSTANCES", "3"),
        ("JITSI_STACK_K8S_BRIDGE_NODES", "node-a,node-b"),
    ]);
    assert!(
        err.contains("JITSI_STACK_K8S_BRIDGE_NODES: 2 node(s) for 3 bridge(s)")
            && err.contains("expected: one node per bridge: 3 (JVB_INSTANCES)")
            && err.contains("found:    JITSI_STACK_K8S_BRIDGE_NODES=node-a,node-b")
            && err.contains("fix:      name 3 nodes in JITSI_STACK_K8S_BRIDGE_NODES"),
        "{err}"
    );
    let err = check_with(&[("JITSI_STACK_K8S_BRIDGE_NODES", "Node_A")]);
    assert!(
        err.contains("JITSI_STACK_K8S_BRIDGE_NODES: not a valid node list"),
        "{err}"
    );
    // Node ports in range for every bridge.
    let err = check_with(&[
        ("JVB_INSTANCES", "3"),
        ("JITSI_STACK_K8S_MEDIA", "nodeport"),
        ("JITSI_STACK_K8S_NODEPORT_BASE", "32766"),
    ]);
    assert!(
        err.contains("bridge 3 would get node port 32768")
            && err.contains("fix:      lower JITSI_STACK_K8S_NODEPORT_BASE to at most 32765"),
        "{err}"
    );
    // Several bridges behind load balancers of their own: a warning.
    let run = init_stack(
        &[
            ("JVB_INSTANCES", "2"),
            ("JITSI_STACK_K8S_MEDIA", "loadbalancer"),
        ],
        &[],
    );
    let run = Test::again(run).args(["check"]).run();
    assert!(
        run.stderr.contains("warning:")
            && run.stderr.contains(
                "2 bridges, each behind a load balancer of its own, all announce JVB_ADVERTISE_IPS"
            )
            && run.stderr.contains("allow-shared-ip"),
        "{}",
        run.stderr
    );
    // A valid set passes, and render uses the claim sizes.
    let run = init_stack(
        &[
            ("JVB_INSTANCES", "2"),
            ("JITSI_STACK_K8S_BRIDGE_NODES", "node-a,node-b.example"),
            ("JITSI_STACK_K8S_PROSODY_STORAGE", "3Gi"),
        ],
        &[],
    );
    let run = Test::again(run).args(["check"]).run();
    let run = Test::again(run)
        .args(["render", "--target", "kubernetes"])
        .run();
    assert!(run.read("kubernetes/prosody.yaml").contains("storage: 3Gi"));
}

#[test]
fn kubernetes_check_runs_the_own_checks_over_kubernetes_dir() {
    let run = init_stack(&[], &[]);
    let run = Test::again(run)
        .args(["render", "--target", "kubernetes"])
        .run();
    let run = Test::again(run).args(["check"]).run();
    let web = run.path().join("kubernetes/web.yaml");
    let text = std::fs::read_to_string(&web).unwrap();
    std::fs::write(&web, text.replace("number: 8000", "number: 80")).unwrap();
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr.contains(
            "error: kubernetes/web.yaml: Ingress/web: backend Service \"web\" has no port 80 [rule reference]"
        ) && run
            .stderr
            .contains("fix:      run `jitsi-stack render --target kubernetes`"),
        "{}",
        run.stderr
    );
}

/// A main bridge pinned to a node with its own address, a bridge node with
/// a region running in the cluster (two bridges), and one outside it.
fn regions_config() -> Config {
    config(
        "regions",
        "",
        &[
            ("JITSI_STACK_MAIN_ADDRESS", "192.0.2.1"),
            (
                "JITSI_STACK_NODE_BRIDGE_2",
                "'jvb address=192.0.2.2 region=eu-west advertise=203.0.113.20 instances=2'",
            ),
            (
                "JITSI_STACK_NODE_BRIDGE_2_PASSWORD",
                "0123456789abcdef0123aa",
            ),
            (
                "JITSI_STACK_NODE_FAR",
                "'jvb address=198.51.100.9 region=us-east'",
            ),
            ("JITSI_STACK_NODE_FAR_PASSWORD", "0123456789abcdef0123bb"),
            ("ENABLE_OCTO", "1"),
            (
                "OCTO_BRIDGE_SELECTION_STRATEGY",
                "RegionBasedBridgeSelectionStrategy",
            ),
            ("JICOFO_OCTO_REGION", "eu-central"),
            ("JITSI_STACK_K8S_CLUSTER_NODES", "bridge-2"),
            ("JITSI_STACK_K8S_BRIDGE_NODES", "node-a=203.0.113.10"),
        ],
    )
}

fn env_of(w: &Value, name: &str) -> Option<String> {
    w["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(String::from))
}

#[test]
fn kubernetes_regions_and_outside_nodes() {
    let c = regions_config();
    let run = render_both(&c);
    let yaml = kustomize(run.path());
    for v in versions_to_check() {
        if let Err(e) = validate(&yaml, &v) {
            panic!("kubernetes-validate --strict -k {v}:\n{e}");
        }
    }
    assert_eq!(own_checks(&run), vec![]);
    let docs = documents(&yaml);
    check_secrets(&run, &docs);
    let sts = |n: &str| find(&docs, "StatefulSet", n).unwrap_or_else(|| panic!("no {n}"));
    let selector = |n: &str| sts(n)["spec"]["template"]["spec"]["nodeSelector"].clone();
    // The main bridge: pinned to its node, advertising that node's address.
    assert_eq!(
        selector("jvb"),
        serde_json::json!({"kubernetes.io/hostname": "node-a"})
    );
    assert_eq!(
        env_of(sts("jvb"), "JVB_ADVERTISE_IPS").as_deref(),
        Some("203.0.113.10")
    );
    // The cluster node's two bridges: placed by region, with its OCTO
    // region and advertised address; no bundle for it.
    for b in ["jvb-2", "jvb-3"] {
        assert_eq!(
            selector(b),
            serde_json::json!({"topology.kubernetes.io/region": "eu-west"}),
            "{b}"
        );
        assert_eq!(
            env_of(sts(b), "JVB_OCTO_REGION").as_deref(),
            Some("eu-west")
        );
        assert_eq!(
            env_of(sts(b), "JVB_ADVERTISE_IPS").as_deref(),
            Some("203.0.113.20")
        );
        let conf =
            std::fs::read_to_string(run.path().join(format!("kubernetes/secrets/{b}/jvb.conf")))
                .unwrap();
        assert!(
            conf.contains("region = \"eu-west\"")
                && conf.contains("public-address = \"203.0.113.20\""),
            "{conf}"
        );
        assert!(
            conf.contains(&format!("local-address = \"{b}-0\"")),
            "{conf}"
        );
    }
    assert!(!run.exists("nodes/bridge-2"));
    // The node outside the cluster keeps its bundle, and prosody's 5222
    // is open to its address only.
    assert!(run.exists("nodes/far/.env"));
    let lb = find(&docs, "Service", "xmpp-nodes").expect("xmpp-nodes");
    assert_eq!(lb["spec"]["type"], "LoadBalancer");
    assert_eq!(
        lb["spec"]["loadBalancerSourceRanges"],
        serde_json::json!(["198.51.100.9/32"])
    );
    assert_eq!(lb["spec"]["ports"][0]["port"], 5222);
    let np = find(&docs, "NetworkPolicy", "prosody-clients").unwrap();
    assert_eq!(
        np["spec"]["ingress"][1],
        serde_json::json!({"from": [{"ipBlock": {"cidr": "198.51.100.9/32"}}], "ports": [{"protocol": "TCP", "port": 5222}]})
    );
    // A second render changes nothing, bundles included.
    let bundle = std::fs::metadata(run.path().join("nodes/far/.env"))
        .unwrap()
        .modified()
        .unwrap();
    let run = Test::again(run)
        .args(["render", "--target", "kubernetes"])
        .run();
    assert!(run.stdout.contains("nothing changed"), "{}", run.stdout);
    assert_eq!(
        std::fs::metadata(run.path().join("nodes/far/.env"))
            .unwrap()
            .modified()
            .unwrap(),
        bundle
    );
    // Named nodes must be bridge nodes with a region.
    let run = Test::again(run).args(["check"]).run();
    let env = run.path().join(".env");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(
        &env,
        text.replace(
            "JITSI_STACK_K8S_CLUSTER_NODES=bridge-2",
            "JITSI_STACK_K8S_CLUSTER_NODES=bridge-2,nosuch",
        ),
    )
    .unwrap();
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr.contains(
            "JITSI_STACK_K8S_CLUSTER_NODES: names nosuch, which is no node of this stack"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn kubernetes_external_secrets_are_named_never_written() {
    let c = config("external", "jibri", &[("ENABLE_RECORDING", "1")]);
    let run = render_both(&c);
    let run = Test::again(run)
        .args([
            "render",
            "--with",
            "jibri",
            "--target",
            "kubernetes",
            "--secrets",
            "external",
        ])
        .run();
    assert!(!run.exists("kubernetes/secrets"));
    let secrets = secret_values(&run);
    for f in files_under(&run.path().join("kubernetes")) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !secrets.iter().any(|s| text.contains(s.as_str())),
            "a secret in {}",
            f.display()
        );
    }
    // Every Secret and key the pods reference is in the example, with an
    // empty value to fill: the own checks resolve references against it.
    let files = lint::read_dir(run.path()).unwrap();
    assert_eq!(lint::check(&files, &secrets), vec![]);
    let example = documents(&run.read("kubernetes/secrets.example.yaml"));
    let env = example
        .iter()
        .find(|d| d["metadata"]["name"] == "jitsi-env")
        .expect("jitsi-env in the example");
    assert_eq!(env["stringData"]["JVB_AUTH_PASSWORD"], "");
    let yaml = kustomize(run.path());
    assert!(!documents(&yaml).iter().any(|d| d["kind"] == "Secret"));
    validate(&yaml, &versions_to_check()[1]).unwrap();
    // A key missing from the example is a reference that does not resolve.
    let mut broken = files.clone();
    let ex = broken.get_mut("secrets.example.yaml").unwrap();
    *ex = ex.replacen("JVB_AUTH_PASSWORD: ''", "JVB_AUTH_PASSWORT: ''", 1);
    let p = lint::check(&broken, &secrets);
    assert_finding(
        &p,
        "reference",
        "env JVB_AUTH_PASSWORD: \"JVB_AUTH_PASSWORD\" is no key of Secret \"jitsi-env\"",
    );
}

#[test]
fn kubernetes_own_check_quantities_and_enums_fails_on_a_broken_copy() {
    let r = hostport_render();
    let p = broken(r, "prosody.yaml", "storage: 1Gi\n", "storage: lots\n");
    assert_finding(
        &p,
        "quantity",
        "StatefulSet/prosody: spec.volumeClaimTemplates.spec.resources.requests.storage: \"lots\" is not a Kubernetes quantity",
    );
    let p = broken(r, "jvb-2.yaml", "sizeLimit: ", "sizeLimit: 16MB # ");
    assert_finding(
        &p,
        "quantity",
        "sizeLimit: \"16MB\" is not a Kubernetes quantity",
    );
    let p = broken(r, "jvb-2.yaml", "protocol: UDP\n", "protocol: QUIC\n");
    assert_finding(
        &p,
        "enum",
        "StatefulSet/jvb-2: spec.template.spec.containers.ports.protocol: \"QUIC\" is not one of TCP, UDP, SCTP",
    );
    let p = broken(r, "web.yaml", "pathType: Prefix\n", "pathType: Glob\n");
    assert_finding(
        &p,
        "enum",
        "Ingress/web: spec.rules.http.paths.pathType: \"Glob\"",
    );
    let p = broken(
        r,
        "prosody.yaml",
        "- ReadWriteOnce\n",
        "- ReadWriteSometimes\n",
    );
    assert_finding(&p, "enum", "accessModes: \"ReadWriteSometimes\"");
    let p = broken(
        r,
        "jvb.yaml",
        "podManagementPolicy: Parallel\n",
        "podManagementPolicy: AllAtOnce\n",
    );
    assert_finding(
        &p,
        "enum",
        "StatefulSet/jvb: spec.podManagementPolicy: \"AllAtOnce\"",
    );
}
