//! [`Follower`]: a log file read as it grows, across rotation, from where the last run
//! stopped ([`Position`]).
//!
//! # Rotation
//!
//! - **By rename** (logrotate's default, `create`): the path names a new file (another
//!   inode). The old file stays open as the *previous* file and is read to its end on
//!   every poll until the next rotation (a daemon not yet told to reopen its log still
//!   writes there); the new file is read from its start.
//! - **By copy and truncate** (`copytruncate`): the same inode, now shorter than what was
//!   read, or with other first bytes than before (truncated and written again before this
//!   poll). What was not read yet is in the copy: a sibling file (`auth.log.1`,
//!   `auth.log-20261206`; not compressed ones) whose first bytes are the ones recorded is
//!   read from the position on; then the file is read from its start. Lines the daemon
//!   writes between logrotate's copy and its truncate are in neither file (logrotate's
//!   documented window); nothing here can see them.
//!
//! # Position
//!
//! [`Position`] is the device, inode and offset of the next unread line, and a hash of the
//! file's first bytes (up to 256): stored after each poll (`Position::save`, atomic by
//! rename), it lets the next run continue at that line. If the file was rotated while
//! nothing ran, the rotated file (found by inode, or for a copy by its first bytes) is
//! finished first. No line is read twice: the offset only moves past complete lines.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lines::{Line, LineReader, MAX_LINE};

/// How many first bytes identify a file's content across a copytruncate.
const HEAD: usize = 256;

/// Where a follower is: persisted to continue after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The file's device.
    pub dev: u64,
    /// The file's inode.
    pub inode: u64,
    /// The offset of the next unread line.
    pub offset: u64,
    /// How many first bytes `head_hash` covers.
    pub head_len: u32,
    /// FNV-1a of the file's first `head_len` bytes.
    pub head_hash: u64,
}

/// A position file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    /// Reading or writing it failed.
    #[error("{path}: {source}")]
    Io {
        /// The position file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// It is not a position.
    #[error(
        "{path}: not a rampart log position ({source}); delete it to read the log from its start"
    )]
    Format {
        /// The position file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

impl Position {
    /// Reads a position saved by [`Position::save`]; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<Position>, PositionError> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PositionError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| PositionError::Format {
                path: path.into(),
                source,
            })
    }

    /// Writes the position atomically (a temporary file renamed over `path`).
    pub fn save(&self, path: &Path) -> Result<(), PositionError> {
        let io = |source| PositionError::Io {
            path: path.into(),
            source,
        };
        let tmp = path.with_extension("tmp");
        fs::write(
            &tmp,
            serde_json::to_vec(self).expect("a position serialises"),
        )
        .map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }
}

/// Where a follower without a saved position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the first line (`check-log`, a test).
    Beginning,
    /// At the end: only lines written from now on (a daemon's first start on a big log).
    End,
}

/// What one poll saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polled {
    /// Lines given to the callback.
    pub lines: u64,
    /// The file was replaced (rotated by rename).
    pub renamed: bool,
    /// The file was truncated (copytruncate).
    pub truncated: bool,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The hash of the first `len` bytes (fewer if the file is shorter: then their count).
fn head_of(file: &File, len: usize) -> io::Result<(u32, u64)> {
    let mut buf = [0u8; HEAD];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..len], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok((got as u32, fnv(&buf[..got])))
}

/// One open file being read.
#[derive(Debug)]
struct Tail {
    reader: LineReader<File>,
    dev: u64,
    ino: u64,
    /// The offset the reader started at.
    base: u64,
    head_len: u32,
    head_hash: u64,
    /// A copy left by copytruncate: read to its end once, then closed (nobody appends to
    /// a copy, and the next rotation may rewrite it in place).
    once: bool,
}

impl Tail {
    fn open(path: &Path, offset: u64, max_line: usize) -> io::Result<Tail> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        file.seek(SeekFrom::Start(offset))?;
        let (head_len, head_hash) = head_of(&file, HEAD)?;
        Ok(Tail {
            reader: LineReader::with_max(file, max_line),
            dev: meta.dev(),
            ino: meta.ino(),
            base: offset,
            head_len,
            head_hash,
            once: false,
        })
    }

    /// The offset of the next unread line.
    fn offset(&self) -> u64 {
        self.base + self.reader.consumed()
    }

    /// Bytes read from the file so far (the offset plus a held partial line).
    fn read_to(&self) -> u64 {
        self.offset() + self.reader.pending() as u64
    }

    fn position(&self) -> Position {
        Position {
            dev: self.dev,
            inode: self.ino,
            offset: self.offset(),
            head_len: self.head_len,
            head_hash: self.head_hash,
        }
    }

    /// Whether the file still starts with the bytes recorded (and records more of them
    /// while it is shorter than [`HEAD`]).
    fn same_head(&mut self) -> io::Result<bool> {
        let file = self.reader.get_mut();
        let (len, hash) = head_of(file, self.head_len as usize)?;
        if len != self.head_len || hash != self.head_hash {
            return Ok(false);
        }
        if (self.head_len as usize) < HEAD {
            (self.head_len, self.head_hash) = head_of(file, HEAD)?;
        }
        Ok(true)
    }

    fn drain(&mut self, f: &mut impl FnMut(Line<'_>)) -> io::Result<u64> {
        let mut n = 0;
        while let Some(line) = self.reader.next_line()? {
            f(line);
            n += 1;
        }
        Ok(n)
    }

    /// Like `drain`, for a file that may be truncated under us: lines are gathered in
    /// batches, and a batch is given only once the file is seen to be still as long as
    /// what was read and to start with the same bytes; bytes read after a truncation are
    /// another file's middle. A truncated file gives `Err(offset)`: the position before
    /// the batch, from where the copy is to be read.
    fn drain_checked(
        &mut self,
        f: &mut impl FnMut(Line<'_>),
        batch: &mut Batch,
    ) -> io::Result<Result<u64, Position>> {
        let mut n = 0;
        loop {
            let before = self.position();
            batch.clear();
            while batch.text.len() < BATCH {
                match self.reader.next_line()? {
                    Some(Line::Text(t)) => {
                        batch.text.extend_from_slice(t);
                        batch.ends.push((batch.text.len(), 0));
                    }
                    Some(Line::Overlong(len)) => batch.ends.push((batch.text.len(), len)),
                    None => break,
                }
            }
            // Checked even when nothing was read: a file truncated and written again up
            // to the length read before shows only in its first bytes.
            let len = self.reader.get_mut().metadata()?.len();
            if len < self.read_to() || !self.same_head()? {
                return Ok(Err(before));
            }
            if batch.ends.is_empty() {
                return Ok(Ok(n));
            }
            let mut start = 0;
            for &(end, overlong) in &batch.ends {
                if overlong > 0 {
                    f(Line::Overlong(overlong));
                } else {
                    f(Line::Text(&batch.text[start..end]));
                }
                start = end;
                n += 1;
            }
        }
    }
}

/// How many bytes of lines `drain_checked` gathers before checking the file.
const BATCH: usize = 1 << 20;

/// Lines gathered by `drain_checked`: their bytes, and per line its end (and its length
/// if it was overlong).
#[derive(Debug, Default)]
struct Batch {
    text: Vec<u8>,
    ends: Vec<(usize, u64)>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}

/// A log file read as it grows and across rotation.
///
/// ```no_run
/// use rampart_logs::{Follower, Line, Position, Source, Start};
/// let state = std::path::Path::new("/var/lib/rampart/auth.log.pos");
/// let saved = Position::load(state).unwrap();
/// let mut f = Follower::open("/var/log/auth.log", saved.as_ref(), Start::End).unwrap();
/// loop {
///     f.poll(|line| {
///         if let Line::Text(t) = line {
///             if let Some(e) = Source::Sshd.parse(t).event() {
///                 println!("{} {}", e.kind, e.origin);
///             }
///         }
///     })
///     .unwrap();
///     if let Some(p) = f.position() {
///         p.save(state).unwrap();
///     }
///     std::thread::sleep(std::time::Duration::from_millis(250));
/// }
/// ```
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Option<Tail>,
    previous: Option<Tail>,
    /// Polls in a row the previous file gave nothing.
    previous_idle: u32,
    max_line: usize,
    batch: Batch,
}

/// Polls (at the guard's 100 ms, ten seconds) a rotated file may stay silent before it is
/// let go: a daemon writes to it until told to reopen (logrotate's postrotate).
pub const PREVIOUS_GRACE_POLLS: u32 = 100;

/// A line read ahead of the previous file's, held until that one is read.
enum OwnedLine {
    Text(Vec<u8>),
    Overlong(u64),
}

impl From<Line<'_>> for OwnedLine {
    fn from(l: Line<'_>) -> OwnedLine {
        match l {
            Line::Text(t) => OwnedLine::Text(t.to_vec()),
            Line::Overlong(n) => OwnedLine::Overlong(n),
        }
    }
}

impl OwnedLine {
    fn as_line(&self) -> Line<'_> {
        match self {
            OwnedLine::Text(t) => Line::Text(t),
            OwnedLine::Overlong(n) => Line::Overlong(*n),
        }
    }
}

impl Follower {
    /// Opens `path` at `saved` (see the module doc for a file rotated meanwhile), else at
    /// `start`. A missing file is not an error: it is opened when it appears.
    pub fn open(
        path: impl Into<PathBuf>,
        saved: Option<&Position>,
        start: Start,
    ) -> io::Result<Follower> {
        let mut f = Follower {
            path: path.into(),
            current: None,
            previous: None,
            previous_idle: 0,
            max_line: MAX_LINE,
            batch: Batch::default(),
        };
        let meta = match fs::metadata(&f.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let Some(meta) = meta else {
            if let Some(p) = saved {
                f.previous = f.find_rotated(p)?;
            }
            return Ok(f);
        };
        let Some(p) = saved else {
            let at = match start {
                Start::Beginning => 0,
                Start::End => meta.len(),
            };
            f.current = Some(Tail::open(&f.path, at, f.max_line)?);
            return Ok(f);
        };
        if meta.dev() == p.dev && meta.ino() == p.inode && meta.len() >= p.offset {
            let mut t = Tail::open(&f.path, p.offset, f.max_line)?;
            t.head_len = p.head_len;
            t.head_hash = p.head_hash;
            if t.same_head()? {
                f.current = Some(t);
                return Ok(f);
            }
        }
        // Rotated while nothing ran: finish the rotated file, then the new one from 0.
        f.previous = f.find_rotated(p)?;
        f.current = Some(Tail::open(&f.path, 0, f.max_line)?);
        Ok(f)
    }

    /// Sets the longest line kept (default [`MAX_LINE`]); for files opened from now on.
    pub fn set_max_line(&mut self, max: usize) {
        self.max_line = max;
    }

    /// The position to save: the next unread line of the current file.
    pub fn position(&self) -> Option<Position> {
        self.current.as_ref().map(Tail::position)
    }

    /// Reads every complete line available now, following a rotation, and calls `f` for
    /// each in order.
    pub fn poll(&mut self, mut f: impl FnMut(Line<'_>)) -> io::Result<Polled> {
        let mut polled = Polled::default();
        self.drain_in_order(&mut f, &mut polled)?;
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            // Renamed away and not yet re-created: keep reading the open file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(polled),
            Err(e) => return Err(e),
        };
        match &self.current {
            None => self.current = Some(Tail::open(&self.path, 0, self.max_line)?),
            Some(cur) if meta.dev() != cur.dev || meta.ino() != cur.ino => {
                polled.renamed = true;
                self.drain_current(&mut f, &mut polled)?;
                let new = Tail::open(&self.path, 0, self.max_line)?;
                if let Some(old) = self.current.replace(new) {
                    self.retire(old, &mut f);
                }
            }
            Some(_) => return Ok(polled),
        }
        self.drain_in_order(&mut f, &mut polled)?;
        Ok(polled)
    }

    /// Reads the current file, and the previous one if a rotation left it open, in the
    /// order the daemon wrote them: a daemon not yet told to reopen writes to the old file
    /// before it writes to the new one, so whatever the new file holds when read, the old
    /// one is read after it (and given first). The previous file is let go once it has
    /// given nothing for [`PREVIOUS_GRACE_POLLS`] polls.
    fn drain_in_order(
        &mut self,
        f: &mut impl FnMut(Line<'_>),
        polled: &mut Polled,
    ) -> io::Result<()> {
        if self.previous.is_none() {
            return self.drain_current(f, polled);
        }
        let mut newer: Vec<OwnedLine> = Vec::new();
        self.drain_current(&mut |l| newer.push(OwnedLine::from(l)), polled)?;
        if let Some(prev) = &mut self.previous {
            let n = prev.drain(f)?;
            polled.lines += n;
            self.previous_idle = if n == 0 { self.previous_idle + 1 } else { 0 };
            if prev.once || self.previous_idle >= PREVIOUS_GRACE_POLLS {
                if let Some(line) = prev.reader.finish() {
                    f(line);
                }
                self.previous = None;
                self.previous_idle = 0;
            }
        }
        for l in &newer {
            f(l.as_line());
        }
        Ok(())
    }

    /// Reads the current file; on a truncation, finishes its copy and starts it over.
    fn drain_current(
        &mut self,
        f: &mut impl FnMut(Line<'_>),
        polled: &mut Polled,
    ) -> io::Result<()> {
        // A second truncation while the first is handled is read on the next poll.
        for _ in 0..2 {
            let Some(cur) = &mut self.current else {
                return Ok(());
            };
            match cur.drain_checked(f, &mut self.batch)? {
                Ok(n) => {
                    polled.lines += n;
                    return Ok(());
                }
                Err(at) => {
                    polled.truncated = true;
                    let copy = self.find_copy(&at)?;
                    self.current = Some(Tail::open(&self.path, 0, self.max_line)?);
                    if let Some(mut copy) = copy {
                        // An unterminated last line in the copy was cut by the copy; the
                        // daemon's rest of it is in neither file.
                        polled.lines += copy.drain(f)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Keeps `old` as the previous file; the one it replaces gives its unterminated last
    /// line, if any (it will get no newline now).
    fn retire(&mut self, old: Tail, f: &mut impl FnMut(Line<'_>)) {
        if let Some(mut gone) = self.previous.replace(old) {
            if let Some(line) = gone.reader.finish() {
                f(line);
            }
        }
    }

    /// Sibling files a rotation may have made (`NAME.1`, `NAME-DATE`), not compressed.
    fn siblings(&self) -> io::Result<Vec<PathBuf>> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(Vec::new());
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let name = name.to_string_lossy().into_owned();
        let mut out = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            let n = e.file_name().to_string_lossy().into_owned();
            let rotated = n.len() > name.len()
                && n.starts_with(&name)
                && matches!(n.as_bytes()[name.len()], b'.' | b'-')
                && ![".gz", ".xz", ".bz2", ".zst", ".tmp", ".pos"]
                    .iter()
                    .any(|s| n.ends_with(s));
            if rotated {
                out.push(e.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The file `p` was in, renamed (same inode) or copied (same first bytes), opened at
    /// `p.offset`.
    fn find_rotated(&self, p: &Position) -> io::Result<Option<Tail>> {
        for s in self.siblings()? {
            let Ok(meta) = fs::metadata(&s) else { continue };
            if meta.dev() == p.dev && meta.ino() == p.inode && meta.len() >= p.offset {
                return Tail::open(&s, p.offset, self.max_line).map(Some);
            }
        }
        self.find_copy(p)
    }

    /// The copy of a truncated file: a sibling starting with the recorded bytes, at least
    /// `p.offset` long, opened there.
    fn find_copy(&self, p: &Position) -> io::Result<Option<Tail>> {
        for s in self.siblings()? {
            let Ok(file) = File::open(&s) else { continue };
            let len = file.metadata()?.len();
            if p.head_len == 0
                || len < p.offset
                || head_of(&file, p.head_len as usize)? != (p.head_len, p.head_hash)
            {
                continue;
            }
            let mut t = Tail::open(&s, p.offset, self.max_line)?;
            t.once = true;
            return Ok(Some(t));
        }
        Ok(None)
    }
}
