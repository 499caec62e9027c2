//! Errors about a policy file: where (file:line:column), which key, what, and how to fix it.

use std::fmt;

use rampart_ruleset::{quote_span, Source};
use rampart_safeio::{escaped, excerpt, EXCERPT_CHARS};

/// What is wrong; the message is the variant's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The text is not valid TOML, or a value has the wrong type.
    #[error("{0}")]
    Toml(String),
    /// A key the policy file does not have.
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A value that does not parse for its key.
    #[error("bad value `{value}`: {reason}")]
    BadValue {
        /// The value as written.
        value: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A key that the chosen settings need but the file does not give.
    #[error("missing key `{0}`")]
    Missing(String),
    /// Two keys that cannot be used together.
    #[error("`{0}` conflicts with `{1}`")]
    Conflict(String, String),
    /// An imported file that could not be read.
    #[error("cannot read imported file `{path}`: {reason}")]
    ImportRead {
        /// The path as written in the policy.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// An imported file with lines the ruleset engine rejects (each reported below it).
    #[error("imported file `{path}` does not load:\n{errors}")]
    Import {
        /// The path as written in the policy.
        path: String,
        /// The ruleset engine's errors, each with its own file:line:column.
        errors: String,
    },
    /// An imported file that clashes with the policy (a chain or set defined twice).
    #[error("imported file `{path}`: {reason}")]
    ImportClash {
        /// The path as written in the policy.
        path: String,
        /// What clashes.
        reason: String,
    },
}

/// One error in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line (0 when the error is about the file as a whole).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// Length of the offending text, in characters (at least 1).
    pub len: u32,
    /// The key, dotted from its table (`input.tcp`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub kind: PolicyErrorKind,
    /// How to fix it, when a remedy can be guessed.
    pub hint: Option<String>,
    /// The source line around the error, for underlining: at most
    /// [`EXCERPT_CHARS`] characters, control characters escaped
    /// ([`rampart_ruleset::quote_span`]).
    pub excerpt: String,
    /// The marks under [`PolicyError::excerpt`].
    pub underline: String,
}

impl PolicyError {
    /// An error at byte range `span` of `source`.
    pub(crate) fn at(
        source: &Source,
        span: std::ops::Range<usize>,
        kind: PolicyErrorKind,
    ) -> PolicyError {
        let text = source.text();
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = span.end.clamp(start, text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        // The line through the index (O(log n)): a file of many errors is reported in
        // linear time.
        let (line, line_start) = source.locate(start);
        let column = text[line_start..start].chars().count() as u32 + 1;
        let first_line_end = text[start..end].find('\n').map_or(end, |i| start + i);
        let len = (text[start..first_line_end].chars().count() as u32).max(1);
        let (excerpt, underline) = quote_span(source.line(line), column as usize - 1, len as usize);
        PolicyError {
            file: escaped(source.name()),
            line,
            column,
            len,
            key: key_at(source, line).map(|k| excerpt_key(&k)),
            kind,
            hint: None,
            excerpt,
            underline,
        }
    }

    /// The same error with a hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> PolicyError {
        self.hint = Some(hint.into());
        self
    }
}

/// A key as an error shows it: short and escaped.
fn excerpt_key(key: &str) -> String {
    excerpt(key, EXCERPT_CHARS)
}

/// The dotted key of line `number`: the last `[table]` header above it plus the key before
/// `=` on the line (or the header itself when the line is one).
fn key_at(source: &Source, number: u32) -> Option<String> {
    let line = source.line(number).trim();
    let header = |l: &str| {
        let l = l.split('#').next().unwrap_or("").trim();
        (l.starts_with('[') && l.ends_with(']'))
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    if let Some(h) = header(line) {
        return Some(h);
    }
    let table = (1..number).rev().find_map(|n| header(source.line(n)));
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('#'))?;
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key,
    })
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        // The message quotes values from the file, an imported file's errors included:
        // bounded and escaped (the imported errors are already, line by line).
        match &self.kind {
            PolicyErrorKind::Import { .. } => write!(f, "{}", self.kind)?,
            kind => write!(f, "{}", excerpt(&kind.to_string(), 4 * EXCERPT_CHARS))?,
        }
        if self.line != 0 {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            write!(f, "\n{pad} |\n{number} | {}", self.excerpt)?;
            write!(f, "\n{pad} | {}", self.underline)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {}", excerpt(hint, 4 * EXCERPT_CHARS))?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// The errors found in one policy file, in file order: the first
/// [`MAX_ERRORS`](rampart_safeio::MAX_ERRORS) kept, and how many more were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>, pub usize);

impl PolicyErrors {
    /// Every error found, kept or not.
    pub fn total(&self) -> usize {
        self.0.len() + self.1
    }

    /// The errors kept by `cap`, in file order.
    pub(crate) fn from_cap(cap: rampart_safeio::ErrorCap<PolicyError>) -> PolicyErrors {
        let (mut kept, more) = cap.into_parts();
        kept.sort_by_key(|e| (e.line, e.column));
        PolicyErrors(kept, more)
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.1 > 0 {
            write!(f, "\n\n... and {} more", self.1)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl From<PolicyError> for PolicyErrors {
    fn from(e: PolicyError) -> PolicyErrors {
        PolicyErrors(vec![e], 0)
    }
}

/// The closest of `candidates` to `word`, when one is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_path_from_table_and_line() {
        let text = Source::new("p", "profile = \"x\"\n[input]\ntcp = [22]\n");
        assert_eq!(key_at(&text, 1).as_deref(), Some("profile"));
        assert_eq!(key_at(&text, 3).as_deref(), Some("input.tcp"));
        assert_eq!(key_at(&text, 2).as_deref(), Some("input"));
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(
            did_you_mean("allow_form", &["allow_from", "tcp"]),
            Some("allow_from")
        );
        assert_eq!(did_you_mean("zzzzzz", &["tcp", "udp"]), None);
    }
}
