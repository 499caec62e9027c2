//! Splitting text into commands and words, as `sh` (for scripts) or `iptables-restore` (for
//! save files) would, keeping the place of every word.
//!
//! Scripts support what firewall scripts use: comments, single and double quotes, backslash
//! escapes, line continuations, `;` between commands and plain variables (`IPT=/sbin/iptables`
//! then `$IPT -A ...`). Constructs that would need a real shell (pipes, redirections,
//! substitutions) are errors rather than guesses.
//!
//! Text pasted from web pages often carries typographic characters: curly quotes and an en or
//! em dash where `--` belongs (`–comment “China IP”`). They are errors naming the character
//! and its ASCII form; with [`LexOptions::lenient`] they are repaired and each repair is
//! reported.

use std::collections::HashMap;

use crate::error::{Collected, ErrorKind, ParseError, ParseErrors};
use crate::span::{Source, Span};

/// How to split.
#[derive(Debug, Clone, Copy, Default)]
pub struct LexOptions {
    /// Shell script rules (`;`, variables, unsupported-construct checks); off for save files.
    pub shell: bool,
    /// Repair typographic characters instead of refusing them.
    pub lenient: bool,
    /// Keep every error, not the first few (see `ParseOptions::all_errors`).
    pub all_errors: bool,
}

/// A word after quote removal and variable expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word's text.
    pub text: String,
    /// Where it starts, and its length on that line.
    pub span: Span,
}

/// One command: its words, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The words; never empty.
    pub words: Vec<Word>,
}

/// A typographic character replaced under `--lenient`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Where the character was.
    pub span: Span,
    /// The character found.
    pub found: char,
    /// What it was read as.
    pub ascii: String,
}

impl Repair {
    /// `NAME:LINE:COL: read '–' (U+2013 EN DASH) as `--``.
    pub fn describe(&self, source: &Source) -> String {
        format!(
            "{}:{}:{}: read {} as `{}`",
            rampart_safeio::escaped(source.name()),
            self.span.line,
            self.span.col,
            describe_char(self.found),
            self.ascii
        )
    }
}

/// The result of splitting a text.
#[derive(Debug, Clone, Default)]
pub struct Lexed {
    /// Commands in order.
    pub commands: Vec<CommandLine>,
    /// Repairs made (only with `lenient`).
    pub repairs: Vec<Repair>,
}

/// A character with its code point and name, for messages.
pub fn describe_char(c: char) -> String {
    let name = match c {
        '\u{2013}' => "EN DASH",
        '\u{2014}' => "EM DASH",
        '\u{2212}' => "MINUS SIGN",
        '\u{2010}' => "HYPHEN",
        '\u{2011}' => "NON-BREAKING HYPHEN",
        '\u{201C}' => "LEFT DOUBLE QUOTATION MARK",
        '\u{201D}' => "RIGHT DOUBLE QUOTATION MARK",
        '\u{201E}' => "DOUBLE LOW-9 QUOTATION MARK",
        '\u{2018}' => "LEFT SINGLE QUOTATION MARK",
        '\u{2019}' => "RIGHT SINGLE QUOTATION MARK",
        '\u{00A0}' => "NO-BREAK SPACE",
        _ => "",
    };
    if name.is_empty() {
        format!("'{c}' (U+{:04X})", c as u32)
    } else {
        format!("'{c}' (U+{:04X} {name})", c as u32)
    }
}

/// What a typographic character stands for, if it is one of the usual paste accidents.
fn typographic(c: char, at_word_start: bool) -> Option<&'static str> {
    match c {
        '\u{2013}' | '\u{2014}' if at_word_start => Some("--"),
        '\u{2013}' | '\u{2014}' | '\u{2212}' | '\u{2010}' | '\u{2011}' => Some("-"),
        '\u{201C}' | '\u{201D}' | '\u{201E}' => Some("\""),
        '\u{2018}' | '\u{2019}' => Some("'"),
        '\u{00A0}' => Some(" "),
        _ => None,
    }
}

/// A position in the text. The text is walked in place (byte offset `pos`), not copied
/// into a `Vec<char>`, which cost four bytes per character on top of the text.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    col: u32,
    source: &'a Source,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn here(&self, len: u32) -> Span {
        Span {
            line: self.line,
            col: self.col,
            len,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, span: Span, kind: ErrorKind) -> ParseError {
        ParseError::new(self.source, span, kind)
    }
}

/// Splits `source` into commands, all at once (small inputs: packet batches, tests).
/// Whole files go through [`commands`], which holds one command at a time.
pub fn split(source: &Source, opts: LexOptions) -> Result<Lexed, ParseErrors> {
    let mut lexer = commands(source, opts);
    let commands: Vec<CommandLine> = lexer.by_ref().collect();
    let repairs = lexer.finish()?;
    Ok(Lexed { commands, repairs })
}

/// Splits `source` into commands lazily: the iterator yields each command as it is read
/// and keeps none of them, so a file of millions of rules never has all its words alive
/// at once (a `Vec` of every word cost about 1 KB per rule). A command with a lexical
/// error is skipped and its error kept for [`Commands::finish`].
pub fn commands(source: &Source, opts: LexOptions) -> Commands<'_> {
    Commands {
        cur: Cursor {
            text: source.text(),
            pos: 0,
            line: 1,
            col: 1,
            source,
        },
        opts,
        vars: HashMap::new(),
        repairs: Vec::new(),
        errors: Collected::new(opts.all_errors),
    }
}

/// The commands of a text, read one at a time: see [`commands`].
pub struct Commands<'a> {
    cur: Cursor<'a>,
    opts: LexOptions,
    vars: HashMap<String, String>,
    repairs: Vec<Repair>,
    errors: Collected,
}

impl Commands<'_> {
    /// True once a lexical error was found.
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The repairs made, or every lexical error found.
    pub fn finish(self) -> Result<Vec<Repair>, ParseErrors> {
        if self.errors.is_empty() {
            Ok(self.repairs)
        } else {
            Err(self.errors.into_errors())
        }
    }

    /// The commands after the last one returned, read independently (their errors and
    /// repairs are dropped): a look-ahead that costs a second reading, not memory.
    pub fn rest(&self) -> Self {
        Commands {
            cur: self.cur,
            opts: LexOptions {
                all_errors: false,
                ..self.opts
            },
            vars: self.vars.clone(),
            repairs: Vec::new(),
            errors: Collected::new(false),
        }
    }
}

impl Iterator for Commands<'_> {
    type Item = CommandLine;

    fn next(&mut self) -> Option<CommandLine> {
        self.next_command()
    }
}

/// Quoting state of the word being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

impl Commands<'_> {
    /// Reads up to the end of the next non-empty command.
    fn next_command(&mut self) -> Option<CommandLine> {
        let mut words: Vec<Word> = Vec::new();
        loop {
            match self.cur.peek() {
                None => return self.finish_command(words),
                Some('\n') => {
                    self.cur.bump();
                    if let Some(c) = self.finish_command(std::mem::take(&mut words)) {
                        return Some(c);
                    }
                }
                Some(';') if self.opts.shell => {
                    self.cur.bump();
                    if let Some(c) = self.finish_command(std::mem::take(&mut words)) {
                        return Some(c);
                    }
                }
                Some(' ' | '\t' | '\r') => {
                    self.cur.bump();
                }
                Some('\\') if self.cur.peek2() == Some('\n') => {
                    self.cur.bump();
                    self.cur.bump();
                }
                Some('#') => {
                    while !matches!(self.cur.peek(), None | Some('\n')) {
                        self.cur.bump();
                    }
                }
                Some(_) => match self.word() {
                    Ok(Some(w)) => words.push(w),
                    Ok(None) => {}
                    Err(e) => {
                        self.errors.push(e);
                        self.skip_line();
                        words.clear();
                    }
                },
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.cur.bump() {
            if c == '\n' {
                return;
            }
        }
    }

    /// Ends a command: plain `NAME=value` lines set variables, others are returned.
    fn finish_command(&mut self, words: Vec<Word>) -> Option<CommandLine> {
        if words.is_empty() {
            return None;
        }
        if !self.opts.shell {
            return Some(CommandLine { words });
        }
        let n = words
            .iter()
            .take_while(|w| assignment(&w.text).is_some())
            .count();
        for w in &words[..n] {
            let (name, value) = assignment(&w.text).expect("counted above");
            self.vars.insert(name.to_string(), value.to_string());
        }
        let rest: Vec<Word> = words.into_iter().skip(n).collect();
        (!rest.is_empty()).then_some(CommandLine { words: rest })
    }

    /// Reads one word; `None` when the word expanded to nothing (an empty unquoted variable).
    fn word(&mut self) -> Result<Option<Word>, ParseError> {
        let start = self.cur.here(0);
        let mut text = String::new();
        let mut quote = Quote::None;
        let mut quote_start = start;
        let mut quoted_any = false;
        // The closing character of a quote opened by a typographic character.
        let mut at_start = true;
        loop {
            if self.plain_run(quote, &mut text) {
                at_start = false;
            }
            let Some(c) = self.cur.peek() else {
                if quote != Quote::None {
                    let q = if quote == Quote::Single { '\'' } else { '"' };
                    return Err(self
                        .cur
                        .error(quote_start, ErrorKind::UnterminatedQuote(q))
                        .with_hint(format!("close it with {q} on the same command")));
                }
                break;
            };
            // Typographic characters outside straight single quotes.
            if quote != Quote::Single {
                if let Some(ascii) = typographic(c, at_start && quote == Quote::None) {
                    let span = self.cur.here(1);
                    if !self.opts.lenient {
                        return Err(self
                            .cur
                            .error(
                                span,
                                ErrorKind::Typographic {
                                    found: describe_char(c),
                                    ascii: ascii.to_string(),
                                },
                            )
                            .with_hint(format!(
                                "replace it with `{ascii}`, or pass --lenient to repair such characters"
                            )));
                    }
                    self.repairs.push(Repair {
                        span,
                        found: c,
                        ascii: ascii.to_string(),
                    });
                    self.cur.bump();
                    match ascii {
                        "\"" => {
                            quoted_any = true;
                            quote = match quote {
                                Quote::None => {
                                    quote_start = span;
                                    Quote::Double
                                }
                                _ => Quote::None,
                            };
                        }
                        "'" if quote == Quote::None => {
                            quoted_any = true;
                            quote_start = span;
                            quote = Quote::Single;
                        }
                        " " if quote == Quote::None => break,
                        other => text.push_str(other),
                    }
                    at_start = false;
                    continue;
                }
            }
            match (quote, c) {
                (Quote::None, ' ' | '\t' | '\r' | '\n') => break,
                (Quote::None, ';') if self.opts.shell => break,
                (Quote::None, '|' | '&' | '>' | '<' | '`' | '(' | ')') if self.opts.shell => {
                    return Err(self
                        .cur
                        .error(self.cur.here(1), ErrorKind::UnsupportedShell(c.to_string()))
                        .with_hint(
                            "rampart reads plain iptables/ipset command lines; remove redirections, pipes and `&&`, or quote the character",
                        ));
                }
                (Quote::None, '\'') => {
                    quote_start = self.cur.here(1);
                    self.cur.bump();
                    quote = Quote::Single;
                    quoted_any = true;
                }
                (Quote::None, '"') => {
                    quote_start = self.cur.here(1);
                    self.cur.bump();
                    quote = Quote::Double;
                    quoted_any = true;
                }
                (Quote::Single, '\'') | (Quote::Double, '"') => {
                    self.cur.bump();
                    quote = Quote::None;
                }
                (Quote::None, '\\') => {
                    self.cur.bump();
                    match self.cur.bump() {
                        Some('\n') | None => {}
                        Some(escaped) => text.push(escaped),
                    }
                }
                // iptables-restore: inside double quotes a backslash takes the next
                // character literally, whatever it is (iptables-save writes `\'`).
                (Quote::Double, '\\') if !self.opts.shell => {
                    self.cur.bump();
                    if let Some(e) = self.cur.bump() {
                        text.push(e);
                    }
                }
                (Quote::Double, '\\') => {
                    self.cur.bump();
                    match self.cur.peek() {
                        Some(e @ ('"' | '\\' | '$' | '`')) => {
                            self.cur.bump();
                            text.push(e);
                        }
                        Some('\n') => {
                            self.cur.bump();
                        }
                        _ => text.push('\\'),
                    }
                }
                (Quote::None | Quote::Double, '$') if self.opts.shell => {
                    self.variable(&mut text)?;
                }
                _ => {
                    self.cur.bump();
                    text.push(c);
                }
            }
            at_start = false;
        }
        let len = if self.cur.line == start.line {
            self.cur.col - start.col
        } else {
            1
        };
        if text.is_empty() && !quoted_any {
            return Ok(None);
        }
        Ok(Some(Word {
            text,
            span: Span { len, ..start },
        }))
    }

    /// Copies the run of plain ASCII characters at the cursor into `text` at once, most
    /// words of a save file being nothing else; quotes, backslashes, shell characters,
    /// line ends and non-ASCII characters (typographic ones) are left to the loop of
    /// [`Self::word`]. True when it copied something.
    fn plain_run(&mut self, quote: Quote, text: &mut String) -> bool {
        let shell = self.opts.shell;
        let rest = &self.cur.text.as_bytes()[self.cur.pos..];
        let special = |b: u8| match quote {
            Quote::None => {
                matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\'' | b'"' | b'\\')
                    || (shell
                        && matches!(
                            b,
                            b'$' | b';' | b'|' | b'&' | b'>' | b'<' | b'`' | b'(' | b')'
                        ))
            }
            Quote::Double => matches!(b, b'"' | b'\\' | b'\n') || (shell && b == b'$'),
            Quote::Single => matches!(b, b'\'' | b'\n'),
        };
        let n = rest
            .iter()
            .position(|&b| !b.is_ascii() || special(b))
            .unwrap_or(rest.len());
        // ASCII only: as many characters (columns) as bytes, on one line.
        text.push_str(&self.cur.text[self.cur.pos..self.cur.pos + n]);
        self.cur.pos += n;
        self.cur.col += n as u32;
        n > 0
    }

    /// Expands `$NAME` or `${NAME}` at the cursor into `text`.
    fn variable(&mut self, text: &mut String) -> Result<(), ParseError> {
        let span_start = self.cur.here(1);
        self.cur.bump();
        let braced = self.cur.peek() == Some('{');
        if braced {
            self.cur.bump();
        }
        let mut name = String::new();
        while let Some(c) = self.cur.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.cur.bump();
            } else {
                break;
            }
        }
        if braced {
            if self.cur.peek() != Some('}') {
                return Err(self
                    .cur
                    .error(span_start, ErrorKind::UnsupportedShell("${".into()))
                    .with_hint("only plain ${NAME} expansions are supported"));
            }
            self.cur.bump();
        }
        if name.is_empty() {
            if self.cur.peek() == Some('(') {
                return Err(self
                    .cur
                    .error(span_start, ErrorKind::UnsupportedShell("$(".into()))
                    .with_hint("command substitution is not supported: write the value"));
            }
            text.push('$');
            return Ok(());
        }
        let span = Span {
            len: name.len() as u32 + 1 + if braced { 2 } else { 0 },
            ..span_start
        };
        match self.vars.get(&name) {
            Some(value) => {
                text.push_str(value);
                Ok(())
            }
            None => Err(self
                .cur
                .error(span, ErrorKind::UndefinedVariable(name.clone()))
                .with_hint(format!(
                    "assign it earlier in the script (`{name}=...`); the environment is not read"
                ))),
        }
    }
}

/// `NAME=value` → (`NAME`, `value`) when the word is a shell assignment.
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str, lenient: bool) -> Result<Vec<Vec<String>>, ParseErrors> {
        let src = Source::new("t.sh", text);
        let lexed = split(
            &src,
            LexOptions {
                shell: true,
                lenient,
                all_errors: false,
            },
        )?;
        Ok(lexed
            .commands
            .into_iter()
            .map(|c| c.words.into_iter().map(|w| w.text).collect())
            .collect())
    }

    #[test]
    fn quotes_comments_continuations_variables() {
        let text = "# firewall\nIPT=/sbin/iptables\n$IPT -A INPUT \\\n  -m comment --comment 'web server' -j ACCEPT # trailing\n\
                    ${IPT} -N \"X Y\"; iptables -L\n";
        assert_eq!(
            words(text, false).unwrap(),
            vec![
                vec![
                    "/sbin/iptables",
                    "-A",
                    "INPUT",
                    "-m",
                    "comment",
                    "--comment",
                    "web server",
                    "-j",
                    "ACCEPT"
                ],
                vec!["/sbin/iptables", "-N", "X Y"],
                vec!["iptables", "-L"],
            ]
        );
    }

    /// Issue 15: the loader reads through `commands`, which yields each command as it is
    /// read (a `Vec` of every word of a file cost 1 KB per rule); `rest` reads ahead from
    /// the same place without moving it, and a bad line is skipped with its error kept.
    #[test]
    fn commands_are_read_one_at_a_time() {
        let src = Source::new(
            "s",
            "*filter\n-A INPUT -s 2001:db8::1 -j DROP\n-A “x\nCOMMIT\n",
        );
        let mut it = commands(&src, LexOptions::default());
        let first = |c: Option<CommandLine>| c.map(|c| c.words[0].text.clone());
        assert_eq!(first(it.next()).as_deref(), Some("*filter"));
        let ahead: Vec<String> = it.rest().map(|c| c.words[0].text.clone()).collect();
        assert_eq!(ahead, ["-A", "COMMIT"]);
        assert_eq!(first(it.next()).as_deref(), Some("-A"));
        assert!(!it.failed());
        assert_eq!(first(it.next()).as_deref(), Some("COMMIT"));
        assert!(it.failed());
        assert_eq!(first(it.next()), None);
        let errors = it.finish().unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].span.line, 3);
    }

    #[test]
    fn typographic_characters_are_errors_naming_the_character() {
        let err = words("iptables -A INPUT -m comment –comment “China IP”\n", false).unwrap_err();
        let first = &err.0[0];
        assert_eq!(first.span.col, 30);
        assert_eq!(
            first.kind,
            ErrorKind::Typographic {
                found: "'–' (U+2013 EN DASH)".into(),
                ascii: "--".into()
            }
        );
        assert!(first.to_string().contains("pass --lenient"));
    }

    #[test]
    fn lenient_repairs_and_reports() {
        let src = Source::new(
            "t.sh",
            "iptables -A INPUT -m comment –comment “China IP” -j DROP\n",
        );
        let lexed = split(
            &src,
            LexOptions {
                shell: true,
                lenient: true,
                all_errors: false,
            },
        )
        .unwrap();
        let w: Vec<&str> = lexed.commands[0]
            .words
            .iter()
            .map(|w| w.text.as_str())
            .collect();
        assert_eq!(
            w,
            [
                "iptables",
                "-A",
                "INPUT",
                "-m",
                "comment",
                "--comment",
                "China IP",
                "-j",
                "DROP"
            ]
        );
        assert_eq!(lexed.repairs.len(), 3);
        assert_eq!(
            lexed.repairs[0].describe(&src),
            "t.sh:1:30: read '–' (U+2013 EN DASH) as `--`"
        );
    }

    #[test]
    fn shell_constructs_and_undefined_variables_are_errors() {
        let err = words("iptables -N X 2>/dev/null\n", false).unwrap_err();
        assert_eq!(err.0[0].kind, ErrorKind::UnsupportedShell(">".into()));
        let err = words("$IPT -A INPUT -j DROP\n", false).unwrap_err();
        assert_eq!(err.0[0].kind, ErrorKind::UndefinedVariable("IPT".into()));
        let err = words("iptables -A INPUT -m comment --comment 'open\n", false).unwrap_err();
        assert_eq!(err.0[0].kind, ErrorKind::UnterminatedQuote('\''));
    }

    #[test]
    fn save_mode_keeps_dollar_and_semicolon() {
        let src = Source::new("s", "-A INPUT -m comment --comment \"a;$b\" -j ACCEPT\n");
        let lexed = split(&src, LexOptions::default()).unwrap();
        assert_eq!(lexed.commands[0].words[5].text, "a;$b");
    }

    #[test]
    fn spans_point_at_words() {
        let src = Source::new("s", "iptables  -A INPUT\n");
        let lexed = split(&src, LexOptions::default()).unwrap();
        let w = &lexed.commands[0].words[1];
        assert_eq!((w.span.line, w.span.col, w.span.len), (1, 11, 2));
    }
}
