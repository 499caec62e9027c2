//! `rampart harden`: kernel settings against floods and spoofing, current against
//! recommended, with the reason for each; `--apply` sets and persists them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use rampart_harden::{apply, plan, Applied, Plan, Proc, Scope, Status, CONF_FILE, SETTINGS};
use serde::Serialize;

/// Where sysctl.d files live on the host.
const SYSCTL_DIR: &str = "/etc/sysctl.d";

/// `rampart harden`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart harden                  what would change, and why
  sudo rampart harden --apply     set them, and keep them in /etc/sysctl.d/90-rampart.conf
  rampart harden --json

Inside a network namespace (e.g. `ip netns exec NS rampart harden --apply`) only that \
namespace's settings change; host-wide ones (the conntrack table size) are shown and left \
alone, and nothing is written under /etc unless --sysctl-dir is given. docs/harden.md explains \
each setting.")]
pub struct HardenArgs {
    /// Set every setting that misses its recommendation, and write them all to
    /// 90-rampart.conf in the sysctl directory (no other file is touched).
    #[arg(long)]
    pub apply: bool,
    /// The sysctl directory for 90-rampart.conf [default: /etc/sysctl.d; inside a network
    /// namespace, none unless given].
    #[arg(long, value_name = "DIR")]
    pub sysctl_dir: Option<PathBuf>,
    /// Read (and with --apply, write) the settings under this proc root (for tests).
    #[arg(long, value_name = "DIR", default_value = "/proc", hide = true)]
    pub proc: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    /// Is this the initial network namespace?
    initial_netns: bool,
    mem_bytes: u64,
    settings: &'a [rampart_harden::Check],
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<&'a Applied>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_persisted: Option<&'a str>,
}

/// Why nothing was persisted inside a namespace.
const NOT_PERSISTED: &str = "this is a network namespace: the sysctl.d files configure the \
host, so none was written (give --sysctl-dir to write one)";

/// Runs `rampart harden`.
pub fn run(args: HardenArgs) -> Result<ExitCode> {
    let proc = Proc::new(&args.proc);
    let facts = proc.facts()?;
    let plan = plan(SETTINGS, &proc, facts);
    let conf_dir: Option<PathBuf> = match (&args.sysctl_dir, facts.initial_netns) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => Some(PathBuf::from(SYSCTL_DIR)),
        (None, false) => None,
    };
    let applied = if args.apply {
        if args.proc == Path::new("/proc") && !is_root() {
            bail!(
                "`rampart harden --apply` changes kernel settings and needs root: run it with sudo"
            );
        }
        if let Some(d) = &conf_dir {
            if !d.is_dir() {
                bail!(
                    "--sysctl-dir {}: not a directory (create it, or give another)",
                    d.display()
                );
            }
        }
        Some(apply(&plan, &proc, conf_dir.as_deref())?)
    } else {
        None
    };
    let not_persisted = (args.apply && conf_dir.is_none()).then_some(NOT_PERSISTED);
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = Report {
            initial_netns: facts.initial_netns,
            mem_bytes: facts.mem_bytes,
            settings: &plan.checks,
            applied: applied.as_ref(),
            not_persisted,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render(
            &mut out,
            &plan,
            applied.as_ref(),
            conf_dir.as_deref(),
            not_persisted,
        )?;
    }
    let failed = applied.as_ref().is_some_and(|a| !a.failed.is_empty());
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(
    out: &mut impl Write,
    plan: &Plan,
    applied: Option<&Applied>,
    conf_dir: Option<&Path>,
    not_persisted: Option<&str>,
) -> Result<()> {
    let netns = !plan.facts.initial_netns;
    writeln!(
        out,
        "{} ({} MiB of memory)",
        if netns {
            "inside a network namespace: only its own settings can change"
        } else {
            "the host's network namespace"
        },
        plan.facts.mem_bytes >> 20
    )?;
    let done = |key: &str| applied.is_some_and(|a| a.changed.iter().any(|c| c.key == key));
    for c in &plan.checks {
        let current = c.current.as_deref().unwrap_or("absent");
        let (mark, what) = match c.status {
            Status::Ok => ("ok ", String::new()),
            Status::Change if done(c.key) => ("set", format!(" -> set to {}", fmt_set(c.set_to))),
            Status::Change if applied.is_some() => ("ERR", " -> the kernel refused".to_owned()),
            Status::Change => ("fix", format!(" -> --apply sets {}", fmt_set(c.set_to))),
            Status::HostWide => (
                "---",
                format!(
                    " -> host-wide, left alone here (the host would set {})",
                    fmt_set(c.set_to)
                ),
            ),
            Status::Absent => ("---", " -> not in this kernel (module not loaded?)".into()),
            Status::Unreadable => (
                "???",
                format!(
                    " -> unreadable{}",
                    c.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            ),
        };
        let scope = if c.scope == Scope::Host && c.status != Status::HostWide {
            " [host-wide]"
        } else {
            ""
        };
        writeln!(
            out,
            "{mark} {} = {current} (recommended {}){what}{scope}",
            c.key, c.recommended
        )?;
        for line in wrap(c.reason, REASON_WIDTH) {
            writeln!(out, "      {line}")?;
        }
    }
    match applied {
        None => {
            let n = plan.changes().count();
            if n == 0 {
                writeln!(out, "every setting meets its recommendation")?;
            } else {
                writeln!(
                    out,
                    "{n} settings to change: `rampart harden --apply` sets them{}",
                    match conf_dir {
                        Some(d) => format!(" and keeps them in {}", d.join(CONF_FILE).display()),
                        None => String::new(),
                    }
                )?;
            }
        }
        Some(a) => {
            writeln!(out, "changed {} settings", a.changed.len())?;
            for f in &a.failed {
                writeln!(out, "failed: {}", f.error)?;
            }
            if !a.left_alone.is_empty() {
                writeln!(
                    out,
                    "left alone (host-wide, not namespaced): {}",
                    a.left_alone.join(", ")
                )?;
            }
            if let Some(p) = &a.conf_file {
                writeln!(out, "persisted in {}", p.display())?;
            }
            if let Some(why) = not_persisted {
                writeln!(out, "not persisted: {why}")?;
            }
        }
    }
    Ok(())
}

/// Reasons are wrapped to this many columns (plus the indent).
const REASON_WIDTH: usize = 88;

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Root owns `/proc/self` of a process running as root (its effective uid).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn fmt_set(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}
