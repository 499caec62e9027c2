//! Errors about user-written input: where (file:line:column), what (the offending token and
//! a kind), and how to fix it (a hint).

use std::fmt;

use rampart_safeio::{escaped, excerpt, EXCERPT_CHARS};

use crate::span::{Source, Span};

/// Most characters of a message an error shows: the message quotes tokens, each of which
/// may be a line of garbage.
const MESSAGE_CHARS: usize = 4 * EXCERPT_CHARS;

/// Characters of the line shown before the offending token when the line is too long to
/// show whole.
const LEAD_CHARS: usize = 20;

/// What went wrong, one variant per failure; the message is the variant's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A typographic character where ASCII belongs (pasted from a web page).
    #[error("found {found} where ASCII `{ascii}` belongs (text pasted from a web page?)")]
    Typographic {
        /// The character's description, e.g. `'–' (U+2013 EN DASH)`.
        found: String,
        /// The ASCII form.
        ascii: String,
    },
    /// A quote that is never closed.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(char),
    /// A shell construct rampart does not interpret (pipes, substitutions, loops...).
    #[error("unsupported shell syntax `{0}`")]
    UnsupportedShell(String),
    /// A variable used before it was assigned.
    #[error("undefined shell variable `{0}`")]
    UndefinedVariable(String),
    /// A line that is not an iptables, ip6tables or ipset command.
    #[error("not an iptables, ip6tables or ipset command: `{0}`")]
    UnknownCommand(String),
    /// An option iptables or ipset does not have, or rampart does not support.
    #[error("unknown or unsupported option `{0}`")]
    UnknownOption(String),
    /// A `-m` module that does not exist or is not supported.
    #[error("unsupported match module `{0}`")]
    UnknownModule(String),
    /// A `-j` target that does not exist or is not supported.
    #[error("unsupported target `{0}`")]
    UnknownTarget(String),
    /// An option given without its value.
    #[error("option `{0}` needs a value")]
    MissingValue(String),
    /// A value that does not parse for its option.
    #[error("bad value `{value}` for `{option}`: {reason}")]
    BadValue {
        /// The option.
        option: String,
        /// The value as written.
        value: String,
        /// Why it is wrong.
        reason: String,
    },
    /// An option given twice in one rule or module.
    #[error("option `{0}` given twice")]
    Duplicate(String),
    /// Two options that cannot be used together.
    #[error("`{0}` conflicts with `{1}`")]
    Conflict(String, String),
    /// `!` before something that cannot be negated, or negation of a list.
    #[error("`!` cannot be used here: {0}")]
    BadNegation(String),
    /// A table name that does not exist.
    #[error("unknown table `{0}`")]
    UnknownTable(String),
    /// A chain that does not exist in the table.
    #[error("no chain `{chain}` in table `{table}`")]
    NoSuchChain {
        /// The table.
        table: String,
        /// The chain.
        chain: String,
    },
    /// A chain that already exists.
    #[error("chain `{0}` already exists")]
    ChainExists(String),
    /// A built-in chain where a user chain is required, or the reverse.
    #[error("`{0}` is a built-in chain")]
    BuiltinChain(String),
    /// A user chain that still has rules or references.
    #[error("chain `{0}` is not empty or is still referenced")]
    ChainInUse(String),
    /// A rule number past the chain's end, or a `-D` spec that matches no rule.
    #[error("no such rule: {0}")]
    NoSuchRule(String),
    /// A target used in a table or chain where the kernel refuses it.
    #[error("target `{target}` is not allowed in {table}/{chain}")]
    TargetNotAllowed {
        /// The target.
        target: String,
        /// The table.
        table: String,
        /// The chain.
        chain: String,
    },
    /// A set that does not exist.
    #[error("no set named `{0}`")]
    NoSuchSet(String),
    /// A set that already exists.
    #[error("set `{0}` already exists")]
    SetExists(String),
    /// `add` of an element already in the set, without `-exist`.
    #[error("element `{element}` is already in set `{set}` (use -exist to ignore)")]
    SetElementExists {
        /// The set.
        set: String,
        /// The element as `ipset save` prints it.
        element: String,
    },
    /// `del` of an element not in the set, without `-exist`.
    #[error("element `{element}` is not in set `{set}` (use -exist to ignore)")]
    NoSuchSetElement {
        /// The set.
        set: String,
        /// The element as `ipset save` prints it.
        element: String,
    },
    /// An entry or operation the set's type, family or creation options do not allow.
    #[error("set `{set}`: {reason}")]
    SetMismatch {
        /// The set.
        set: String,
        /// What does not fit.
        reason: String,
    },
    /// `destroy` of a set that a rule still matches on (ipset: "Set cannot be destroyed: it
    /// is in use by a kernel component").
    #[error("set `{set}` cannot be destroyed: a rule in {chain} uses it; delete the rule first")]
    SetInUse {
        /// The set.
        set: String,
        /// Where the first referencing rule is, e.g. `iptables filter/INPUT`.
        chain: String,
    },
    /// A match or target used without the protocol it inspects (`--dport` without `-p tcp`).
    #[error("`{what}` needs `-p {protocol}`")]
    NeedsProtocol {
        /// The module, option or target value.
        what: String,
        /// The protocol(s) it needs, e.g. `tcp` or `tcp/udp`.
        protocol: String,
    },
    /// An option the kernel refuses in this built-in chain (`-i` in OUTPUT).
    #[error("`{option}` cannot be used in chain `{chain}`")]
    NotInChain {
        /// The option.
        option: String,
        /// The chain.
        chain: String,
    },
    /// The iptables-save structure is wrong (rule outside a table, missing COMMIT...).
    #[error("{0}")]
    Structure(String),
    /// A jump or goto that lets a chain reachable from a built-in chain call itself again
    /// (the kernel: "Too many links"). `path` starts and ends with the same chain.
    #[error("chain loop {}: the kernel refuses a chain that can reach itself", .path.join(" → "))]
    ChainLoop {
        /// The chains of the loop, first and last equal.
        path: Vec<String>,
    },
    /// A jump or goto nesting chains deeper than the kernel allows (the kernel: "Too many
    /// links"). `path` starts at the built-in chain.
    #[error("jump to `{}` nests {depth} chains below {}; the kernel allows {limit}", .path.last().map_or("", String::as_str), .path.first().map_or("", String::as_str))]
    JumpTooDeep {
        /// The chains from the built-in chain to the one jumped to.
        path: Vec<String>,
        /// Jumps from the built-in chain to the target.
        depth: usize,
        /// The deepest nesting allowed ([`crate::MAX_JUMP_DEPTH`]).
        limit: usize,
    },
}

/// An error in user-written input, with its place and a hint.
///
/// What it quotes of the input is bounded and escaped (issue 15): the token and the line
/// are cut to [`EXCERPT_CHARS`] characters (a window around the token on a longer line),
/// the message to four times that, and control characters (ESC, BEL, CR), and bidi
/// overrides are shown escaped (`\u{1b}`), so a hostile line cannot fill the terminal or
/// send it escape sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The source's name (path, `<stdin>`, `<arg>`).
    pub source_name: String,
    /// Where.
    pub span: Span,
    /// The offending token as written (at most [`EXCERPT_CHARS`] characters, escaped).
    pub token: String,
    /// The source line around the token, for underlining (at most [`EXCERPT_CHARS`]
    /// characters, `…` where cut, escaped).
    pub excerpt: String,
    /// The marks under [`ParseError::excerpt`]: blanks up to the token, then `^`s.
    pub underline: String,
    /// What is wrong.
    pub kind: ErrorKind,
    /// How to fix it, when a fix can be guessed.
    pub hint: Option<String>,
}

impl ParseError {
    /// An error at `span` in `source`.
    pub fn new(source: &Source, span: Span, kind: ErrorKind) -> ParseError {
        let line = source.line(span.line);
        let col = span.col.saturating_sub(1) as usize;
        let len = span.len.max(1) as usize;
        let token: String = line.chars().skip(col).take(len).collect();
        let (shown, underline) = quote_span(line, col, len);
        ParseError {
            source_name: escaped(source.name()),
            span,
            token: excerpt(&token, EXCERPT_CHARS),
            excerpt: shown,
            underline,
            kind,
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ParseError {
        self.hint = Some(hint.into());
        self
    }
}

/// What an error shows of `line` with the characters `col..col + len` (0-based) marked:
/// the line (the whole of it when short, else [`EXCERPT_CHARS`] characters from a little
/// before the mark, `…` where cut), control characters and bidi overrides escaped, and
/// the underline (blanks, then a `^` under each shown character of the mark). Costs
/// O(`col` + [`EXCERPT_CHARS`]) whatever the line's length.
pub fn quote_span(line: &str, col: usize, len: usize) -> (String, String) {
    let start = if line.chars().nth(EXCERPT_CHARS).is_none() {
        0
    } else {
        col.saturating_sub(LEAD_CHARS)
    };
    let mut shown = String::new();
    let mut underline = String::new();
    if start > 0 {
        shown.push('…');
        underline.push(' ');
    }
    let mut chars = line.chars().enumerate().skip(start);
    let mut past = true;
    for (i, c) in chars.by_ref().take(EXCERPT_CHARS) {
        let before = shown.chars().count();
        shown.push_str(&escaped(c.encode_utf8(&mut [0; 4])));
        let width = shown.chars().count() - before;
        let mark = if i >= col && i < col + len { '^' } else { ' ' };
        if i < col + len {
            underline.extend(std::iter::repeat_n(mark, width));
        }
        past = i < col;
    }
    if chars.next().is_some() {
        shown.push('…');
    }
    if !line.is_empty() && past {
        // A mark at the end of the line (a missing value): one `^` after it.
        underline.push('^');
    }
    (shown, underline.trim_end().to_string())
}

impl fmt::Display for ParseError {
    /// `file:line:col: message`, then the line with the token underlined, then the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name,
            self.span.line,
            self.span.col,
            excerpt(&self.kind.to_string(), MESSAGE_CHARS)
        )?;
        if !self.excerpt.is_empty() {
            write!(f, "\n  | {}\n  | {}", self.excerpt, self.underline)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {}", excerpt(hint, MESSAGE_CHARS))?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Several errors found in one input, reported together: those kept (the first
/// [`MAX_ERRORS`](rampart_safeio::MAX_ERRORS), or every one under
/// [`ParseOptions::all_errors`](crate::ParseOptions::all_errors)), then how many more were
/// found. A file of a million bad lines costs twenty error records and prints
/// `... and 999980 more`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<ParseError>, pub usize);

impl ParseErrors {
    /// Every error found, kept or not.
    pub fn total(&self) -> usize {
        self.0.len() + self.1
    }
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.1 > 0 {
            write!(f, "\n... and {} more", self.1)?;
        }
        if self.total() > 1 {
            write!(f, "\n{} errors", self.total())?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

impl From<ParseError> for ParseErrors {
    fn from(e: ParseError) -> ParseErrors {
        ParseErrors(vec![e], 0)
    }
}

/// Collects a parser's errors: keeps the first [`MAX_ERRORS`](rampart_safeio::MAX_ERRORS)
/// (all when asked) and counts the rest.
#[derive(Debug)]
pub(crate) struct Collected {
    cap: rampart_safeio::ErrorCap<ParseError>,
}

impl Collected {
    pub(crate) fn new(all: bool) -> Collected {
        let max = if all {
            usize::MAX
        } else {
            rampart_safeio::MAX_ERRORS
        };
        Collected {
            cap: rampart_safeio::ErrorCap::new(max),
        }
    }

    pub(crate) fn push(&mut self, e: ParseError) {
        self.cap.push(e);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.cap.is_empty()
    }

    pub(crate) fn into_errors(self) -> ParseErrors {
        let (kept, more) = self.cap.into_parts();
        ParseErrors(kept, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_place_token_underline_and_hint() {
        let src = Source::new("fw.sh", "iptables -A INPUT -m bogus -j DROP\n");
        let e = ParseError::new(
            &src,
            Span {
                line: 1,
                col: 22,
                len: 5,
            },
            ErrorKind::UnknownModule("bogus".into()),
        )
        .with_hint("see `rampart trace --help` for the supported modules");
        assert_eq!(e.token, "bogus");
        assert_eq!(
            e.to_string(),
            "fw.sh:1:22: unsupported match module `bogus`\n  \
             | iptables -A INPUT -m bogus -j DROP\n  \
             |                      ^^^^^\n  \
             = hint: see `rampart trace --help` for the supported modules"
        );
    }

    /// Issue 15: a hostile line is quoted as at most EXCERPT_CHARS escaped characters
    /// around its token (a megabyte line is not echoed), an escape sequence in it reaches
    /// the terminal escaped, and the underline still points at the token.
    #[test]
    fn issue15_long_hostile_lines_are_quoted_short_and_escaped() {
        let junk = "x".repeat(1 << 20);
        let text = format!("iptables -A INPUT {junk} -m \u{1b}]0;pwned\u{7} -j DROP\n");
        let src = Source::new("fw\u{1b}[2J.sh", text.as_str());
        let col = text.find('\u{1b}').unwrap() as u32 + 1;
        let e = ParseError::new(
            &src,
            Span {
                line: 1,
                col,
                len: 9,
            },
            ErrorKind::UnknownModule("\u{1b}]0;pwned\u{7}".into()),
        );
        let shown = e.to_string();
        assert!(shown.len() < 600, "{} bytes", shown.len());
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown}"
        );
        assert!(shown.starts_with("fw\\u{1b}[2J.sh:1:"), "{shown}");
        let lines: Vec<&str> = shown.lines().collect();
        let lead = format!("{} -m ", "x".repeat(16));
        assert_eq!(
            lines[1],
            format!("  | …{lead}\\u{{1b}}]0;pwned\\u{{7}} -j DROP"),
            "{shown}"
        );
        // The marks sit under the escaped token.
        let at = lines[1].chars().position(|c| c == '\\');
        assert_eq!(lines[2].chars().position(|c| c == '^'), at, "{shown}");
        assert_eq!(lines[2].matches('^').count(), "\\u{1b}]0;pwned".len());
    }

    /// Issue 15: the errors of a file of bad lines are reported as the first MAX_ERRORS
    /// and a count, in linear time (80,000 bad lines took 54 s when each error searched
    /// for its line).
    #[test]
    fn issue15_many_bad_lines_are_counted_not_all_shown() {
        let text = "iptables -A INPUT -m bogus -j DROP\n".repeat(80_000);
        let src = Source::new("fw.sh", text.as_str());
        let e = crate::parse_script(&src, crate::ParseOptions::default()).unwrap_err();
        assert_eq!(e.0.len(), rampart_safeio::MAX_ERRORS);
        assert_eq!(e.total(), 80_000);
        let shown = e.to_string();
        assert!(
            shown.ends_with("\n... and 79980 more\n80000 errors"),
            "{}",
            &shown[shown.len() - 100..]
        );
        assert_eq!(shown.matches("unsupported match module").count(), 20);
    }
}
