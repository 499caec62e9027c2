//! Errors about user-written input: where (file:line:column), what (the offending token and
//! a kind), and how to fix it (a hint).

use std::fmt;

use crate::span::{Source, Span};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The source's name (path, `<stdin>`, `<arg>`).
    pub source_name: String,
    /// Where.
    pub span: Span,
    /// The offending token as written.
    pub token: String,
    /// The source line, for underlining.
    pub excerpt: String,
    /// What is wrong.
    pub kind: ErrorKind,
    /// How to fix it, when a fix can be guessed.
    pub hint: Option<String>,
}

impl ParseError {
    /// An error at `span` in `source`.
    pub fn new(source: &Source, span: Span, kind: ErrorKind) -> ParseError {
        let excerpt = source.line(span.line).to_string();
        let token: String = excerpt
            .chars()
            .skip(span.col.saturating_sub(1) as usize)
            .take(span.len.max(1) as usize)
            .collect();
        ParseError {
            source_name: source.name().to_string(),
            span,
            token,
            excerpt,
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

impl fmt::Display for ParseError {
    /// `file:line:col: message`, then the line with the token underlined, then the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name, self.span.line, self.span.col, self.kind
        )?;
        if !self.excerpt.is_empty() {
            let pad: String = self
                .excerpt
                .chars()
                .take(self.span.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let marks = "^".repeat(self.span.len.max(1) as usize);
            write!(f, "\n  | {}\n  | {}{}", self.excerpt, pad, marks)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Several errors found in one input, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<ParseError>);

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{} errors", self.0.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

impl From<ParseError> for ParseErrors {
    fn from(e: ParseError) -> ParseErrors {
        ParseErrors(vec![e])
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
}
