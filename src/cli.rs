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
    /// The stack directory holding .env (default: the current directory).
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        env = "JITSI_STACK_DIR"
    )]
    pub dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a stack directory: .env with fresh passwords, and the config tree.
    Init(InitArgs),
    /// Fill empty internal passwords in .env (existing ones are kept).
    GenPasswords(GenPasswordsArgs),
    /// Validate .env against the schema of the pinned Jitsi images.
    Check(CheckArgs),
    /// Print the variable reference, or an env.example generated from it.
    Schema(SchemaArgs),
    /// Render the compose files and every service's config from .env.
    Render(RenderArgs),
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
    /// Probe a running stack: web page, BOSH, websocket, jicofo and jvb health.
    Smoke(SmokeArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create or complete (default: the current directory).
    pub path: Option<PathBuf>,
    /// The public HTTPS URL users open, such as https://meet.example.org.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Enable Let's Encrypt with this contact e-mail (domain taken from --public-url).
    #[arg(long, value_name = "ADDR")]
    pub letsencrypt_email: Option<String>,
    /// Where the services keep their data and config (default: DIR/config).
    #[arg(long, value_name = "PATH")]
    pub config_dir: Option<PathBuf>,
    /// Optional components to enable, comma-separated (jibri,jigasi,...).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub with: Vec<String>,
    /// Never prompt, even on a terminal.
    #[arg(long)]
    pub non_interactive: bool,
    /// Allow a system directory (/, /etc, /usr, /var, your home itself ...) as the stack directory.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct GenPasswordsArgs {
    /// Replace passwords that are already set (breaks XMPP logins of a stack that already ran).
    #[arg(long)]
    pub force: bool,
    /// Only these variables (repeatable).
    #[arg(long, value_name = "NAME", num_args = 1..)]
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
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub with: Vec<String>,
    /// Show a unified diff of what would change, and write nothing.
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Optional components to add to those recorded in .env, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
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
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub with: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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
