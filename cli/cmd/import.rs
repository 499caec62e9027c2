//! `rampart import --collapse`: per-address DROP/REJECT rules become one set and one rule.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use rampart_ruleset::{collapse, print_sets, to_save_all, CollapseOptions, CollapseReport, Family};

use crate::input::{load_ruleset, Format};

/// `rampart import`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart import --collapse /etc/iptables/rules.v4 --out rules.collapsed
      writes rules.collapsed (iptables-restore) and rules.collapsed.ipset (ipset restore)
  rampart import --collapse blocklist.sh --set-name blog-blocks > collapsed.save

A rule joins a run only when moving it up to the run's first rule cannot change any
packet's verdict: an ACCEPT (or jump, RETURN, LOG, other verdict) in between for an
overlapping source keeps the rules it may meet where they are.")]
pub struct ImportArgs {
    /// The iptables script or iptables-save file (`-` for standard input).
    pub file: PathBuf,
    /// Turn runs of per-address DROP/REJECT rules with otherwise identical options into one
    /// hash:net set (aggregated) and one `-m set --match-set NAME src` rule each.
    #[arg(long, required = true)]
    pub collapse: bool,
    /// Write the rules to FILE (iptables-save format) and the sets to FILE.ipset (ipset save
    /// format; restore it first). Default: both to standard output, sets first.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Name of the set (later runs get NAME-2, NAME-3, ...).
    #[arg(long, value_name = "NAME", default_value = "collapsed")]
    pub set_name: String,
    /// Repair pasted typographic characters and report each repair.
    #[arg(long)]
    pub lenient: bool,
}

/// Reads, collapses, writes, and says what it did.
pub fn run(args: ImportArgs) -> Result<ExitCode> {
    let mut ruleset = load_ruleset(&args.file, Format::Auto, args.lenient)?.ruleset;
    let before = ruleset.rule_count();
    let opts = CollapseOptions {
        set_name: args.set_name.clone(),
        ..CollapseOptions::default()
    };
    let report = collapse(&mut ruleset, &opts)?;
    let rules = to_save_all(&ruleset, false);
    let sets = print_sets(&ruleset);
    let summary = summary(&report, before, ruleset.rule_count());
    match &args.out {
        Some(path) => {
            let sets_path = ipset_path(path);
            write(path, &rules)?;
            write(&sets_path, &sets)?;
            let mut out = std::io::stdout().lock();
            out.write_all(summary.as_bytes())?;
            writeln!(
                out,
                "wrote {} (iptables-restore) and {} (ipset restore; load it first)",
                path.display(),
                sets_path.display()
            )?;
        }
        None => {
            std::io::stdout()
                .lock()
                .write_all((sets + &rules).as_bytes())?;
            std::io::stderr().lock().write_all(summary.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ipset_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ipset");
    PathBuf::from(name)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// One line per run, then the totals.
fn summary(report: &CollapseReport, before: usize, after: usize) -> String {
    let mut out = String::new();
    for run in &report.runs {
        let family = match run.family {
            Family::Ipv4 => "",
            Family::Ipv6 => " (IPv6)",
        };
        out +=
            &format!(
            "collapsed {} rules in {}:{}{family} into set {} ({} {} after aggregation) and one \
             rule, at position {}\n",
            thousands(run.rules),
            run.table,
            run.chain,
            run.set,
            thousands(run.prefixes),
            if run.prefixes == 1 { "prefix" } else { "prefixes" },
            run.position,
        );
    }
    if report.runs.is_empty() {
        out += "nothing to collapse: no two per-address DROP/REJECT rules share their options\n";
    }
    if report.kept > 0 {
        out += &format!(
            "kept {} rules in place: a rule between them and their run (an ACCEPT, jump, \
             RETURN, LOG or other verdict for an overlapping source) could see their packets \
             first\n",
            thousands(report.kept)
        );
    }
    out += &format!(
        "{} rules before, {} after\n",
        thousands(before),
        thousands(after)
    );
    out
}

/// `20000` → `20,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(20_000), "20,000");
        assert_eq!(super::thousands(1_048_576), "1,048,576");
    }
}
