//! `ipset save` files, read with `rampart_ruleset`'s parser (the same one `rampart check`
//! uses for `--sets`), so the two never disagree about what a save file means.

use std::io::BufRead;

use rampart_prefix::Prefix;
use rampart_ruleset::{parse_save, ParseError, ParseOptions, Source};

use crate::error::{LineError, MAX_ERRORS, SKIPPED_SHOWN};
use crate::{
    for_each_line, Collector, ImportErrors, ImportOptions, Imported, LineErrorKind, Skipped,
};

/// One set from an `ipset save` file, with its address entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsetList {
    /// The set's name.
    pub name: String,
    /// Its entries' addresses or networks (entries without one, in `bitmap:port`, are left
    /// out; the ports of `hash:ip,port` entries are dropped).
    pub entries: Vec<Prefix>,
}

/// Reads `ipset save` output (`create NAME TYPE ...` and `add NAME ENTRY ...` lines). The
/// whole input is read first: an `add` needs its set's `create`, wherever it is.
///
/// Under `skip_invalid` the bad lines are blanked and the text parsed again (an `add` to a
/// set whose `create` was bad then fails in turn, so this repeats, at most
/// [`MAX_ROUNDS`] times).
pub fn read_ipset(
    input: impl BufRead,
    name: &str,
    opts: ImportOptions,
) -> Result<Imported<IpsetList>, ImportErrors> {
    // Read line by line, within the line and input limits; each `add` line is at most one
    // entry, so counting them bounds the entries before anything is parsed.
    let mut text = String::new();
    let mut adds = 0usize;
    let read = for_each_line(input, &opts, |_, line| {
        if line.trim_start().starts_with("add ") {
            adds += 1;
            if adds > opts.max_entries {
                return Err(LineErrorKind::TooManyEntries {
                    limit: opts.max_entries,
                });
            }
        }
        text.push_str(line);
        text.push('\n');
        Ok(())
    });
    let lines = match read {
        Ok(lines) => lines,
        Err(fatal) => return Err(Collector::new(name, opts).fatal(fatal)),
    };
    let mut skipped = Skipped::default();
    for _ in 0..MAX_ROUNDS {
        // Under skip_invalid every error (each bad line is blanked for the next round),
        // else the first few and a count.
        let all = ParseOptions {
            all_errors: opts.skip_invalid,
            ..ParseOptions::default()
        };
        let errors = match parse_save(&Source::new(name, text.as_str()), all) {
            Ok(parsed) => {
                let items = parsed
                    .ruleset
                    .sets
                    .into_iter()
                    .map(|s| IpsetList {
                        name: s.name,
                        entries: s
                            .entries
                            .into_iter()
                            .filter_map(|e| e.addr)
                            .map(|p| if opts.unmap_v4 { p.unmapped() } else { p })
                            .collect(),
                    })
                    .collect();
                return Ok(Imported {
                    items,
                    skipped,
                    lines,
                });
            }
            Err(e) => e,
        };
        let (total, errors) = (errors.total(), errors.0);
        if !opts.skip_invalid {
            return Err(ImportErrors {
                total,
                errors: errors.iter().take(MAX_ERRORS).map(convert).collect(),
            });
        }
        let bad: std::collections::HashSet<usize> =
            errors.iter().map(|e| e.span.line as usize).collect();
        skipped.count += bad.len();
        for e in &errors {
            if skipped.first.len() >= SKIPPED_SHOWN {
                break;
            }
            if !skipped.first.iter().any(|s| s.line == e.span.line as usize) {
                skipped.first.push(convert(e));
            }
        }
        text = text
            .lines()
            .enumerate()
            .map(|(i, l)| if bad.contains(&(i + 1)) { "" } else { l })
            .collect::<Vec<_>>()
            .join("\n");
    }
    Err(ImportErrors {
        errors: skipped.first,
        total: skipped.count,
    })
}

/// Rounds of skip-and-reparse: a bad `create` makes its `add`s fail in the second round;
/// nothing fails only in a third.
pub const MAX_ROUNDS: usize = 3;

fn convert(e: &ParseError) -> LineError {
    let mut l = LineError::new(
        &e.source_name,
        e.span.line as usize,
        &e.excerpt,
        LineErrorKind::Ipset(e.kind.to_string()),
    );
    l.hint.clone_from(&e.hint);
    l
}
