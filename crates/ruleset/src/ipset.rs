//! ipset commands and `ipset save` output → [`SetCommand`]s applied to [`Ruleset::sets`].
use crate::error::{ErrorKind, ParseError};
use crate::lex::Word;
use crate::model::{IpSet, Ruleset, SetEntry};
use crate::span::{Source, Span};

/// One ipset command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetCommand {
    /// `create NAME TYPE [options]` (`-exist` sets `exist`).
    Create {
        /// The new set (no entries).
        set: IpSet,
        /// `-exist`: no error when an identical set exists.
        exist: bool,
    },
    /// `add NAME ENTRY [timeout N]`.
    Add {
        /// Set name.
        name: String,
        /// The entry.
        entry: SetEntry,
        /// `-exist`.
        exist: bool,
    },
    /// `del NAME ENTRY`.
    Del {
        /// Set name.
        name: String,
        /// The entry.
        entry: SetEntry,
        /// `-exist`.
        exist: bool,
    },
    /// `flush [NAME]`.
    Flush(Option<String>),
    /// `destroy [NAME]`.
    Destroy(Option<String>),
    /// `swap A B`.
    Swap(String, String),
}

/// Parses the arguments of one `ipset` command, without the program name.
pub fn parse_args(source: &Source, words: &[Word]) -> Result<(SetCommand, Span), ParseError> {
    let _ = (source, words);
    todo!("helper C")
}

impl Ruleset {
    /// Applies an ipset command, or explains why ipset would refuse it; unchanged on error.
    pub fn apply_set(&mut self, command: SetCommand) -> Result<(), ErrorKind> {
        let _ = command;
        todo!("helper C")
    }
}

/// Prints the sets in `ipset save` format.
pub fn print_sets(ruleset: &Ruleset) -> String {
    let _ = ruleset;
    todo!("helper C")
}
