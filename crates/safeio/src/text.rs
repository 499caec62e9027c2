//! Hostile text: bounded reading, and what an error may quote of it.

use std::io::{self, BufRead, Read};

/// Most characters of a line (or of a value from it) an error quotes; longer ones end in
/// `…`. A 4 KiB line of garbage is not worth 4 KiB of terminal per error.
pub const EXCERPT_CHARS: usize = 80;

/// Most errors one input keeps and shows (the rest are counted and shown as
/// `... and N more`). A million-line file of garbage must not need a million error
/// records, or a terminal full of them, to say so; the first twenty show the pattern.
pub const MAX_ERRORS: usize = 20;

/// At most `max` characters of `text`, then `…` if there were more, with control
/// characters (ESC, CR, BEL, C1 controls) and bidirectional overrides escaped as
/// `\u{1b}`: a line of input must not reach the terminal as an escape sequence.
/// O(`max`), whatever the length of `text`.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        push_escaped(&mut out, c);
    }
    out
}

/// `text` with control characters and bidi overrides escaped, not shortened (for names
/// and messages already bounded).
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// `text` with control characters other than the newline, and bidi overrides, escaped:
/// for multi-line output built from input (a trace, a report) that goes to a terminal.
pub fn escaped_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    out
}

/// Appends `c`, escaped when it is a control character (tab too: it is shown as `\t`
/// so an underline below it lines up) or a bidi override or isolate.
pub(crate) fn push_escaped(out: &mut String, c: char) {
    let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if c.is_control() || bidi {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// How much of one input a reader takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest line, in bytes, without its end of line.
    pub max_line_len: usize,
    /// The most bytes in all.
    pub max_bytes: u64,
}

impl Default for Limits {
    /// 64 KiB lines, 512 MiB in all: far above any real ruleset, list or database line,
    /// far below what a root process should spend on one input.
    fn default() -> Limits {
        Limits {
            max_line_len: 64 << 10,
            max_bytes: 512 << 20,
        }
    }
}

/// Why a bounded read stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A line longer than [`Limits::max_line_len`]: nothing was read past it.
    #[error("line {line} is longer than {limit} bytes, the most rampart reads in one line; nothing was read past it")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// The limit.
        limit: usize,
        /// The start of the line (at most 4 × [`EXCERPT_CHARS`] characters, not escaped:
        /// quote it with [`excerpt`]).
        start: String,
    },
    /// More than [`Limits::max_bytes`] bytes.
    #[error(
        "input larger than {limit} bytes, the most rampart reads from one input (at line {line})"
    )]
    TooLarge {
        /// The line being read when the limit was passed.
        line: usize,
        /// The limit.
        limit: u64,
    },
    /// The read itself failed.
    #[error("read error at line {line}: {source}")]
    Io {
        /// The line being read.
        line: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl LimitError {
    /// The 1-based line the read stopped at.
    pub fn line(&self) -> usize {
        match self {
            LimitError::LineTooLong { line, .. }
            | LimitError::TooLarge { line, .. }
            | LimitError::Io { line, .. } => *line,
        }
    }
}

/// The lines of an input, read within [`Limits`]: one buffer reused, each line read with
/// a bounded `read_until`, so memory is at most one line whatever the input (`/dev/zero`
/// is refused after `max_line_len` bytes). Invalid UTF-8 is replaced (U+FFFD).
#[derive(Debug)]
pub struct Lines<R> {
    input: R,
    limits: Limits,
    raw: Vec<u8>,
    text: String,
    number: usize,
    total: u64,
    failed: bool,
}

impl<R: BufRead> Lines<R> {
    /// The lines of `input`.
    pub fn new(input: R, limits: Limits) -> Lines<R> {
        Lines {
            input,
            limits,
            raw: Vec::with_capacity(128),
            text: String::new(),
            number: 0,
            total: 0,
            failed: false,
        }
    }

    /// The next line (1-based number, text without `\n` or `\r\n`); `None` at the end or
    /// after an error.
    pub fn next_line(&mut self) -> Option<Result<(usize, &str), LimitError>> {
        match self.next_raw() {
            None => None,
            Some(Err(e)) => Some(Err(e)),
            Some(Ok(())) => {
                self.text.clear();
                self.text.push_str(&String::from_utf8_lossy(&self.raw));
                let end = self.text.trim_end_matches(['\n', '\r']).len();
                Some(Ok((self.number, &self.text[..end])))
            }
        }
    }

    /// Reads the next line's bytes (end of line included) into `self.raw`.
    fn next_raw(&mut self) -> Option<Result<(), LimitError>> {
        if self.failed {
            return None;
        }
        self.raw.clear();
        let read = (&mut self.input)
            .take(self.limits.max_line_len as u64 + 1)
            .read_until(b'\n', &mut self.raw);
        let fail = |s: &mut Self, e| {
            s.failed = true;
            Some(Err(e))
        };
        match read {
            Ok(0) => None,
            Ok(len) => {
                self.number += 1;
                self.total += len as u64;
                let content = self.raw.len() - usize::from(self.raw.ends_with(b"\n"));
                if content > self.limits.max_line_len {
                    let start: String = String::from_utf8_lossy(&self.raw)
                        .chars()
                        .take(4 * EXCERPT_CHARS)
                        .collect();
                    let e = LimitError::LineTooLong {
                        line: self.number,
                        limit: self.limits.max_line_len,
                        start,
                    };
                    return fail(self, e);
                }
                if self.total > self.limits.max_bytes {
                    let e = LimitError::TooLarge {
                        line: self.number,
                        limit: self.limits.max_bytes,
                    };
                    return fail(self, e);
                }
                Some(Ok(()))
            }
            Err(source) => {
                let e = LimitError::Io {
                    line: self.number + 1,
                    source,
                };
                fail(self, e)
            }
        }
    }
}

/// The whole of `input` as text, every line within `limits` (ends of line kept as
/// written; invalid UTF-8 replaced).
pub fn read_text(input: impl BufRead, limits: Limits) -> Result<String, LimitError> {
    let mut lines = Lines::new(input, limits);
    let mut text = String::new();
    while let Some(read) = lines.next_raw() {
        read?;
        text.push_str(&String::from_utf8_lossy(&lines.raw));
    }
    Ok(text)
}

/// The errors of one input: the first `max` kept, every one counted. [`ErrorCap::push_with`]
/// builds an error only when it is kept, so a million bad lines cost a counter, not a
/// million error records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCap<T> {
    kept: Vec<T>,
    total: usize,
    max: usize,
}

impl<T> Default for ErrorCap<T> {
    fn default() -> ErrorCap<T> {
        ErrorCap::new(MAX_ERRORS)
    }
}

impl<T> ErrorCap<T> {
    /// Keeps the first `max`.
    pub fn new(max: usize) -> ErrorCap<T> {
        ErrorCap {
            kept: Vec::new(),
            total: 0,
            max,
        }
    }

    /// Counts an error, keeping it while fewer than `max` are kept.
    pub fn push(&mut self, e: T) {
        self.push_with(|| e);
    }

    /// Counts an error, building and keeping it while fewer than `max` are kept.
    pub fn push_with(&mut self, e: impl FnOnce() -> T) {
        self.total += 1;
        if self.kept.len() < self.max {
            self.kept.push(e());
        }
    }

    /// No error counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many were counted.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The kept errors and how many more were counted.
    pub fn into_parts(self) -> (Vec<T>, usize) {
        let more = self.total - self.kept.len();
        (self.kept, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_shortens() {
        assert_eq!(
            excerpt("a\u{1b}]0;pwned\u{7}b", 80),
            "a\\u{1b}]0;pwned\\u{7}b"
        );
        assert_eq!(excerpt("\u{202e}x", 80), "\\u{202e}x");
        assert_eq!(excerpt(&"x".repeat(100), 3), "xxx…");
        assert_eq!(escaped("a\tb\r"), "a\\tb\\r");
        assert_eq!(escaped_lines("a\n\u{1b}b\n"), "a\n\\u{1b}b\n");
    }

    #[test]
    fn lines_are_bounded_and_numbered() {
        let limits = Limits {
            max_line_len: 4,
            max_bytes: 100,
        };
        let mut l = Lines::new("ab\r\ncd\nlonger\nx".as_bytes(), limits);
        assert_eq!(l.next_line().unwrap().unwrap(), (1, "ab"));
        assert_eq!(l.next_line().unwrap().unwrap(), (2, "cd"));
        match l.next_line().unwrap() {
            Err(LimitError::LineTooLong {
                line: 3,
                limit: 4,
                start,
            }) => {
                assert_eq!(start, "longe")
            }
            other => panic!("{other:?}"),
        }
        assert!(l.next_line().is_none(), "nothing after an error");

        // An endless input without line ends: refused after the line limit.
        let zero = std::io::BufReader::new(std::io::repeat(0));
        let e = read_text(zero, limits).unwrap_err();
        assert!(matches!(e, LimitError::LineTooLong { line: 1, .. }), "{e}");
        // An endless input of short lines: refused after the size limit.
        let many = std::io::BufReader::new(std::io::repeat(b'\n'));
        let e = read_text(many, limits).unwrap_err();
        assert!(matches!(e, LimitError::TooLarge { line: 101, .. }), "{e}");
        assert_eq!(
            read_text("a\r\nb".as_bytes(), limits).unwrap(),
            "a\r\nb",
            "ends of line kept"
        );
    }

    #[test]
    fn cap_counts_all_and_builds_the_first() {
        let mut cap = ErrorCap::new(2);
        let mut built = 0;
        for i in 0..1000 {
            cap.push_with(|| {
                built += 1;
                i
            });
        }
        assert_eq!(built, 2);
        assert_eq!(cap.total(), 1000);
        assert_eq!(cap.into_parts(), (vec![0, 1], 998));
    }
}
