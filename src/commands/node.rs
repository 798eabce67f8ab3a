//! `jitsi-stack node add|list|remove`: the nodes of the main host, recorded
//! in its `.env` (see `stack::nodes` for the representation).

use crate::bundle;
use crate::cli::{NodeAddArgs, NodeCommand, NodeKindArg, NodeListArgs, NodeRemoveArgs};
use crate::config::{Stack, Values};
use crate::envfile::EnvFile;
use crate::fsutil;
use crate::journal::{self, Before, Journal, Operation, Step};
use crate::lock::{self, Wait};
use crate::stack::nodes::{self, Node, NodeKind};
use crate::stack::{checks, pki};
use crate::{validate, Exit, UsageError};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub fn run(dir: &Path, cmd: NodeCommand) -> Result<Exit> {
    let env_path = crate::config::env_path(dir)?;
    match cmd {
        NodeCommand::Add(args) => add(dir, &env_path, args),
        NodeCommand::List(args) => list(dir, args),
        NodeCommand::Remove(args) => remove(dir, &env_path, args),
    }
}

/// Re-reads `file` as a stack in `dir` and validates it: a command never
/// leaves a broken `.env`. Nothing is written.
fn checked(dir: &Path, env_path: &Path, file: &EnvFile) -> Result<Stack> {
    let stack = stack_of(dir, env_path, file)?;
    let report = validate::validate(&stack);
    if report.errors() > 0 {
        for f in report
            .findings
            .iter()
            .filter(|f| f.level == validate::Level::Error)
        {
            crate::errln!("{f}");
        }
        bail!(
            "{} would have {} error(s); nothing was written",
            env_path.display(),
            report.errors()
        );
    }
    Ok(stack)
}

/// `file` (edited or not) as the stack in `dir`.
fn stack_of(dir: &Path, env_path: &Path, file: &EnvFile) -> Result<Stack> {
    let text = file.render();
    let parsed = EnvFile::parse(&text).expect("an edited .env re-parses");
    let values = Values::from_file(&parsed);
    let components =
        crate::config::parse_components(&[values.get_or(crate::config::WITH_VAR, "")])?;
    Ok(Stack {
        dir: dir.to_path_buf(),
        env_path: env_path.to_path_buf(),
        file: parsed,
        values,
        components,
        branding_files: crate::config::regular_files(&dir.join(crate::layout::BRANDING_DIR)),
    })
}

/// Refuses a node whose ids (brewery nicknames: its name, then NAME-2...)
/// are already this host's or another node's, before anything is written,
/// and proposes a free name.
fn name_free(stack: &Stack, existing: &[Node], node: &Node) -> Result<()> {
    let mut taken = checks::taken_ids(stack);
    for n in existing {
        for id in n.instance_ids() {
            taken.insert((n.kind, id), format!("node {}", n.name));
        }
    }
    let clash = |n: &Node| {
        n.instance_ids()
            .into_iter()
            .find_map(|id| taken.get(&(n.kind, id.clone())).map(|o| (id, o.clone())))
    };
    let Some((id, owner)) = clash(node) else {
        return Ok(());
    };
    let base = match node.kind {
        NodeKind::Jvb => "bridge",
        NodeKind::Jibri => "recorder",
        NodeKind::Jigasi => "gateway",
        NodeKind::Visitors => "visitors",
    };
    let free = (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|name| {
            let mut n = node.clone();
            n.name = name.clone();
            !existing.iter().any(|e| e.name == *name) && clash(&n).is_none()
        })
        .expect("some name is free");
    Err(UsageError(format!(
        "node name {name} is taken: its {kind} would join the brewery as {id}, \
         which is {owner}'s {kind}; nothing was written. Choose another name, such as \
         {free}: `jitsi-stack node add {kind} {free} --address {addr} ...`",
        name = node.name,
        kind = node.kind,
        addr = node.address,
    ))
    .into())
}

/// `demo/./config` -> `demo/config`, for messages.
fn tidy(p: &Path) -> std::path::PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn kind_of(k: NodeKindArg) -> NodeKind {
    match k {
        NodeKindArg::Jvb => NodeKind::Jvb,
        NodeKindArg::Jibri => NodeKind::Jibri,
        NodeKindArg::Jigasi => NodeKind::Jigasi,
        NodeKindArg::Visitors => NodeKind::Visitors,
    }
}

/// `node add` as typed (the options that change what it does), for the
/// journal: rerunning exactly this finishes an interrupted one.
fn add_command(args: &NodeAddArgs) -> String {
    let kind = match args.kind {
        NodeKindArg::Jvb => "jvb",
        NodeKindArg::Jibri => "jibri",
        NodeKindArg::Jigasi => "jigasi",
        NodeKindArg::Visitors => "visitors",
    };
    let mut c = format!("node add {kind} {} --address {}", args.name, args.address);
    if let Some(a) = &args.advertise {
        c.push_str(&format!(" --advertise {a}"));
    }
    if let Some(r) = &args.region {
        c.push_str(&format!(" --region {r}"));
    }
    if args.instances != 1 {
        c.push_str(&format!(" --instances {}", args.instances));
    }
    if let Some(m) = &args.main_address {
        c.push_str(&format!(" --main-address {m}"));
    }
    c
}

/// One step of a node operation, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum NodeStep {
    /// `.env` (and `.env.bak`) as planned.
    Env,
    /// The nodes' CA.
    Ca,
    /// prosody's certificates for the planned domains.
    Leaves,
}

/// What a `node add` or `node remove` records in the stack journal before
/// its first change: the planned result (so a rerun after a kill ends in
/// exactly it, the generated password included) and every path it may
/// change as it was (so `rollback` puts them back: contents, modes, owners).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct NodeData {
    /// The command that finishes it (`node add jvb b2 --address ...`).
    command: String,
    node: String,
    steps: Vec<NodeStep>,
    /// The file `.env` is written to (the link's target if it is one).
    env: PathBuf,
    new_env: String,
    /// What `.env.bak` becomes: the `.env` before.
    new_bak: String,
    config: PathBuf,
    #[serde(default)]
    pki: pki::Plan,
    /// `node add jibri` turned recording on (for its output).
    #[serde(default)]
    recording_on: bool,
    /// Every path the operation may change, as it was.
    before: Vec<Before>,
}

/// The paths a node operation may change, as they are now: `.env` and its
/// backup, and with a certificate plan, CONFIG's missing parents, the CA
/// directory and its files, the certificates' directories and files.
fn record_before(env: &Path, config: &Path, plan: &pki::Plan) -> Result<Vec<Before>> {
    let mut paths = vec![env.to_path_buf(), fsutil::backup_path(env)];
    if !plan.is_empty() {
        let mut missing = vec![];
        let mut p = config.to_path_buf();
        while std::fs::symlink_metadata(&p).is_err() {
            missing.push(p.clone());
            match p.parent() {
                Some(q) if !q.as_os_str().is_empty() => p = q.to_path_buf(),
                _ => break,
            }
        }
        paths.extend(missing);
    }
    if plan.ca {
        let ca = config.join(pki::CA_DIR);
        paths.push(pki::ca_cert_path(config));
        paths.push(ca.join("ca.key"));
        paths.push(ca);
    }
    if !plan.leaves.is_empty() {
        paths.extend(pki::LEAF_DIRS.iter().map(|(rel, _)| config.join(rel)));
        for d in &plan.leaves {
            let (crt, key) = pki::leaf_paths(config, d);
            paths.push(crt);
            paths.push(key);
        }
    }
    paths.iter().map(|p| Before::of(p)).collect()
}

/// Begins a node operation: the journal, with its plan and every path as
/// it was, written and fsynced before anything changes.
fn begin(dir: &Path, title: String, data: NodeData) -> Result<Journal> {
    let steps = data
        .steps
        .iter()
        .map(|s| match s {
            NodeStep::Env => Step::new(
                format!("writing .env with node {}'s change", data.node),
                "put .env and .env.bak back as they were",
            ),
            NodeStep::Ca => Step::new(
                format!(
                    "making the nodes' CA in {}",
                    tidy(&data.config.join(pki::CA_DIR)).display()
                ),
                "remove the CA directory (or empty it again)",
            ),
            NodeStep::Leaves => Step::new(
                format!(
                    "making prosody's certificates for {}",
                    data.pki.leaves.join(", ")
                ),
                "remove them and the directories made for them; owners and modes as they were",
            ),
        })
        .collect();
    let op = Operation {
        command: data
            .command
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        title,
        recovery: vec![
            (data.command.clone(), "finish it".into()),
            ("rollback".into(), "undo it".into()),
        ],
    };
    Journal::begin(dir, op, steps, serde_json::to_value(&data)?)
}

/// Runs the steps not done yet (each idempotent), then removes the
/// journal. A step that fails (not a kill) is undone with the others, and
/// the error returned: the stack is then as it was.
fn carry_out(mut j: Journal, data: &NodeData) -> Result<()> {
    let dirs: Vec<PathBuf> = data
        .before
        .iter()
        .filter(|b| matches!(b.was, journal::Was::Dir { .. }))
        .map(|b| b.path.clone())
        .collect();
    let result = (|| -> Result<()> {
        for (n, step) in data.steps.iter().enumerate() {
            if j.steps[n].done {
                continue;
            }
            match step {
                NodeStep::Env => write_env(&data.env, &data.new_env, &data.new_bak)?,
                NodeStep::Ca => {
                    pki::remove_stale(&data.config);
                    pki::make_ca(&data.config)?;
                }
                NodeStep::Leaves => {
                    pki::remove_stale(&data.config);
                    let ours: Vec<PathBuf> = data
                        .before
                        .iter()
                        .filter(|b| b.absent())
                        .map(|b| b.path.clone())
                        .collect();
                    pki::make_leaves(&data.config, &data.pki.leaves, &ours)?;
                }
            }
            j.done(n)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        return match journal::put_back(&data.before) {
            Ok(()) => {
                j.finish()?;
                Err(e.context(format!("{}: nothing was changed", data.command)))
            }
            Err(u) => Err(e.context(format!(
                "{} failed, and undoing it failed too ({u:#}): `jitsi-stack rollback` undoes it",
                data.command
            ))),
        };
    }
    // What killed writers left in the directories it wrote in.
    for d in &dirs {
        journal::remove_stale(d);
        fsutil::remove_stale_temps(d);
    }
    pki::remove_stale(&data.config);
    j.finish()
}

/// `.env` as planned, and `.env.bak` holding the one before (as
/// `EnvFile::write` leaves them), each written atomically only if it
/// differs: a rerun after a kill ends in the same two files.
fn write_env(env: &Path, new_env: &str, new_bak: &str) -> Result<()> {
    let meta = std::fs::metadata(env).with_context(|| format!("reading {}", env.display()))?;
    let perms = fsutil::Perms::keep_secret(&meta);
    let bak = fsutil::backup_path(env);
    if std::fs::read(&bak).ok().as_deref() != Some(new_bak.as_bytes()) {
        fsutil::write_atomic(&bak, new_bak.as_bytes(), perms)?;
    }
    if std::fs::read(env).ok().as_deref() != Some(new_env.as_bytes()) {
        fsutil::write_atomic(env, new_env.as_bytes(), perms)?;
    }
    Ok(())
}

/// `.env` as it is on disk (through a link), for `.env.bak`.
fn read_text(env_path: &Path) -> Result<String> {
    let target = fsutil::write_target(env_path)?;
    String::from_utf8(fsutil::read_regular(&target)?)
        .with_context(|| format!("{} is not UTF-8", target.display()))
}

/// The pending node operation's plan, if the journal holds one.
fn node_data(j: &Journal) -> Result<NodeData> {
    serde_json::from_value(j.data.clone()).with_context(|| {
        format!(
            "the journal of {} is not a node operation's plan",
            j.operation.title
        )
    })
}

/// `rollback` of an interrupted `node add` or `node remove`: every path it
/// may have changed put back as it was (contents, modes, owners), then the
/// journal removed. Idempotent. Call it under the lock.
pub fn undo(j: Journal) -> Result<Exit> {
    let data = node_data(&j)?;
    pki::remove_stale(&data.config);
    journal::put_back(&data.before)?;
    let title = j.operation.title.clone();
    j.finish()?;
    crate::outln!("undid {title}: .env and CONFIG are as they were before it");
    Ok(Exit::Ok)
}

/// The pending journal, when it is a node operation this `command` finishes;
/// any other pending operation refuses.
fn resumable(dir: &Path, command: &str) -> Result<Option<(Journal, NodeData)>> {
    match journal::pending(dir)? {
        None => Ok(None),
        Some(j) if j.operation.recovery.first().map(|(c, _)| c.as_str()) == Some(command) => {
            let data = node_data(&j)?;
            crate::outln!("{}; finishing it", j.interrupted_short());
            Ok(Some((j, data)))
        }
        Some(j) => bail!("{}", j.interrupted()),
    }
}

fn add(dir: &Path, env_path: &Path, args: NodeAddArgs) -> Result<Exit> {
    nodes::check_name(&args.name)
        .map_err(|e| UsageError(format!("node name {:?}: expected {e}", args.name)))?;
    // Everything below is read and written under the lock: two `node add`s
    // (or a `render`, a `gen-passwords`) never lose each other's changes.
    let _lock = lock::acquire(dir, Wait::default())?;
    let command = add_command(&args);
    if let Some((j, data)) = resumable(dir, &command)? {
        carry_out(j, &data)?;
        let file = EnvFile::read(env_path)?;
        let node = nodes::nodes(&file)
            .into_iter()
            .find(|n| n.name == args.name)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "node {} is not in {} after all",
                    args.name,
                    env_path.display()
                )
            })?;
        let stack = stack_of(dir, env_path, &file)?;
        let recording_on = data.recording_on;
        let made = pki::Made {
            ca: data.pki.ca,
            leaves: data.pki.leaves.clone(),
        };
        return Ok(added(dir, env_path, &stack, &node, recording_on, &made));
    }
    let mut file = EnvFile::read(env_path)?;
    let old_text = read_text(env_path)?;
    let existing = nodes::nodes(&file);
    if existing.iter().any(|n| n.name == args.name) {
        return Err(UsageError(format!(
            "node {} is already listed ({}): to move it, edit its address in .env; to replace it, `jitsi-stack node remove {}` first",
            args.name,
            nodes::var_name(&args.name),
            args.name
        ))
        .into());
    }
    if nodes::is_bundle(&Values::from_file(&file)) {
        return Err(UsageError(
            "this is a node's bundle: add nodes on the main host, then copy their bundles".into(),
        )
        .into());
    }
    // A visitor node gets the first index never given (never reused).
    let visitor_index = (args.kind == NodeKindArg::Visitors)
        .then(|| visitors_index(&file, &args))
        .transpose()?;
    // Each field on its own, then the line read back by the parser `check` uses.
    let node: Node = match visitor_index {
        Some(index) => nodes::visitor_from_fields(&args.name, &args.address, index),
        None => nodes::node_from_fields(
            &args.name,
            kind_of(args.kind),
            &args.address,
            args.advertise.as_deref(),
            args.region.as_deref(),
            args.instances,
        ),
    }
    .map_err(|e| {
        UsageError(format!(
            "node {}: {}; expected {}, found {}",
            args.name, e.message, e.expected, e.found
        ))
    })?;
    name_free(&stack_of(dir, env_path, &file)?, &existing, &node)?;
    let mut pairs = vec![(node.var(), node.spec())];
    // A recorder node records nothing with recording off: turn it on in
    // the same write (jibri on this host turns it on by itself).
    let recording_on = node.kind == NodeKind::Jibri && !stack_of(dir, env_path, &file)?.recording();
    if recording_on {
        pairs.push(("ENABLE_RECORDING".to_string(), "1".to_string()));
    }
    pairs.extend(visitors_pairs(&file, visitor_index));
    if let Some(a) = &args.main_address {
        if let Err(expected) = nodes::check_main_address(a) {
            return Err(UsageError(format!("--main-address {a:?}: expected {expected}")).into());
        }
        pairs.push((nodes::MAIN_ADDRESS.to_string(), a.clone()));
    } else if !file.is_set(nodes::MAIN_ADDRESS) {
        return Err(UsageError(format!(
            "the nodes need this host's address and {} is not set: pass --main-address IP (the address of this host the node reaches)",
            nodes::MAIN_ADDRESS
        ))
        .into());
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    file.set_many(&refs)?;
    nodes::fill_passwords(&mut file)?;
    let stack = checked(dir, env_path, &file)?;
    let plan = pki::plan(&stack)?;
    // The plan, and every path it may change as it is now, recorded
    // (fsynced) before the first change.
    // Absolute: a rerun may come from another directory (`--dir`).
    let env = std::path::absolute(fsutil::write_target(env_path)?)?;
    let config = std::path::absolute(stack.config_dir())?;
    let mut steps = vec![NodeStep::Env];
    if plan.ca {
        steps.push(NodeStep::Ca);
    }
    if !plan.leaves.is_empty() {
        steps.push(NodeStep::Leaves);
    }
    let data = NodeData {
        command: command.clone(),
        node: node.name.clone(),
        steps,
        before: record_before(&env, &config, &plan)?,
        env,
        new_env: file.render(),
        new_bak: old_text,
        config,
        pki: plan.clone(),
        recording_on,
    };
    let j = begin(
        dir,
        format!("a `node add` of {} ({})", node.name, node.kind),
        data.clone(),
    )?;
    carry_out(j, &data)?;
    let made = pki::Made {
        ca: plan.ca,
        leaves: plan.leaves,
    };
    Ok(added(dir, env_path, &stack, &node, recording_on, &made))
}

/// What `node add` says once the node is added.
fn added(
    dir: &Path,
    env_path: &Path,
    stack: &Stack,
    node: &Node,
    recording_on: bool,
    made: &pki::Made,
) -> Exit {
    crate::outln!(
        "added node {} ({}, address {}): {} in {}",
        node.name,
        node.kind,
        node.address,
        node.var(),
        env_path.display()
    );
    if let Some(i) = node.index {
        crate::outln!(
            "  visitor node v{i} (v{i}.meet.jitsi): jicofo logs in to it as focus with its own password ({}); main prosody reaches it over s2s",
            node.password_var()
        );
    } else {
        crate::outln!(
            "  its XMPP account: {}@{} (password {})",
            node.account(),
            stack.values.get_or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
            node.password_var()
        );
    }
    if recording_on {
        crate::outln!("  set ENABLE_RECORDING=1 (recorder nodes record only with recording on)");
    }
    if made.ca {
        crate::outln!(
            "  made the nodes' CA in {} (the bundles pin it)",
            tidy(&stack.config_dir().join(pki::CA_DIR)).display()
        );
    }
    for d in &made.leaves {
        crate::outln!("  made prosody's certificate for {d} (issued by that CA)");
    }
    crate::outln!("next:");
    crate::outln!(
        "  1. jitsi-stack --dir {} up            (publishes XMPP on {}, creates the account)",
        dir.display(),
        stack.values.get_or(nodes::MAIN_ADDRESS, "?")
    );
    crate::outln!(
        "  2. jitsi-stack --dir {} ports         (the firewall lines that let only the nodes in)",
        dir.display()
    );
    crate::outln!(
        "  3. copy {}/ to the node, and there: jitsi-stack --dir {} doctor && jitsi-stack --dir {} up",
        dir.join(bundle::DIR).join(&node.name).display(),
        node.name,
        node.name
    );
    Exit::Ok
}

/// The index `node add visitors` gives: the first never given on this
/// host or another (docs/visitors.md); refuses the other kinds' options.
fn visitors_index(file: &EnvFile, args: &NodeAddArgs) -> Result<u32> {
    if args.advertise.is_some() || args.region.is_some() || args.instances != 1 {
        return Err(UsageError(format!(
            "node {}: a visitor node takes --address only (no --advertise, --region or --instances); nothing was written",
            args.name
        ))
        .into());
    }
    let next = crate::stack::visitors::assignment(&Values::from_file(file)).next;
    if next > crate::stack::visitors::MAX_INDEX {
        return Err(UsageError(format!(
            "every visitor node index up to {} was given; nothing was written",
            crate::stack::visitors::MAX_INDEX
        ))
        .into());
    }
    Ok(next)
}

/// What `node add visitors` writes besides the node: the next index
/// recorded (so it is never given again, even after `node remove`), and
/// visitors turned on.
fn visitors_pairs(file: &EnvFile, index: Option<u32>) -> Vec<(String, String)> {
    use crate::stack::visitors;
    let Some(index) = index else {
        return vec![];
    };
    let v = Values::from_file(file);
    let mut out: Vec<(String, String)> = visitors::settings(&v)
        .into_iter()
        .map(|(k, x)| (k.to_string(), x))
        .collect();
    out.retain(|(k, _)| k != visitors::NEXT_VAR);
    out.push((visitors::NEXT_VAR.to_string(), (index + 1).to_string()));
    if !v.bool("ENABLE_VISITORS") {
        out.push(("ENABLE_VISITORS".to_string(), "1".to_string()));
    }
    out
}

fn list(dir: &Path, args: NodeListArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let (all, problems) = nodes::parse_all(&stack.file);
    let domain = stack.values.get_or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
    if args.json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|n| {
                serde_json::json!({
                    "name": n.name,
                    "kind": n.kind,
                    "address": n.address.to_string(),
                    "advertise": n.advertise,
                    "region": n.region,
                    "instances": n.instances,
                    "instance_ids": n.instance_ids(),
                    "account": format!("{}@{domain}", n.account()),
                    "bundle": format!("{}/{}", bundle::DIR, n.name),
                    "bundle_rendered": dir.join(bundle::DIR).join(&n.name).join(".env").exists(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "format_version": crate::commands::JSON_FORMAT_VERSION,
            "main_address": stack.values.raw(nodes::MAIN_ADDRESS),
            "nodes": rows,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else if all.is_empty() {
        crate::outln!("no nodes (add one with `jitsi-stack node add jvb NAME --address IP`)");
    } else {
        crate::outln!(
            "{:<16} {:<7} {:<16} {:<24} {:<10} {:<9} account",
            "name",
            "kind",
            "address",
            "advertise",
            "region",
            "instances"
        );
        for n in &all {
            crate::outln!(
                "{:<16} {:<7} {:<16} {:<24} {:<10} {:<9} {}@{domain}",
                n.name,
                n.kind,
                n.address,
                if n.advertise.is_empty() {
                    "-".to_string()
                } else {
                    n.advertise.join(",")
                },
                n.region.as_deref().unwrap_or("-"),
                n.instances,
                n.account()
            );
        }
    }
    for p in &problems {
        crate::errln!(
            "warning: {}:{}: {}: {} (not listed; see `jitsi-stack check`)",
            stack.env_path.display(),
            p.line.unwrap_or(0),
            p.var,
            p.message
        );
    }
    Ok(Exit::Ok)
}

fn remove(dir: &Path, env_path: &Path, args: NodeRemoveArgs) -> Result<Exit> {
    let _lock = lock::acquire(dir, Wait::default())?;
    let var = nodes::var_name(&args.name);
    let password = format!("{var}{}", nodes::PASSWORD_SUFFIX);
    let command = format!("node remove {}", args.name);
    if let Some((j, data)) = resumable(dir, &command)? {
        carry_out(j, &data)?;
    } else {
        // Read under the lock; one planned write of .env, journaled like
        // every change of it beyond a single file.
        let mut file = EnvFile::read(env_path)?;
        let old_text = read_text(env_path)?;
        if nodes::check_name(&args.name).is_err() || !file.entries().any(|e| e.key == var) {
            let names: Vec<String> = nodes::nodes(&file).into_iter().map(|n| n.name).collect();
            return Err(UsageError(format!(
                "no node {:?} in {}; the nodes are: {}",
                args.name,
                env_path.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
            .into());
        }
        file.remove(&var);
        file.remove(&password);
        let stack = checked(dir, env_path, &file)?;
        // Absolute: a rerun may come from another directory (`--dir`).
        let env = std::path::absolute(fsutil::write_target(env_path)?)?;
        let config = std::path::absolute(stack.config_dir())?;
        let none = pki::Plan::default();
        let data = NodeData {
            command: command.clone(),
            node: args.name.clone(),
            steps: vec![NodeStep::Env],
            before: record_before(&env, &config, &none)?,
            env,
            new_env: file.render(),
            new_bak: old_text,
            config,
            pki: none,
            recording_on: false,
        };
        let j = begin(
            dir,
            format!("a `node remove` of {}", args.name),
            data.clone(),
        )?;
        carry_out(j, &data)?;
    }
    crate::outln!("removed node {} ({var}, {password})", args.name);
    crate::outln!(
        "next: jitsi-stack --dir {} up   (removes {}/{}/, deletes its XMPP account; with no node left, XMPP is no longer published)",
        dir.display(),
        bundle::DIR,
        args.name
    );
    crate::outln!(
        "      and stop the node's containers on that host: jitsi-stack down (in its bundle)"
    );
    Ok(Exit::Ok)
}
