//! Reading ruleset inputs named on the command line: every one within the limits of
//! `--max-line-bytes` and `--max-input-bytes` (issue 15: a file of garbage or
//! `/dev/zero` costs bounded memory and ends with an error that says which limit).

use std::io::BufReader;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use rampart_ruleset::{parse_any, parse_save, parse_script, ParseOptions, Parsed, Ruleset, Source};
use rampart_safeio::{LimitError, Limits};

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

/// The limits given on the command line (`None`: the reader's default).
static GIVEN: OnceLock<(Option<usize>, Option<u64>)> = OnceLock::new();

/// Records `--max-line-bytes` and `--max-input-bytes` (once, before any input is read).
pub fn set_limits(max_line_bytes: Option<usize>, max_input_bytes: Option<u64>) {
    let _ = GIVEN.set((max_line_bytes, max_input_bytes));
}

/// The limits for ruleset, policy and host files: the flags, else 64 KiB lines and
/// 512 MiB.
pub fn limits() -> Limits {
    let (line, bytes) = GIVEN.get().copied().unwrap_or_default();
    let d = Limits::default();
    Limits {
        max_line_len: line.unwrap_or(d.max_line_len),
        max_bytes: bytes.unwrap_or(d.max_bytes),
    }
}

/// The list importers' options with the limits given on the command line.
pub fn import_options(base: rampart_lists::ImportOptions) -> rampart_lists::ImportOptions {
    let (line, bytes) = GIVEN.get().copied().unwrap_or_default();
    rampart_lists::ImportOptions {
        max_line_len: line.unwrap_or(base.max_line_len),
        max_bytes: bytes.unwrap_or(base.max_bytes),
        ..base
    }
}

/// A limit refusal as the user reads it: where, which limit, the start of the line, the
/// flag that changes the limit.
fn limit_error(name: &str, e: LimitError) -> anyhow::Error {
    let flag = match &e {
        LimitError::LineTooLong { .. } => {
            "\n  = hint: is this a text file? give --max-line-bytes N to read longer lines"
        }
        LimitError::TooLarge { .. } => "\n  = hint: give --max-input-bytes N to read larger files",
        _ => "",
    };
    let start = match &e {
        LimitError::LineTooLong { start, .. } => format!(
            "\n  | {}",
            rampart_safeio::excerpt(start, rampart_safeio::EXCERPT_CHARS)
        ),
        _ => String::new(),
    };
    anyhow!("{}: {e}{start}{flag}", rampart_safeio::escaped(name))
}

/// Reads `path` (`-` for standard input) as a [`Source`], within [`limits`].
pub fn read_source(path: &Path) -> Result<Source> {
    let (name, text) = if path == Path::new("-") {
        let name = "<stdin>".to_string();
        let text = rampart_safeio::read_text(std::io::stdin().lock(), limits())
            .map_err(|e| limit_error(&name, e))?;
        (name, text)
    } else {
        let name = path.display().to_string();
        let f = std::fs::File::open(path).with_context(|| format!("reading {name}"))?;
        let text = rampart_safeio::read_text(BufReader::new(f), limits())
            .map_err(|e| limit_error(&name, e))?;
        (name, text)
    };
    Ok(Source::new(name, text))
}

/// Reads a file that becomes the firewall (the policy, its imports): refused when another
/// user could have changed it (`rampart_safeio::open_trusted`), read within [`limits`].
pub fn read_trusted(path: &Path) -> Result<Source> {
    let name = path.display().to_string();
    let f = rampart_safeio::open_trusted(path)?
        .ok_or_else(|| anyhow!("cannot read {name}: no such file"))?;
    let text = rampart_safeio::read_text(BufReader::new(f), limits())
        .map_err(|e| limit_error(&name, e))?;
    Ok(Source::new(name, text))
}

/// Reads and parses a ruleset; repairs made under `--lenient` and notes go to stderr.
pub fn load_ruleset(path: &Path, format: Format, lenient: bool) -> Result<Parsed> {
    parse_source(&read_source(path)?, format, lenient)
}

/// Parses a source already read; repairs and notes go to stderr.
pub fn parse_source(source: &Source, format: Format, lenient: bool) -> Result<Parsed> {
    let opts = ParseOptions {
        lenient,
        ..ParseOptions::default()
    };
    let parsed = match format {
        Format::Auto => parse_any(source, opts),
        Format::Script => parse_script(source, opts),
        Format::Save => parse_save(source, opts),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // At most MAX_ERRORS of each, then a count: a million pasted dashes are a million
    // repairs.
    let n = rampart_safeio::MAX_ERRORS;
    for repair in parsed.repairs.iter().take(n) {
        eprintln!("repaired: {}", repair.describe(source));
    }
    for note in parsed.notes.iter().take(n) {
        eprintln!("note: {note}");
    }
    for (count, what) in [
        (parsed.repairs.len(), "repairs"),
        (parsed.notes.len(), "notes"),
    ] {
        if count > n {
            eprintln!("... and {} more {what}", count - n);
        }
    }
    Ok(parsed)
}

/// Who may have written a file that is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Anyone: the file is only read and reported on (`check`, `trace`, `compile`).
    Anyone,
    /// Root or this user only: the file becomes the firewall (`apply`); see
    /// [`read_trusted`]. Standard input is the caller's own.
    Owner,
}

/// Reads `path` as [`read_source`] or, for [`Trust::Owner`], [`read_trusted`].
pub fn read_input(path: &Path, trust: Trust) -> Result<Source> {
    match trust {
        Trust::Owner if path != Path::new("-") => read_trusted(path),
        _ => read_source(path),
    }
}

/// Reads the ruleset named by `--rules`/`--script`, plus `--sets`; returns it with the
/// rules' source text (for showing the lines errors point at).
pub fn load_ruleset_args(r: &RulesetArgs, trust: Trust) -> Result<(Ruleset, Source)> {
    let (path, format) = match (&r.rules, &r.script) {
        (Some(path), _) => (path, Format::Auto),
        (None, Some(path)) => (path, Format::Script),
        (None, None) => bail!("give the ruleset with --rules FILE or --script FILE"),
    };
    let source = read_input(path, trust)?;
    let mut ruleset = parse_source(&source, format, r.lenient)?.ruleset;
    if let Some(path) = &r.sets {
        let sets = parse_source(&read_input(path, trust)?, Format::Save, r.lenient)?
            .ruleset
            .sets;
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
    Ok((ruleset, source))
}
