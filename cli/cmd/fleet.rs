//! `rampart fleet init|status`, and the connection the `--fleet` options of `bans` and
//! `block import` share: the policy file's `[fleet]` table, through rampart-fleet.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use rampart_fleet::{Fleet, FleetConfig};
use rampart_guard::format_utc;

use super::unix_now;
use crate::table::{Align, Table};

/// `rampart fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

/// Where the fleet's settings come from.
#[derive(Debug, Clone, Args)]
pub struct FleetSource {
    /// The policy file whose `[fleet]` table names the store
    /// [default: /etc/rampart/rampart.toml].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// The `fleet` subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create or upgrade the shared store's schema (versioned migrations, each in one
    /// transaction) and the `rampart_server` role its servers' roles belong to. Run it
    /// once, as the database's owner (--url and --password-file name that role).
    #[command(after_help = "Examples:
  rampart fleet init --url postgresql://rampart_admin@db.example.net/rampart \\
      --password-file /root/rampart-admin.password
  # then, for each server (in psql, as the owner):
  #   CREATE ROLE web1 LOGIN PASSWORD '…' IN ROLE rampart_server;")]
    Init {
        #[command(flatten)]
        source: FleetSource,
        /// Connect with this URL instead of the policy's (its role must own the database).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The password of --url's role (a file readable by root only).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// The fleet at a glance: servers seen, their last contact and lag, decisions running
    /// by origin server, the shared lists, and the latest refused decisions.
    Status {
        #[command(flatten)]
        source: FleetSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `rampart fleet ...`.
pub fn run(args: FleetArgs) -> Result<ExitCode> {
    match args.command {
        FleetCommand::Init {
            source,
            url,
            password_file,
        } => init(&source, url, password_file),
        FleetCommand::Status { source, json } => status(&source, json),
    }
}

/// The `[fleet]` table of `policy` (or the default policy file).
pub fn config(policy: Option<&Path>) -> Result<FleetConfig> {
    let path = policy.unwrap_or(Path::new(rampart_policy::DEFAULT_PATH));
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    let file = path.display().to_string();
    match FleetConfig::from_policy(&file, &text) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => bail!(
            "{file} has no [fleet] table: add one naming the shared store (url = \"postgresql://SERVER@HOST/DATABASE\"), see `man rampart-fleet`"
        ),
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// Connected to the fleet of `policy`, the schema checked.
pub fn connect(policy: Option<&Path>) -> Result<Fleet> {
    let c = config(policy)?;
    let mut f = Fleet::connect(&c)?;
    f.check_schema()?;
    Ok(f)
}

fn init(
    source: &FleetSource,
    url: Option<String>,
    password_file: Option<PathBuf>,
) -> Result<ExitCode> {
    let mut c = match (&url, config(source.policy.as_deref())) {
        (_, Ok(c)) => c,
        (Some(_), Err(_)) => FleetConfig {
            url: String::new(),
            password_file: None,
            ca_file: None,
            min_prefix_v4: rampart_fleet::config::DEFAULT_MIN_PREFIX_V4,
            min_prefix_v6: rampart_fleet::config::DEFAULT_MIN_PREFIX_V6,
        },
        (None, Err(e)) => return Err(e),
    };
    if let Some(u) = url {
        c.url = u;
        c.password_file = password_file;
    }
    let mut f = Fleet::connect(&c)?;
    let applied = f.init()?;
    let mut out = std::io::stdout().lock();
    if applied.is_empty() {
        writeln!(
            out,
            "the store at {} is up to date (schema {})",
            f.endpoint(),
            rampart_fleet::schema::SCHEMA_VERSION
        )?;
    }
    for (v, what) in applied {
        writeln!(out, "applied migration {v}: {what}")?;
    }
    writeln!(
        out,
        "servers join as their own role: CREATE ROLE NAME LOGIN PASSWORD '…' IN ROLE {};",
        rampart_fleet::schema::SERVER_ROLE
    )?;
    Ok(ExitCode::SUCCESS)
}

fn status(source: &FleetSource, json: bool) -> Result<ExitCode> {
    let now = unix_now();
    let mut f = connect(source.policy.as_deref())?;
    let s = f.status(now)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &s)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "fleet store {} (schema {}), {} changes, this server: {}",
        f.endpoint(),
        s.schema,
        s.head,
        f.server()
    )?;
    writeln!(out)?;
    let mut servers = Table::new(&[
        ("SERVER", Align::Left),
        ("LAST CONTACT", Align::Left),
        ("AGO", Align::Right),
        ("LAG", Align::Right),
        ("RUNNING", Align::Right),
        ("PUBLISHED", Align::Right),
    ]);
    for sv in &s.servers {
        let (contact, ago) = if sv.last_seen == 0 {
            ("-".to_string(), "never".to_string())
        } else {
            let ago = format!("{}s", now.saturating_sub(sv.last_seen));
            (format_utc(sv.last_seen), ago)
        };
        let counts = [sv.lag, sv.running, sv.published].map(|n| n.to_string());
        servers.row([vec![sv.name.clone(), contact, ago], counts.to_vec()].concat());
    }
    servers.write(&mut out)?;
    if !s.lists.is_empty() {
        writeln!(out)?;
        let mut lists = Table::new(&[
            ("LIST", Align::Left),
            ("PREFIXES", Align::Right),
            ("BY", Align::Left),
            ("IMPORTED", Align::Left),
            ("SOURCE", Align::Left),
        ]);
        for l in &s.lists {
            lists.row(vec![
                l.name.clone(),
                l.entries.to_string(),
                l.imported_by.clone(),
                format_utc(l.imported_at),
                rampart_safeio::excerpt(&l.source, 60),
            ]);
        }
        lists.write(&mut out)?;
    }
    if !s.refusals.is_empty() {
        writeln!(out)?;
        writeln!(out, "refused decisions (latest first):")?;
        for r in &s.refusals {
            writeln!(
                out,
                "  {} refused {}#{} ({}) at {}: {}",
                r.server,
                r.origin_server,
                r.origin_id,
                r.target,
                format_utc(r.at),
                rampart_safeio::excerpt(&r.why, 200)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
