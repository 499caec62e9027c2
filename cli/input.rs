//! Reading ruleset inputs named on the command line.

use std::path::Path;

use anyhow::{Context, Result};
use rampart_ruleset::{parse_any, parse_save, parse_script, ParseOptions, Parsed, Source};

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
