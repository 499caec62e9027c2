//! Reading ruleset inputs named on the command line.

use std::path::Path;

use anyhow::{bail, Context, Result};
use rampart_ruleset::{parse_any, parse_save, parse_script, ParseOptions, Parsed, Ruleset, Source};

use crate::flags::RulesetArgs;

/// How to read a ruleset file.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    /// Decide by content.
    Auto,
    /// A shell script of iptables/ip6tables/ipset commands.
    Script,
    /// iptables-save / ipset save output.
    Save,
}

/// Reads `path` (`-` for standard input) as a [`Source`].
pub fn read_source(path: &Path) -> Result<Source> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let name = if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    Ok(Source::new(name, text))
}

/// Reads and parses a ruleset; repairs made under `--lenient` and notes go to stderr.
pub fn load_ruleset(path: &Path, format: Format, lenient: bool) -> Result<Parsed> {
    let source = read_source(path)?;
    let opts = ParseOptions {
        lenient,
        ..ParseOptions::default()
    };
    let parsed = match format {
        Format::Auto => parse_any(&source, opts),
        Format::Script => parse_script(&source, opts),
        Format::Save => parse_save(&source, opts),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for repair in &parsed.repairs {
        eprintln!("repaired: {}", repair.describe(&source));
    }
    for note in &parsed.notes {
        eprintln!("note: {note}");
    }
    Ok(parsed)
}

/// Reads the ruleset named by `--rules`/`--script`, plus `--sets`.
pub fn load_ruleset_args(r: &RulesetArgs) -> Result<Ruleset> {
    let mut ruleset = match (&r.rules, &r.script) {
        (Some(path), _) => load_ruleset(path, Format::Auto, r.lenient)?.ruleset,
        (None, Some(path)) => load_ruleset(path, Format::Script, r.lenient)?.ruleset,
        (None, None) => bail!("give the ruleset with --rules FILE or --script FILE"),
    };
    if let Some(path) = &r.sets {
        let sets = load_ruleset(path, Format::Save, r.lenient)?.ruleset.sets;
        for set in sets {
            if ruleset.set(&set.name).is_some() {
                bail!(
                    "set `{}` is defined both in the ruleset and in {}",
                    set.name,
                    path.display()
                );
            }
            ruleset.sets.push(set);
        }
    }
    Ok(ruleset)
}
