//! iptables/ip6tables argument vectors → [`Invocation`].
use crate::command::Invocation;
use crate::error::ParseError;
use crate::lex::Word;
use crate::model::Family;
use crate::span::Source;

/// Parses the arguments of one iptables or ip6tables command, without the program name
/// (`words[0]` is the first option, e.g. `-A`). The table is `-t` or `filter`. Comma
/// lists in `-s`/`-d` give one invocation per combination, as iptables does.
pub fn parse_args(
    source: &Source,
    words: &[Word],
    family: Family,
) -> Result<Vec<Invocation>, ParseError> {
    let _ = (source, words, family);
    todo!("helper A")
}
