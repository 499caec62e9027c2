//! `rampart lab up|down|status|exec|demo`: the namespace lab of `rampart-lab`.

mod demo;
mod flood;

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rampart_lab::topology::{self, LAB_PREFIX};
use rampart_lab::{have_tool, is_root, remove_lab, Lab};

/// `rampart lab`.
#[derive(Debug, Args)]
#[command(
    after_help = "The lab is a set of network namespaces named rampart-lab-*: a server, \
two clients and two attackers joined by a bridge in a `switch` namespace, addressed only from \
the documentation ranges. It never touches this machine's own network. Needs root, iproute2 and \
nftables or iptables.

Examples:
  sudo rampart lab demo
  sudo rampart lab up
  sudo rampart lab exec client1 -- ping -c1 203.0.113.10
  sudo rampart lab status --json
  sudo rampart lab serve --on server --port 80 --duration 60 &
  sudo rampart lab flood syn --from attacker1 --to server:80 --rate 20000 --duration 10 \\
      --spoof 198.51.100.0/24
  sudo rampart lab probe --from client1 --to server:80 --rate 50 --duration 10
  sudo rampart lab down"
)]
pub struct LabArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: LabAction,
    /// Name prefix of the lab's namespaces (tests use their own, beside a real lab).
    #[arg(long, global = true, default_value = LAB_PREFIX, hide = true)]
    pub prefix: String,
}

/// The `rampart lab` subcommands.
#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Create the lab's namespaces, links and addresses (says so if the lab is already up).
    Up,
    /// Remove every rampart-lab-* namespace, also those left behind by a crash; idempotent.
    Down,
    /// List the lab's namespaces and their addresses.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a role's namespace (`ip netns exec`), e.g.
    /// `rampart lab exec server -- nft list ruleset`.
    Exec {
        /// The role: server, client1, client2, attacker1, attacker2 or switch.
        role: String,
        /// The command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Show the main job end to end: the server gets the webserver policy, a client is
    /// served, a port closed by the policy is refused, outbound works; prints a report.
    /// Builds the lab if it is not up, and takes it down afterwards unless it was up before
    /// or --keep is given.
    Demo {
        /// Leave the lab up afterwards (`rampart lab down` removes it).
        #[arg(long)]
        keep: bool,
    },
    /// Flood a target from a lab namespace (SYN, connect, UDP or HTTP), paced to a rate and
    /// bounded in packets and time; refuses to run anywhere but in the lab's namespaces.
    Flood(FloodArgs),
    /// Measure what a legit client sees: HTTP GETs at a rate from a role, with the success
    /// rate, failures by kind and latency percentiles.
    Probe(ProbeArgs),
    /// Serve HTTP (200 and a one-line page) in a role's namespace for a while, for floods
    /// and probes to aim at.
    Serve(ServeArgs),
}

/// What `rampart lab flood` sends.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FloodKindArg {
    /// TCP SYNs from a raw socket (half-open connections; spoofable).
    Syn,
    /// Real TCP connections, held open until the flood ends.
    Connect,
    /// UDP datagrams from a raw socket (spoofable).
    Udp,
    /// Real HTTP GETs, one connection each.
    Http,
}

/// `rampart lab flood`.
#[derive(Debug, Args)]
#[command(
    after_help = "Limits: at most 2,000,000 packets per second, 600 seconds, 60 million \
packets, 20,000 held connections, 1,048,576 spoofed sources. Spoofed sources come only from \
192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32, never the lab's own addresses.

Examples:
  rampart lab flood syn --from attacker1 --to server:80 --rate 50000 --duration 10 \\
      --spoof 198.51.100.0/24
  rampart lab flood udp --from attacker2 --to server:53 -6 --rate 10000 --duration 5 --sources 500
  rampart lab flood connect --from attacker1 --to server:80 --rate 200 --duration 30 --count 1000
  rampart lab flood http --from attacker2 --to server:80 --rate 500 --duration 10 --json"
)]
pub struct FloodArgs {
    /// What to send.
    #[arg(value_enum)]
    pub kind: FloodKindArg,
    /// The role sending it (attacker1, attacker2, client1, ...).
    #[arg(long, value_name = "ROLE")]
    pub from: String,
    /// The target: ROLE:PORT (server:80), ADDR:PORT or [ADDR6]:PORT.
    #[arg(long, value_name = "TARGET")]
    pub to: String,
    /// Use the target role's IPv6 address.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Packets (connections, requests) per second.
    #[arg(long, value_name = "N")]
    pub rate: u64,
    /// Seconds to send (and, for connect, to hold the connections); fractions allowed.
    #[arg(long, value_name = "S")]
    pub duration: f64,
    /// Stop after N packets (connections, requests) [default: rate × duration].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Spoof sources from this documentation prefix (repeatable; syn and udp only).
    #[arg(long, value_name = "CIDR")]
    pub spoof: Vec<String>,
    /// Use N distinct spoofed sources [default: all of the --spoof prefixes, or of the
    /// documentation ranges when --spoof is not given].
    #[arg(long, value_name = "N")]
    pub sources: Option<u64>,
    /// Seed of the ports and sequence numbers.
    #[arg(long, default_value_t = 1, hide = true)]
    pub seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `rampart lab probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The role sending the requests (client1, client2, ...).
    #[arg(long, value_name = "ROLE")]
    pub from: String,
    /// The server: ROLE:PORT (server:80), ADDR:PORT or [ADDR6]:PORT.
    #[arg(long, value_name = "TARGET")]
    pub to: String,
    /// Use the target role's IPv6 address.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Requests per second.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub rate: u64,
    /// Seconds to send requests; fractions allowed.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub duration: f64,
    /// Stop after N requests [default: rate × duration].
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Per-request time limit, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `rampart lab serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The role serving (default: server).
    #[arg(long, value_name = "ROLE", default_value = "server")]
    pub on: String,
    /// The port, on every address of the role (IPv4 and IPv6).
    #[arg(long, default_value_t = 80)]
    pub port: u16,
    /// Seconds to serve (at most 3600).
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub duration: u64,
}

/// Runs `rampart lab`.
pub fn run(args: LabArgs) -> Result<ExitCode> {
    preflight(matches!(args.action, LabAction::Demo { .. }))?;
    let prefix = args.prefix.as_str();
    match args.action {
        LabAction::Up => up(prefix),
        LabAction::Down => down(prefix),
        LabAction::Status { json } => status(prefix, json),
        LabAction::Exec { role, command } => exec(prefix, &role, &command),
        LabAction::Demo { keep } => demo::run(prefix, keep),
        LabAction::Flood(a) => flood::flood(prefix, &a),
        LabAction::Probe(a) => flood::probe(prefix, &a),
        LabAction::Serve(a) => flood::serve(prefix, &a),
    }
}

/// Root and the tools the lab runs, with a remedy when something is missing.
fn preflight(demo: bool) -> Result<()> {
    if !is_root() {
        bail!("`rampart lab` creates network namespaces and needs root: run it with sudo");
    }
    let mut missing = Vec::new();
    for (tool, package) in [
        ("ip", "iproute2"),
        ("sysctl", "procps"),
        ("timeout", "coreutils"),
    ] {
        if !have_tool(tool) {
            missing.push(format!("`{tool}` ({package})"));
        }
    }
    if demo && !have_tool("nft") && !have_tool("iptables-restore") {
        missing.push("`nft` (nftables) or `iptables-restore` (iptables)".to_owned());
    }
    if !missing.is_empty() {
        bail!(
            "`rampart lab` needs {}; install them, e.g. `apt install iproute2 procps nftables \
             iptables`",
            missing.join(", ")
        );
    }
    Ok(())
}

fn up(prefix: &str) -> Result<ExitCode> {
    let status = topology::status(prefix)?;
    if !status.namespaces.is_empty() {
        if status.complete {
            println!("the lab is already up ({} namespaces {prefix}-*); `rampart lab status` shows it, `rampart lab down` removes it", status.namespaces.len());
            return Ok(ExitCode::SUCCESS);
        }
        bail!(
            "a partial lab exists ({}), probably left by a crash: run `rampart lab down` first",
            status
                .namespaces
                .iter()
                .map(|n| n.namespace.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut lab = topology::up(prefix).context("building the lab")?;
    lab.keep();
    println!("lab up: {} namespaces", lab.namespaces().len());
    print_status(prefix)?;
    Ok(ExitCode::SUCCESS)
}

fn down(prefix: &str) -> Result<ExitCode> {
    let removed = remove_lab(prefix)?;
    if removed.is_empty() {
        println!("the lab is not up: nothing to remove");
    } else {
        println!(
            "lab down: removed {} namespaces ({})",
            removed.len(),
            removed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn status(prefix: &str, json: bool) -> Result<ExitCode> {
    if json {
        let status = topology::status(prefix)?;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_status(prefix)
}

fn print_status(prefix: &str) -> Result<ExitCode> {
    let status = topology::status(prefix)?;
    let mut out = std::io::stdout().lock();
    if status.namespaces.is_empty() {
        writeln!(out, "the lab is not up (no {prefix}-* namespaces)")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !status.complete {
        writeln!(
            out,
            "the lab is incomplete (left by a crash?): `rampart lab down` removes it"
        )?;
    }
    for ns in &status.namespaces {
        let kind = ns
            .kind
            .map(|k| format!("{k:?}").to_lowercase())
            .unwrap_or_else(|| "unknown".to_owned());
        let addrs: Vec<String> = ns
            .addresses
            .iter()
            .map(|a| format!("{}/{} ({})", a.addr, a.len, a.ifname))
            .collect();
        let addrs = if addrs.is_empty() {
            "bridge br0".to_owned()
        } else {
            addrs.join(", ")
        };
        writeln!(
            out,
            "{:<10} {:<9} {:<22} {addrs}",
            ns.role, kind, ns.namespace
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn exec(prefix: &str, role: &str, command: &[String]) -> Result<ExitCode> {
    let lab = Lab::attach(prefix)?;
    if lab.roles().is_empty() {
        bail!("the lab is not up: run `rampart lab up` first");
    }
    if !lab.roles().iter().any(|r| r == role) {
        bail!(
            "the lab has no role {role:?}; its roles are {}",
            lab.roles().join(", ")
        );
    }
    let (program, rest) = command.split_first().context("no command given")?;
    let mut cmd = lab.command(role, program, rest)?;
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => bail!("`ip` not found (iproute2)"),
        Err(e) => return Err(e).context("running ip netns exec"),
    };
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(128),
    })
}
