//! Source positions and the text they point into, so every error can show the user's line.

use std::sync::{Arc, OnceLock};

/// A place in a source text: 1-based line and column (in characters) and a length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
    /// Length in characters (at least 1 when pointing at a token).
    pub len: u32,
}

/// A named input text: a file, standard input or a command-line argument.
#[derive(Debug, Clone)]
pub struct Source {
    name: Arc<str>,
    text: Arc<str>,
    /// Where each line starts, built on the first [`Source::line`]: an error finds its line
    /// in O(1), so a text of a hundred thousand bad lines is reported in linear time.
    starts: Arc<OnceLock<Vec<usize>>>,
}

impl Source {
    /// A source called `name` (a path, `<stdin>`, `<arg>`) holding `text`.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
            starts: Arc::default(),
        }
    }

    /// The name shown in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn starts(&self) -> &[usize] {
        self.starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// The 1-based line holding byte `offset`, and the byte where that line starts:
    /// O(log lines) through the line index, so errors placed by byte offset (the policy's
    /// TOML spans) are found without rescanning the text.
    pub fn locate(&self, offset: usize) -> (u32, usize) {
        let starts = self.starts();
        let i = starts.partition_point(|&s| s <= offset).max(1) - 1;
        (i as u32 + 1, starts[i])
    }

    /// The text of 1-based line `line`, without its newline (empty past the end).
    pub fn line(&self, line: u32) -> &str {
        let starts = self.starts();
        let Some(&start) = starts.get(line.saturating_sub(1) as usize) else {
            return "";
        };
        let rest = &self.text[start..];
        match rest.find('\n') {
            Some(end) => rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]),
            None => rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn locate_finds_the_line_of_an_offset() {
        let s = Source::new("t", "ab\ncd\n\nef");
        for (offset, want) in [
            (0, (1, 0)),
            (2, (1, 0)),
            (3, (2, 3)),
            (6, (3, 6)),
            (7, (4, 7)),
            (99, (4, 7)),
        ] {
            assert_eq!(s.locate(offset), want, "{offset}");
        }
    }

    /// The line index gives what `str::lines` gives: `\r\n` stripped, a lone final `\r`
    /// kept, nothing past the end.
    #[test]
    fn line_by_index_agrees_with_lines() {
        for text in ["", "a", "a\n", "a\r\nb\n\nc", "a\nb\r", "\n\n"] {
            let s = Source::new("t", text);
            for n in 0..6u32 {
                let want = text.lines().nth(n.saturating_sub(1) as usize).unwrap_or("");
                assert_eq!(s.line(n), want, "{text:?} line {n}");
            }
        }
    }
}
