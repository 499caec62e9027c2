//! `ipset save` files, read with `rampart_ruleset`'s parser (the same one `rampart check`
//! uses for `--sets`), so the two never disagree about what a save file means.

use std::io::BufRead;

use rampart_prefix::Prefix;
use rampart_ruleset::{parse_save, ParseError, ParseOptions, Source};

use crate::error::{LineError, SKIPPED_SHOWN};
use crate::{ImportErrors, ImportOptions, Imported, LineErrorKind, Skipped};

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
    mut input: impl BufRead,
    name: &str,
    opts: ImportOptions,
) -> Result<Imported<IpsetList>, ImportErrors> {
    let mut text = String::new();
    if let Err(e) = input.read_to_string(&mut text) {
        return Err(ImportErrors {
            errors: vec![LineError::new(
                name,
                1,
                "",
                LineErrorKind::Io(e.to_string()),
            )],
            total: 1,
        });
    }
    let lines = text.lines().count();
    let mut skipped = Skipped::default();
    for _ in 0..MAX_ROUNDS {
        let errors = match parse_save(&Source::new(name, text.as_str()), ParseOptions::default()) {
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
            Err(e) => e.0,
        };
        let converted: Vec<LineError> = errors.iter().map(convert).collect();
        if !opts.skip_invalid {
            return Err(ImportErrors {
                total: converted.len(),
                errors: converted,
            });
        }
        let bad: std::collections::HashSet<usize> = converted.iter().map(|e| e.line).collect();
        skipped.count += bad.len();
        for e in converted {
            if skipped.first.len() < SKIPPED_SHOWN
                && !skipped.first.iter().any(|s| s.line == e.line)
            {
                skipped.first.push(e);
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
    LineError {
        source_name: e.source_name.clone(),
        line: e.span.line as usize,
        text: e.excerpt.clone(),
        kind: LineErrorKind::Ipset(e.kind.to_string()),
        hint: e.hint.clone(),
    }
}
