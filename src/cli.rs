//! Command-line interface: clap derive types only. The doc comments are the `--help`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Set up and run a self-hosted Jitsi Meet stack on Docker.
///
/// `init` writes a validated .env with strong passwords and the directory
/// tree; `up` checks it, renders every config file and runs Docker Compose.
#[derive(Debug, Parser)]
#[command(
    name = "jitsi-stack",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The stack directory holding .env (default: the current directory); for `man`, where
    /// to write the pages.
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        env = "JITSI_STACK_DIR",
        value_hint = clap::ValueHint::DirPath,
        display_order = 1000
    )]
    pub dir: Option<PathBuf>,

    /// Whether --dir/-C was given on the command line (not from JITSI_STACK_DIR).
    #[arg(skip)]
    pub dir_on_command_line: bool,

    /// The subcommand as typed (`check`, `node add`), for the journal guard.
    #[arg(skip)]
    pub command_name: String,

    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        display_order = 1001
    )]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

pub use crate::color::ColorChoice;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a stack directory: .env with fresh passwords, and the config tree.
    Init(Box<InitArgs>),
    /// Fill empty internal passwords in .env (existing ones are kept).
    GenPasswords(GenPasswordsArgs),
    /// Validate .env against the schema of the pinned Jitsi images.
    Check(CheckArgs),
    /// Print the variable reference, or an env.example generated from it.
    Schema(SchemaArgs),
    /// Render the compose files and every service's config from .env.
    Render(RenderArgs),
    /// Turn optional components on: add them to JITSI_STACK_WITH in .env and render.
    Enable(ComponentsArgs),
    /// Turn optional components off: remove them from JITSI_STACK_WITH in .env and render.
    Disable(ComponentsArgs),
    /// Check, render, start the stack with Docker Compose and wait until healthy.
    Up(UpArgs),
    /// Stop and remove the stack's containers.
    Down(DownArgs),
    /// Show the state of each service.
    #[command(visible_alias = "ps")]
    Status(StatusArgs),
    /// Show service logs.
    Logs(LogsArgs),
    /// Restart one service or all of them.
    Restart(RestartArgs),
    /// Pull the pinned images.
    Pull,
    /// Check the host: Docker, ports, directories, NAT, DNS, memory.
    Doctor(DoctorArgs),
    /// Print the firewall ports of the enabled components, with ufw and firewall-cmd lines.
    Ports(PortsArgs),
    /// Manage user accounts for internal authentication (AUTH_TYPE=internal).
    #[command(subcommand)]
    User(UserCommand),
    /// Print a reverse-proxy snippet for running behind an existing proxy.
    Proxy(ProxyArgs),
    /// Bridges, recorders and SIP gateways on other hosts: add, list, remove.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Probe a running stack: web page, BOSH, websocket, jicofo and jvb health.
    Smoke(SmokeArgs),
    /// Turn a docker-jitsi-meet directory (its .env and CONFIG) into a jitsi-stack stack.
    Migrate(MigrateArgs),
    /// Move a stack written for an older release to this one: backup, migrate, render, pull, up, smoke.
    Upgrade(UpgradeArgs),
    /// Restore the stack from the backup the last `upgrade` took, with its previous release; or undo an interrupted upgrade, node add or node remove.
    Rollback(RollbackArgs),
    /// Archive .env, the stack's files and CONFIG's data (0600, verified; recordings only with --with-recordings).
    Backup(BackupArgs),
    /// Replace the stack's files and CONFIG with an archive from `backup` or `upgrade` (journaled).
    Restore(RestoreArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff); with --dir DIR, write it and one page per subcommand into DIR.
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create or complete (default: the current directory).
    #[arg(value_hint = clap::ValueHint::DirPath)]
    pub path: Option<PathBuf>,
    /// The public HTTPS URL users open, such as https://meet.example.org (no path). Without a
    /// port the stack serves 443 (and 80 redirecting to it); with one, HTTPS_PORT is that port.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Enable Let's Encrypt with this contact e-mail (needs a public DNS name in --public-url).
    #[arg(long, value_name = "ADDR")]
    pub letsencrypt_email: Option<String>,
    /// Run behind a reverse proxy on this host: web published on 127.0.0.1:HTTP_PORT only,
    /// plain HTTP (DISABLE_HTTPS=1), no Let's Encrypt; see `jitsi-stack proxy`.
    #[arg(long, conflicts_with = "letsencrypt_email")]
    pub behind_proxy: bool,
    /// Where the services keep their data and config (default: DIR/config).
    #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::DirPath)]
    pub config_dir: Option<PathBuf>,
    /// Optional components to enable, comma-separated (jibri,jigasi,...).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = crate::config::component_parser())]
    pub with: Vec<String>,
    /// Require a login to create meetings (ENABLE_AUTH=1, AUTH_TYPE=TYPE): internal (accounts
    /// made with `jitsi-stack user add`), jwt (tokens; with --jwt-app-id), ldap (with
    /// --ldap-url) or matrix (with --matrix-uvs-url).
    #[arg(long, value_enum, value_name = "TYPE")]
    pub auth: Option<AuthArg>,
    /// With --auth: let people without an account join meetings once someone with one has
    /// started them (ENABLE_GUESTS=1).
    #[arg(long, requires = "auth")]
    pub guests: bool,
    /// With --auth jwt: the token issuer's application id (JWT_APP_ID); JWT_APP_SECRET is
    /// generated, give it to the issuer from .env.
    #[arg(long, value_name = "ID")]
    pub jwt_app_id: Option<String>,
    /// With --auth ldap: the directory's URL, such as ldaps://ldap.example.org (LDAP_URL).
    #[arg(long, value_name = "URL")]
    pub ldap_url: Option<String>,
    /// With --auth matrix: the Matrix user verification service's URL (MATRIX_UVS_URL).
    #[arg(long, value_name = "URL")]
    pub matrix_uvs_url: Option<String>,
    /// The public IP address(es) clients reach the bridge on, comma-separated, each
    /// optionally #PORT (JVB_ADVERTISE_IPS; needed behind NAT when STUN guesses wrong).
    #[arg(long, value_name = "IP[,IP]")]
    pub advertise: Option<String>,
    /// With --with etherpad: the URL users reach the etherpad on (ETHERPAD_PUBLIC_URL;
    /// asked on a terminal, PUBLIC_URL/etherpad/p/ offered).
    #[arg(long, value_name = "URL")]
    pub etherpad_url: Option<String>,
    /// With --with whiteboard: the URL of the whiteboard's collaboration server
    /// (WHITEBOARD_COLLAB_SERVER_PUBLIC_URL; asked on a terminal, PUBLIC_URL offered).
    #[arg(long, value_name = "URL")]
    pub whiteboard_url: Option<String>,
    /// Visitor prosody nodes on this host for very large meetings (sets
    /// ENABLE_VISITORS=1 and JITSI_STACK_VISITORS=N; see docs/visitors.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32))]
    pub visitors: Option<u32>,
    /// The SIP account jigasi registers, user@sip.example.org (with --with jigasi).
    #[arg(long, value_name = "USER@HOST")]
    pub sip_uri: Option<String>,
    /// The SIP server (registrar) jigasi registers with, such as sip.example.org.
    #[arg(long, value_name = "HOST")]
    pub sip_server: Option<String>,
    /// Read the SIP account's password from standard input (else it is prompted on a terminal).
    #[arg(long)]
    pub sip_password_stdin: bool,
    /// Never prompt, even on a terminal.
    #[arg(long)]
    pub non_interactive: bool,
    /// Copy a prepared branding directory into DIR/branding (checked first).
    #[arg(long, value_name = "DIR")]
    pub branding: Option<PathBuf>,
    /// Allow a system directory (/, /etc, /usr, /var, your home itself ...) as the stack directory.
    #[arg(long)]
    pub force: bool,
}

/// What `init --auth` sets as AUTH_TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Accounts in prosody, made with `jitsi-stack user add`.
    Internal,
    /// JSON web tokens from your application.
    Jwt,
    /// An LDAP directory.
    Ldap,
    /// Matrix accounts, through a user verification service.
    Matrix,
}

impl AuthArg {
    pub fn name(self) -> &'static str {
        match self {
            AuthArg::Internal => "internal",
            AuthArg::Jwt => "jwt",
            AuthArg::Ldap => "ldap",
            AuthArg::Matrix => "matrix",
        }
    }
}

/// `enable`/`disable COMPONENT...`.
#[derive(Debug, Args)]
pub struct ComponentsArgs {
    /// Components, such as jibri or etherpad (several: space- or comma-separated).
    #[arg(required = true, value_name = "COMPONENT", value_delimiter = ',', value_parser = crate::config::component_parser())]
    pub components: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GenPasswordsArgs {
    /// Replace passwords that are already set (breaks XMPP logins of a stack that already ran).
    #[arg(long)]
    pub force: bool,
    /// Only these variables (repeatable).
    #[arg(long, value_name = "NAME", num_args = 1.., value_parser = crate::config::secret_name_parser())]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print a machine-readable JSON report.
    #[arg(long)]
    pub json: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    Markdown,
    Json,
    /// The env.example text.
    EnvExample,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: SchemaFormat,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Optional components to add to those recorded in .env, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = crate::config::component_parser())]
    pub with: Vec<String>,
    /// Show a unified diff of what would change, and write nothing.
    #[arg(long)]
    pub diff: bool,
    /// What to write: compose files, or kubernetes/ (a kustomization);
    /// default: JITSI_STACK_TARGET in .env, else compose.
    #[arg(long, value_enum)]
    pub target: Option<Target>,
    /// Kubernetes target: generate the Secrets from kubernetes/secrets/
    /// (written 0600), or only name them for External Secrets, SOPS or
    /// Sealed Secrets.
    #[arg(long, value_enum, default_value_t)]
    pub secrets: crate::render::kubernetes::Secrets,
}

/// What `render` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// docker-compose.yml and one overlay per component.
    Compose,
    /// kubernetes/, built by `kubectl kustomize kubernetes/`.
    Kubernetes,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Optional components to add to those recorded in .env, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = crate::config::component_parser())]
    pub with: Vec<String>,
    /// Print the commands that would run and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Return once Compose has started the containers, without waiting for health.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for every service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Start even when the preflight (the checks of `doctor`) finds a problem.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove named volumes (needs --yes).
    #[arg(long)]
    pub volumes: bool,
    /// Confirm a destructive action.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this service.
    pub service: Option<String>,
    /// Follow the log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines from the end of the logs.
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Only this service.
    pub service: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Optional components to include besides those recorded in .env.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = crate::config::component_parser())]
    pub with: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only the nftables ruleset that lets only the nodes reach XMPP (for `nft -f`).
    #[arg(long, conflicts_with = "json")]
    pub nftables: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (password prompted, or read from stdin).
    Add(UserArgs),
    /// Delete a user.
    Del(UserNameArg),
    /// List users.
    List,
    /// Change a user's password (prompted, or read from stdin).
    Passwd(UserArgs),
}

#[derive(Debug, Args)]
pub struct UserArgs {
    /// User name (the part before @ of the XMPP address).
    pub name: String,
    /// Read the password from standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserNameArg {
    /// User name (the part before @ of the XMPP address).
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Record a node in .env with its own XMPP account; `render` writes its bundle nodes/NAME/.
    Add(NodeAddArgs),
    /// List the nodes.
    List(NodeListArgs),
    /// Remove a node from .env; `up` then deletes its bundle and its XMPP account.
    Remove(NodeRemoveArgs),
}

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeKindArg {
    /// Videobridges.
    Jvb,
    /// Recorders.
    Jibri,
    /// A SIP gateway.
    Jigasi,
    /// A visitor prosody for very large meetings (docs/visitors.md).
    Visitors,
}

#[derive(Debug, Args)]
pub struct NodeAddArgs {
    /// What the node runs.
    #[arg(value_enum)]
    pub kind: NodeKindArg,
    /// The node's name: lower-case letters, digits and -, such as bridge-2.
    pub name: String,
    /// The address the main host sees the node's connections come from (only it may reach XMPP).
    #[arg(long, value_name = "IP")]
    pub address: String,
    /// Bridges: the public address(es) clients reach the node on (its JVB_ADVERTISE_IPS), comma-separated.
    #[arg(long, value_name = "IP[#PORT]")]
    pub advertise: Option<String>,
    /// Bridges and SIP gateways: the node's region (its JVB_OCTO_REGION / JIGASI_LOCAL_REGION).
    #[arg(long, value_name = "NAME")]
    pub region: Option<String>,
    /// Bridges and recorders: how many the node runs (1-32).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub instances: u32,
    /// This host's address the nodes connect to (records JITSI_STACK_MAIN_ADDRESS).
    #[arg(long, value_name = "IP")]
    pub main_address: Option<String>,
}

#[derive(Debug, Args)]
pub struct NodeListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NodeRemoveArgs {
    /// The node's name.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyKind {
    Nginx,
    Apache,
    Haproxy,
    Caddy,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Which reverse proxy.
    #[arg(value_enum)]
    pub kind: ProxyKind,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Print a JSON report (format_version 1): ok, failed, and each probe.
    #[arg(long)]
    pub json: bool,
    /// Seconds each probe may take (the probes run in parallel).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Accept a self-signed or otherwise untrusted certificate on PUBLIC_URL (verified by default).
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The docker-jitsi-meet directory: its .env, and CONFIG as that .env says. Never modified.
    pub src: PathBuf,
    /// The new stack directory (default: --dir, else the current directory); not inside SRC.
    #[arg(value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Print the report of every change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Copy CONFIG into DIR/config (modes kept, owners too as root, symlinks never followed)
    /// instead of reusing it in place.
    #[arg(long)]
    pub copy: bool,
    /// Components to enable besides those found in SRC, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub with: Vec<String>,
    /// The release SRC runs (such as stable-9584), when neither its .env nor its
    /// docker-compose.yml names it.
    #[arg(long, value_name = "TAG")]
    pub from_release: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// SRC has no data to carry over: a CONFIG that does not exist is made new
    /// (without it, that is an error).
    #[arg(long)]
    pub no_data: bool,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Do not ask before starting.
    #[arg(long)]
    pub yes: bool,
    /// Seconds `up` waits for every service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Seconds each smoke probe may take.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub smoke_timeout: u64,
    /// Let smoke accept an untrusted certificate on PUBLIC_URL.
    #[arg(long)]
    pub insecure: bool,
    /// Do not probe the upgraded stack (step 8).
    #[arg(long)]
    pub no_smoke: bool,
    /// When the started stack fails (up or smoke), keep it as it is instead
    /// of restoring the backup; `jitsi-stack rollback` restores it later.
    #[arg(long)]
    pub keep_on_failure: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The archive to write (default: backups/backup-TIME-RELEASE.tar.gz in the stack directory).
    #[arg(long, value_name = "FILE")]
    pub to: Option<PathBuf>,
    /// Archive the recordings too (left out by default: they can be huge and are not configuration).
    #[arg(long)]
    pub with_recordings: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive `backup` or `upgrade` wrote.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Do not ask before replacing the stack's files.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Do not ask before restoring.
    #[arg(long)]
    pub yes: bool,
    /// The backup archive to restore (default: the one the last upgrade took).
    #[arg(long, value_name = "ARCHIVE")]
    pub from: Option<PathBuf>,
    /// Restore the files only; do not start the restored stack.
    #[arg(long)]
    pub no_up: bool,
    /// Seconds to wait for every container of the restored stack to run and be healthy.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        conflicts_with = "no_up"
    )]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: CompletionsFor,
}

/// What `completions` prints: a shell's script, or (a value no script
/// offers) the stack's service names the scripts ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionsFor {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The stack's service names, one a line: what the scripts offer after
    /// `logs` and `restart` (they run it with the command line's --dir).
    /// A hidden value, not a flag: clap_complete's scripts list hidden
    /// flags, but never hidden values.
    #[value(hide = true)]
    Services,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
