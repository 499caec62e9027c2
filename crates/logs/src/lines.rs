//! [`LineReader`]: lines out of any `Read`, bounded in memory whatever the input.

use std::io::{self, Read};

/// The longest line kept, in bytes. sshd's lines are under 1 KiB (its user names are cut
/// at 100 bytes, its messages at 1 KiB); nginx and Apache access lines carry the client's
/// URL, referrer and user agent, which the servers bound at 8–16 KiB by default. 64 KiB
/// leaves room for all of them; a longer line is cut off, skipped and counted.
pub const MAX_LINE: usize = 64 * 1024;

/// How much is asked of the reader at a time.
const CHUNK: usize = 128 * 1024;

/// One line from a [`LineReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line, without its `\n`.
    Text(&'a [u8]),
    /// A line longer than the limit: skipped (never held whole); its length in bytes,
    /// newline included.
    Overlong(u64),
}

/// Reads lines from `R` with a fixed-size buffer: a line longer than the limit is
/// skipped as it streams past (memory stays at limit + one chunk), reported once as
/// [`Line::Overlong`]. Bytes after the last newline are held back until their newline
/// arrives (a line being written), or given by [`LineReader::finish`] at the real end.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
    /// Bytes of an overlong line skipped so far (0: not skipping).
    skipped: u64,
    /// Bytes consumed as complete lines since the reader began.
    consumed: u64,
}

impl<R: Read> LineReader<R> {
    /// A reader keeping lines of up to [`MAX_LINE`] bytes.
    pub fn new(inner: R) -> LineReader<R> {
        LineReader::with_max(inner, MAX_LINE)
    }

    /// A reader keeping lines of up to `max` bytes.
    pub fn with_max(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            buf: vec![0; max + CHUNK],
            start: 0,
            end: 0,
            max,
            skipped: 0,
            consumed: 0,
        }
    }

    /// Bytes consumed as complete lines (overlong ones included): where the next line
    /// begins, relative to where reading began.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes read but held back (a line without its newline yet).
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next complete line, or `None` when the reader has nothing more for now (end
    /// of file; a follower asks again later).
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (s, e) = (self.start, self.start + i);
                self.start = e + 1;
                let n = self.skipped + i as u64 + 1;
                self.consumed += n;
                if self.skipped > 0 || i > self.max {
                    self.skipped = 0;
                    return Ok(Some(Line::Overlong(n)));
                }
                return Ok(Some(Line::Text(&self.buf[s..e])));
            }
            let held = self.end - self.start;
            if held > self.max || (self.skipped > 0 && held > 0) {
                // Too long: drop what is held and keep skipping to the newline.
                self.skipped += held as u64;
                self.start = 0;
                self.end = 0;
            } else if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                return Ok(None);
            }
            self.end += n;
        }
    }

    /// At the real end of the input: the last line if it had no newline.
    pub fn finish(&mut self) -> Option<Line<'_>> {
        let held = self.end - self.start;
        if self.skipped > 0 {
            let n = self.skipped + held as u64;
            self.skipped = 0;
            self.consumed += n;
            self.start = self.end;
            return Some(Line::Overlong(n));
        }
        if held == 0 {
            return None;
        }
        let s = self.start;
        self.start = self.end;
        self.consumed += held as u64;
        Some(Line::Text(&self.buf[s..self.end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::with_max(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(format!("{l:?}"));
        }
        if let Some(l) = r.finish() {
            out.push(format!("fin {l:?}"));
        }
        assert_eq!(r.consumed(), input.len() as u64);
        out
    }

    #[test]
    fn lines_overlong_and_tail() {
        assert_eq!(all(b"ab\ncd\n", 4), ["Text([97, 98])", "Text([99, 100])"]);
        assert_eq!(
            all(b"abcdefgh\nab\nxy", 4),
            ["Overlong(9)", "Text([97, 98])", "fin Text([120, 121])"]
        );
        assert_eq!(
            all(b"ab\nabcdefgh", 4),
            ["Text([97, 98])", "fin Overlong(8)"]
        );
        let big = vec![b'x'; 3 * CHUNK + 5];
        let mut input = big.clone();
        input.extend_from_slice(b"\nok\n");
        assert_eq!(
            all(&input, 16),
            [
                format!("Overlong({})", big.len() + 1),
                "Text([111, 107])".into()
            ]
        );
    }
}
