//! Command-line flags: every subcommand has `--help`, every read command `--json`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Host defence for Internet-facing Linux servers.
///
/// A firewall policy (profiles, or your iptables rules) applied atomically through
/// nftables with no way to lock yourself out; packet traces that show which rule drops or
/// NATs a packet; a network-namespace lab; SSH one-time passwords. Only rampart's own
/// nftables table is ever touched.
#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The longest line read from a ruleset, policy, list or database file, in bytes
    /// (default: 65536 for rulesets and policies, 4096 for block lists and databases).
    #[arg(long, global = true, value_name = "BYTES")]
    pub max_line_bytes: Option<usize>,
    /// The largest ruleset, policy, list or database file read, in bytes (default:
    /// 536870912, 512 MiB).
    #[arg(long, global = true, value_name = "BYTES")]
    pub max_input_bytes: Option<u64>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the policy (/etc/rampart/rampart.toml, or the built-in webserver profile),
    /// refuse it if it would lock out an SSH session, and apply it; on a terminal with
    /// automatic rollback unless `rampart confirm` follows.
    Up(UpArgs),
    /// Remove rampart's table from the kernel (only ours; idempotent).
    Down {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Apply a policy to the kernel as one transaction (our table only), optionally with
    /// automatic rollback unless confirmed.
    Apply(Box<ApplyArgs>),
    /// Keep the policy of a pending `apply --confirm` (cancels its rollback).
    Confirm {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show the applied policy, drift from the policy file, and per-rule counters.
    Status(Box<StatusArgs>),
    /// Save the applied table, set contents included, for `rampart restore` at boot.
    Save {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Load the saved table into the kernel (the boot path; works with no table present).
    Restore {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Check or show the policy file (/etc/rampart/rampart.toml) and the rules it makes.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Would applying the policy lock out the admin's SSH sessions? Decided with the
    /// simulator for a NEW connection from each admin source to each sshd address.
    LockoutCheck(LockoutArgs),
    /// Compile a ruleset to an nftables script for `table inet rampart` and print it.
    Compile(CompileArgs),
    /// Trace a packet (or a batch) through a ruleset: every rule it meets, each verdict and
    /// NAT translation, and its fate.
    Trace(Box<TraceArgs>),
    /// Print a ruleset file in canonical iptables-save form, as text for people, or as JSON.
    Show(ShowArgs),
    /// Check that a ruleset file parses and loads; report every error with file:line:column.
    Check(CheckArgs),
    /// Find shadowed, redundant, contradictory and unreachable rules, unused chains and
    /// sets, rules that never matched; exit 1 when a rule cannot do what it says.
    Lint(LintArgs),
    /// The exact set of packets whose fate differs between two rulesets, as a short list
    /// of packet classes.
    Diff(DiffArgs),
    /// Which sources can open NEW connections to which local ports (a service matrix),
    /// and whether the admin's SSH source is among them.
    Exposure(ExposureArgs),
    /// A network-namespace lab (server, clients, attackers) to see rampart work on real
    /// traffic without touching this machine's own network.
    Lab(crate::cmd::lab::LabArgs),
    /// One-time passwords for SSH logins: printed sheets or TOTP, checked by
    /// pam_rampart_otp.so.
    Otp(crate::cmd::otp::OtpArgs),
    /// Block addresses, networks, ranges, countries and neighbourhoods: named lists loaded
    /// as kernel sets, timed bans that expire by themselves; never the admin or this host.
    Block(crate::cmd::block::BlockArgs),
    /// Rewrite an iptables script or save file: runs of per-address DROP/REJECT rules
    /// become one set and one `-m set` rule each, with the same verdict for every packet.
    Import(crate::cmd::import::ImportArgs),
    /// The guard: `run` (the daemon: bans floods and abusers within a second, explains
    /// every ban, forgets nothing across restarts) and `check-log` (what it finds in a log).
    #[command(subcommand)]
    Guard(GuardCommand),
    /// The guard's bans: those running, why one address is banned (reason, evidence,
    /// start, expiry), and lifting them (by address, network, reason, or all).
    #[command(subcommand)]
    Bans(BansCommand),
    /// A fleet of servers sharing bans and block lists through PostgreSQL: `init` (the
    /// schema) and `status` (servers, last contact, lag, decisions by origin).
    Fleet(crate::cmd::fleet::FleetArgs),
    /// Look up the country of addresses, one by one or in bulk with counts per country.
    Geo(crate::cmd::geo::GeoArgs),
    /// Who holds this host's connections: per source address, /24 and /16 (IPv6 /64 and
    /// /48), country, port and state, incoming and outgoing apart; from sockets or the
    /// conntrack table, once or refreshed.
    Top(crate::cmd::top::TopArgs),
    /// Kernel settings against floods and spoofing (SYN cookies, backlogs, reverse-path
    /// filter, redirects, conntrack size and timeouts): current against recommended, with
    /// the reason for each; --apply sets them and keeps them in /etc/sysctl.d/90-rampart.conf.
    Harden(crate::cmd::harden::HardenArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write rampart.1 and rampart-COMMAND.1 for every command into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// The detached rollback watcher started by `apply --confirm`.
    #[command(hide = true)]
    ConfirmWatch(ConfirmWatchArgs),
    /// Print a synthetic iptables-save ruleset of N rules (for benchmarks).
    #[command(hide = true)]
    Synthetic {
        /// Number of rules.
        #[arg(long, default_value_t = 10_000)]
        rules: usize,
    },
}

/// Where the ruleset comes from.
#[derive(Debug, Args)]
pub struct RulesetArgs {
    /// A ruleset: iptables-save output or a script of iptables/ipset commands (detected).
    #[arg(long, short = 'r', value_name = "FILE", conflicts_with = "script")]
    pub rules: Option<PathBuf>,
    /// A shell script of iptables, ip6tables and ipset commands.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Also load ipset definitions (`ipset save` output).
    #[arg(long, value_name = "FILE")]
    pub sets: Option<PathBuf>,
    /// Repair text pasted from web pages (curly quotes, en/em dashes) and report each repair.
    #[arg(long)]
    pub lenient: bool,
}

/// `rampart trace`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart trace --script examples/router.sh --host examples/router.host \\
      --in eth0 --src 192.0.2.10 --dst 198.51.100.7 -p tcp --dport 80
  rampart trace --rules saved.rules --in eth0 --src 203.0.113.9 --dst 192.0.2.1 -p icmp
  rampart trace --rules saved.rules --host my.host --packets flood.packets --json")]
pub struct TraceArgs {
    #[command(flatten)]
    pub ruleset: RulesetArgs,
    /// The host's interfaces, addresses and routes (lines `interface eth0 192.0.2.1/24`,
    /// `route default via 203.0.113.1 dev ppp0`, `forwarding yes`, and sysctls such as
    /// `sysctl net.ipv4.conf.all.rp_filter 1`). Without it the destination is taken to be
    /// one of this host's addresses.
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// A batch: one packet per line, written with the packet flags below
    /// (`--in eth0 --src ... -p tcp --dport 80 --time 1.5`); prints a summary per fate and
    /// per rule hit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["src", "dst"])]
    pub packets: Option<PathBuf>,
    #[command(flatten)]
    pub packet: PacketArgs,
    /// Also list the rules that were evaluated and did not match, each with the first
    /// test that failed (`out interface is ppp0, rule wants eth1`).
    #[arg(long, short = 'v')]
    pub explain: bool,
    /// With --packets: walk every rule in order instead of narrowing each chain with the
    /// compiled classifier (same answers, slower; for comparison).
    #[arg(long, requires = "packets")]
    pub walk: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Leave out the block lists and timed bans of the state directory (by default they
    /// are traced first, as the kernel runs them before the policy).
    #[arg(long)]
    pub no_block_lists: bool,
    #[command(flatten)]
    pub store: StateArgs,
}

/// One packet, as flags (also the syntax of a `--packets` file line).
#[derive(Debug, Clone, Args)]
pub struct PacketArgs {
    /// Interface the packet arrives on; omit for a packet this host sends.
    #[arg(long = "in", short = 'i', value_name = "IF")]
    pub in_iface: Option<String>,
    /// Source address.
    #[arg(long, short = 's')]
    pub src: Option<String>,
    /// Destination address.
    #[arg(long, short = 'd')]
    pub dst: Option<String>,
    /// Protocol: tcp, udp, icmp, icmpv6 or a number.
    #[arg(long = "proto", short = 'p', default_value = "tcp")]
    pub proto: String,
    /// Source port (tcp/udp). Left out, rules testing it are traced both ways.
    #[arg(long)]
    pub sport: Option<u16>,
    /// Destination port (tcp/udp).
    #[arg(long)]
    pub dport: Option<u16>,
    /// TCP flags, comma-separated (default SYN: a connection's first packet).
    #[arg(long, value_name = "FLAGS")]
    pub flags: Option<String>,
    /// ICMP type as name or TYPE[/CODE] (default echo-request).
    #[arg(long, value_name = "TYPE")]
    pub icmp_type: Option<String>,
    /// Conntrack state; left out, the simulator's connection table decides (NEW for the
    /// first packet of a flow).
    #[arg(long, value_enum)]
    pub state: Option<CtStateArg>,
    /// Packet mark (decimal or 0x hex).
    #[arg(long, default_value = "0")]
    pub mark: String,
    /// IP packet length in bytes.
    #[arg(long)]
    pub length: Option<u16>,
    /// Source MAC address.
    #[arg(long, value_name = "MAC")]
    pub mac_src: Option<String>,
    /// A non-first fragment.
    #[arg(long)]
    pub fragment: bool,
    /// Arrival time in seconds (drives limit/hashlimit/recent deterministically).
    #[arg(long, default_value_t = 0.0)]
    pub time: f64,
    /// Wall-clock time at --time 0, UTC, as YYYY-MM-DDTHH:MM[:SS] or Unix seconds (for
    /// `-m time`; left out, time rules are traced both ways).
    #[arg(long, value_name = "WHEN")]
    pub clock: Option<String>,
    /// The kernel's time-zone offset in minutes east of UTC (`-m time --kerneltz`).
    #[arg(long, value_name = "MIN", allow_hyphen_values = true)]
    pub utc_offset: Option<i32>,
    /// Uid of the local socket sending the packet (`-m owner`).
    #[arg(long)]
    pub uid: Option<u32>,
    /// Gid of the local socket sending the packet (`-m owner`).
    #[arg(long)]
    pub gid: Option<u32>,
    /// Link-layer class: unicast, broadcast, multicast, otherhost (`-m pkttype`; left
    /// out, it follows the destination address).
    #[arg(long, value_name = "TYPE")]
    pub pkttype: Option<String>,
    /// TOS byte / traffic class, decimal or 0x hex (`-m tos`, `-m dscp`).
    #[arg(long, value_name = "BYTE")]
    pub tos: Option<String>,
    /// DSCP (0-63): sets the top six bits of the TOS byte.
    #[arg(long, conflicts_with = "tos")]
    pub dscp: Option<u8>,
    /// TTL / hop limit (`-m ttl`, `-m hl`).
    #[arg(long)]
    pub ttl: Option<u8>,
    /// The TCP MSS option of a SYN (`-m tcpmss`).
    #[arg(long)]
    pub mss: Option<u16>,
    /// Payload text (`-m string`).
    #[arg(long, value_name = "TEXT")]
    pub payload: Option<String>,
    /// The packet came in (or leaves) through IPsec: yes or no (`-m policy`).
    #[arg(long, value_name = "YES|NO")]
    pub ipsec: Option<String>,
    /// Bridge port the packet came in by (`-m physdev`).
    #[arg(long, value_name = "IF")]
    pub physdev_in: Option<String>,
    /// Bridge port the packet leaves by (`-m physdev`).
    #[arg(long, value_name = "IF")]
    pub physdev_out: Option<String>,
    /// The packet crosses no bridge (`-m physdev` rules then decide without forking).
    #[arg(long, conflicts_with_all = ["physdev_in", "physdev_out"])]
    pub not_bridged: bool,
    /// IPv6 extension headers the packet carries, in order: hop, dst, route[:TYPE], frag,
    /// ah (`-m rt`, `hbh`, `dst`, `ipv6header`, `srh`, `ah`; no rule sees `frag`:
    /// defragmentation removes it). Left out: none, as on a plain packet.
    #[arg(long, value_name = "LIST")]
    pub ext_headers: Option<String>,
}

/// Conntrack states a packet can have.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPERCASE")]
pub enum CtStateArg {
    /// First packet of a connection.
    New,
    /// Part of a known connection.
    Established,
    /// Related to a known connection (ICMP errors, FTP data).
    Related,
    /// Not valid for its connection.
    Invalid,
    /// Exempted from tracking (NOTRACK).
    Untracked,
}

/// `rampart compile`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart compile --script examples/webserver.sh
  rampart compile --rules saved.rules --sets ipset.save > rampart.nft && nft -c -f rampart.nft")]
pub struct CompileArgs {
    #[command(flatten)]
    pub ruleset: RulesetArgs,
}

/// `rampart show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The ruleset file (`-` for standard input).
    pub file: PathBuf,
    /// Read it as a shell script of iptables/ipset commands (default: detect).
    #[arg(long)]
    pub script: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "save")]
    pub format: ShowFormat,
    /// Same as `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Include `[packets:bytes]` counters in save output.
    #[arg(long, short = 'c')]
    pub counters: bool,
    /// Repair pasted typographic characters and report each repair.
    #[arg(long)]
    pub lenient: bool,
}

/// Output formats of `rampart show`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShowFormat {
    /// iptables-save (then ipset save) format.
    Save,
    /// Readable text.
    Human,
    /// The ruleset model as JSON.
    Json,
}

/// `rampart check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Ruleset files (`-` for standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Read them as shell scripts (default: detect).
    #[arg(long)]
    pub script: bool,
    /// Repair pasted typographic characters and report each repair.
    #[arg(long)]
    pub lenient: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rampart policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and everything it imports; report every error with
    /// file:line:column, the key and a hint.
    Check {
        /// The policy file (default /etc/rampart/rampart.toml, or the built-in webserver
        /// profile when that does not exist).
        file: Option<PathBuf>,
    },
    /// Print the ruleset a policy file makes.
    Show {
        /// The policy file (default as for `check`).
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "save")]
        format: ShowFormat,
    },
}

/// `rampart guard`.
#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Run the guard daemon in the foreground (systemd's rampart-guard.service, the lab):
    /// watches sockets, conntrack, the kernel's own bans and the logs of the policy's
    /// [guard] table, bans in the kernel's timed sets, records every decision under the
    /// state directory. SIGTERM stops it; bans stay in the kernel.
    #[command(after_help = "Examples:
  rampart guard run
  rampart guard run --policy ./rampart.toml --state-dir /tmp/state
  systemctl start rampart-guard")]
    Run(GuardRunArgs),
    /// Read a log with rampart's parsers, as fail2ban-regex does for fail2ban: each event
    /// line (kind, address), each line not understood, then a summary (lines, events, top
    /// addresses) and the throughput.
    #[command(after_help = "Examples:
  rampart guard check-log /var/log/auth.log
  rampart guard check-log --journal ssh.service
  rampart guard check-log /var/log/nginx/access.log --source nginx-access --quiet
  rampart guard check-log /var/log/auth.log --json | jq -r .addr | sort | uniq -c")]
    CheckLog(CheckLogArgs),
}

/// `rampart guard run`.
#[derive(Debug, Args)]
pub struct GuardRunArgs {
    /// The policy file whose [guard] table configures the guard (default
    /// /etc/rampart/rampart.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Read log files without a saved position from their first line (default: from
    /// their end, as a daemon's first start on a big log should).
    #[arg(long)]
    pub from_start: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart guard check-log`.
#[derive(Debug, Args)]
pub struct CheckLogArgs {
    /// The log file (`-`: standard input).
    #[arg(
        value_name = "FILE",
        required_unless_present = "journal",
        conflicts_with = "journal"
    )]
    pub file: Option<PathBuf>,
    /// Read this systemd unit's journal (`journalctl -u UNIT -o json`) instead of a file.
    #[arg(long, value_name = "UNIT")]
    pub journal: Option<String>,
    /// The kind of log.
    #[arg(long, value_enum, default_value = "sshd")]
    pub source: LogSource,
    /// Print every line's verdict (event, `-` for no event, not understood).
    #[arg(long, conflicts_with = "quiet")]
    pub all: bool,
    /// Print only the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// One JSON object per event line (`line`, `kind`, `addr` or `name`, and `user`,
    /// `port`, `status` where logged), then one `{"summary": ...}` object.
    #[arg(long)]
    pub json: bool,
    /// How many origins the summary lists, most events first.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
}

/// The kinds of log `check-log` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogSource {
    /// sshd: auth.log or secure (syslog lines), `sshd -E FILE`, journal messages.
    Sshd,
    /// nginx access log (combined or common).
    NginxAccess,
    /// nginx error log.
    NginxError,
    /// Apache access log (combined or common).
    ApacheAccess,
    /// Apache error log.
    ApacheError,
}

/// How an analysed file is read.
#[derive(Debug, Args)]
pub struct AnalysedInput {
    /// Read ruleset files as shell scripts (default: detect). A file ending in `.toml` is
    /// a policy file.
    #[arg(long)]
    pub script: bool,
    /// Also load ipset definitions (`ipset save` output) for every ruleset file.
    #[arg(long, value_name = "FILE")]
    pub sets: Option<PathBuf>,
    /// Repair text pasted from web pages (curly quotes, en/em dashes) and report each repair.
    #[arg(long)]
    pub lenient: bool,
}

/// `rampart lint`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  iptables-save -c > now.rules && rampart lint now.rules
  rampart lint /etc/rampart/rampart.toml --json
  rampart lint --kernel                 # the applied ruleset, with the kernel's counters
  rampart lint --kernel fw.rules        # the same, told at the lines of the file applied")]
pub struct LintArgs {
    /// The ruleset (iptables-save output, with counters for "never matched"; a script of
    /// iptables commands; or a policy file ending in .toml). With --kernel: the file that
    /// was applied (default: the ruleset the state directory recorded at the last apply).
    #[arg(required_unless_present = "kernel")]
    pub file: Option<PathBuf>,
    /// Take the counters from the kernel: the rules of `table inet rampart` count what
    /// they matched since the last apply, and each goes back to the source rule it was
    /// compiled from; a rule at 0 is reported as never matched.
    #[arg(long)]
    pub kernel: bool,
    /// With --kernel: the state directory holding the record of the last apply.
    #[command(flatten)]
    pub state: StateArgs,
    /// The host's interfaces and addresses (as for `trace --host`): a DNAT to one of them
    /// is delivered locally, to any other address forwarded. Without it, loopback and the
    /// addresses the ruleset names as the host's (SNAT sources, INPUT's `-d` addresses).
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    #[command(flatten)]
    pub input: AnalysedInput,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rampart diff`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart diff old.rules new.rules
  rampart diff /etc/rampart/rampart.toml new.toml --json")]
pub struct DiffArgs {
    /// The ruleset before.
    pub old: PathBuf,
    /// The ruleset after.
    pub new: PathBuf,
    #[command(flatten)]
    pub input: AnalysedInput,
    /// The host's interfaces and addresses (as for `trace --host`): a DNAT to one of them
    /// is delivered locally, to any other address forwarded. Without it, loopback and the
    /// addresses the rulesets name as the host's (SNAT sources, INPUT's `-d` addresses).
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// Print the changes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rampart exposure`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart exposure                      # the policy `rampart up` would apply
  rampart exposure saved.rules --admin 198.51.100.7")]
pub struct ExposureArgs {
    /// The ruleset or policy file (default: the policy, /etc/rampart/rampart.toml or the
    /// built-in webserver profile).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub input: AnalysedInput,
    /// The host's interfaces and addresses (as for `trace --host`): ports DNATed to any
    /// other address are listed as forwarded. Without it, loopback and the addresses the
    /// ruleset names as the host's (SNAT sources, INPUT's `-d` addresses).
    #[arg(long, value_name = "FILE")]
    pub host: Option<PathBuf>,
    /// An admin's address to check SSH access for (default: this SSH session's client,
    /// from $SSH_CONNECTION and the host's sshd sessions).
    #[arg(long, value_name = "ADDR")]
    pub admin: Vec<std::net::IpAddr>,
    /// The SSH port checked for the admins (default: sshd's listening ports, else 22).
    #[arg(long, value_name = "PORT")]
    pub ssh_port: Vec<u16>,
    /// Print the matrix as JSON.
    #[arg(long)]
    pub json: bool,
    /// The block lists and timed bans of this state directory are included (each list
    /// an address class of its own).
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart lockout-check`.
#[derive(Debug, Args)]
pub struct LockoutArgs {
    /// The policy file (default /etc/rampart/rampart.toml, or the built-in webserver
    /// profile when that does not exist).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The block lists and timed bans of this state directory are checked too.
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart bans`: the guard's decisions, read from STATE_DIR/guard.db.
#[derive(Debug, Subcommand)]
pub enum BansCommand {
    /// The bans running now: target, detector, expiry, time left, repeat offence, reason.
    #[command(after_help = "Examples:
  rampart bans list
  rampart bans list --json | jq -r '.[] | select(.reason.detector == \"sshd\") | .target'")]
    List(BansListArgs),
    /// Why an address is banned (or was): every decision about it or a network holding
    /// it, newest first, with its reason, evidence (counts, first and last lines or
    /// sockets), origin, start and expiry.
    #[command(after_help = "Examples:
  rampart bans explain 198.51.100.9
  rampart bans explain 2001:db8::9 --json")]
    Explain(BansExplainArgs),
    /// Lift running bans, in the kernel and in the guard's record (the guard may ban again
    /// what offends again; an unban forgives past offences).
    #[command(after_help = "Examples:
  rampart bans unban 198.51.100.9
  rampart bans unban 198.51.100.0/24     # the network's ban and every ban inside it
  rampart bans unban --reason sshd       # every sshd ban (kernel: every kernel ban)
  rampart bans unban --all
  rampart bans unban 198.51.100.9 --fleet  # on every server of the fleet")]
    Unban(BansUnbanArgs),
}

/// `rampart bans list`.
#[derive(Debug, Args)]
pub struct BansListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The bans running fleet-wide (the shared store of the policy's `[fleet]`), with the
    /// server that decided each.
    #[arg(long)]
    pub fleet: bool,
    #[command(flatten)]
    pub fleet_source: crate::cmd::fleet::FleetSource,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart bans explain`.
#[derive(Debug, Args)]
pub struct BansExplainArgs {
    /// The address (or a network).
    #[arg(value_name = "ADDR")]
    pub target: String,
    /// Show at most this many decisions.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart bans unban`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["target", "reason", "all"])))]
pub struct BansUnbanArgs {
    /// An address (its bans), or a network (its ban and the bans inside it).
    #[arg(value_name = "ADDR|PREFIX")]
    pub target: Option<String>,
    /// Every ban of this detector (`sshd`, `connections`, `syn-recv`, `new-rate`,
    /// `http-rate`, `http-errors`, `rollup`, `kernel:LIMIT`) or origin (`kernel`, `manual`).
    #[arg(long, value_name = "R")]
    pub reason: Option<String>,
    /// Every running ban.
    #[arg(long)]
    pub all: bool,
    /// Lift it on every server of the fleet (in the shared store; each server's guard lifts
    /// it within a second), and here.
    #[arg(long, conflicts_with_all = ["reason", "all"], requires = "target")]
    pub fleet: bool,
    #[command(flatten)]
    pub fleet_source: crate::cmd::fleet::FleetSource,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Where rampart keeps what it applied and saved.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// State directory [default: $RAMPART_STATE_DIR, else /var/lib/rampart].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The policy to compile: a ruleset (`--rules`/`--script`, `--sets`) or a ready nft script.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub ruleset: RulesetArgs,
    /// A compiled nft script (one `table inet rampart { ... }` block, as `rampart compile`
    /// prints it) instead of a ruleset.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rules", "script", "sets"])]
    pub nft: Option<PathBuf>,
}

/// `rampart apply`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart apply --rules /etc/iptables/rules.v4 --confirm 60
  rampart apply --script examples/webserver.sh
  rampart apply --nft compiled.nft --force")]
pub struct ApplyArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Roll back to the previous table unless `rampart confirm` is run within SECS seconds
    /// (from a NEW SSH connection, to prove the new rules let you in).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub confirm: Option<u64>,
    /// Apply even when the kernel already has exactly this policy.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The policy file to compare with when no ruleset is given (default
    /// /etc/rampart/rampart.toml, or the built-in webserver profile when it does not exist).
    #[arg(long = "policy", value_name = "FILE", conflicts_with_all = ["rules", "script", "nft"])]
    pub policy_file: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart confirm-watch` (internal: the detached rollback watcher).
#[derive(Debug, Args)]
pub struct ConfirmWatchArgs {
    /// The pending apply's id.
    pub id: String,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rampart up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The policy file (default /etc/rampart/rampart.toml, or the built-in webserver
    /// profile when that does not exist).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Roll back after SECS seconds unless confirmed [default on a terminal: 60].
    #[arg(long, value_name = "SECS", conflicts_with = "no_confirm")]
    pub confirm: Option<u64>,
    /// Apply without the rollback window, even on a terminal.
    #[arg(long)]
    pub no_confirm: bool,
    /// Apply even if the lockout guard finds an SSH session the policy would cut.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub state: StateArgs,
}
