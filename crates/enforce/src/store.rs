//! The store: `STATE_DIR/lists/`, the source of truth for lists and bans.
//!
//! ```text
//! lists/NAME.list     one aggregated list (rampart_block::List text form); its header
//!                     line carries the sizes, so `block lists` reads one line per list
//! lists/ingress       the interfaces whose ingress hook drops too (`up`)
//! lists/bans          the timed bans, a journal: one line per ban or unban, appended;
//!                     later lines win, rewritten compact when it grows
//! lists/.lock         flock: one writer of the list files at a time
//! lists/.bans.lock    flock: one appender or compactor of `bans` at a time
//! ```
//!
//! Every file is created 0600 and the directory 0700 whatever the umask, no symbolic link
//! is followed (a link planted at a list, the journal or a lock is refused or replaced,
//! never written through), and a file another user could have changed (writable by group
//! or others, or owned by another non-root user, the file or a directory above it) is
//! refused with the fix: the lists are loaded into the kernel as root
//! (`rampart_safeio`, issue 15).
//!
//! Two processes (the CLI and the guard) may write at once. A list change is a
//! read-modify-write of one file under `.lock`, so neither loses the other's update; the
//! file itself is replaced atomically (temporary file, fsync, rename), so a crash leaves
//! the old list or the new one. A ban is one `write(2)` of one line to the journal under
//! `.bans.lock`: microseconds, where rewriting the whole file would cost a millisecond per
//! thousand bans. Compaction rewrites the journal under the same lock, so no append can
//! go to a file that is being replaced.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use std::net::IpAddr;

use rampart_block::{Ban, Bans, List, ListError, ListName, ListSummary, Located};
use rampart_kernel::StateDir;
use rampart_prefix::Prefix;
use rampart_safeio::{open_private, open_trusted, write_atomic, Private};

use crate::error::Error;

/// Journal size beyond which an append also compacts (when more than half of its lines
/// are stale): bounds the file a reader replays to a few MB whatever the ban rate, and
/// costs an append one `fstat` until then.
const COMPACT_AFTER_BYTES: u64 = 4 << 20;
/// The file recording the ingress interfaces, beside the lists.
const INGRESS_FILE: &str = "ingress";

/// The list store of one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    state: StateDir,
}

/// An exclusive lock on part of the store; released on drop.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

impl Store {
    /// The store under `state`.
    pub fn new(state: StateDir) -> Store {
        Store { state }
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// `STATE_DIR/lists`.
    pub fn dir(&self) -> PathBuf {
        self.state.path("lists")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn lock_file(&self, name: &str) -> Result<Lock, Error> {
        let p = self.path(name);
        let f = open_private(&p, Private::Lock)?;
        let flock = Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io(&p, std::io::Error::from(e)))?;
        Ok(Lock { _flock: flock })
    }

    /// Takes the list lock: hold it across a read-modify-write of list files.
    pub fn lock_lists(&self) -> Result<Lock, Error> {
        self.lock_file(".lock")
    }

    /// Whether anything was ever blocked here (then the layout belongs in every apply).
    pub fn in_use(&self) -> bool {
        self.dir().exists()
    }

    /// The stored lists' names, sorted.
    pub fn names(&self) -> Result<Vec<ListName>, Error> {
        let dir = self.dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let name = e.map_err(|e| Error::io(&dir, e))?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".list")
                .and_then(|s| ListName::new(s).ok())
            {
                out.push(n);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The interfaces whose ingress hook also drops the lists and bans (`[flood]
    /// early_drop`, recorded by `up`), from `STATE_DIR/lists/ingress`.
    pub fn ingress(&self) -> Result<Vec<String>, Error> {
        let p = self.path(INGRESS_FILE);
        Ok(read_trusted(&p)?
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Records the ingress interfaces (call under [`Store::lock_lists`]); none removes
    /// the record.
    pub fn set_ingress(&self, devices: &[String]) -> Result<(), Error> {
        let p = self.path(INGRESS_FILE);
        if devices.is_empty() {
            return match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&p, e)),
                _ => Ok(()),
            };
        }
        let text: String = devices.iter().map(|d| format!("{d}\n")).collect();
        write_atomic(&p, text.as_bytes())?;
        Ok(())
    }

    /// Whether list `name` is stored.
    pub fn exists(&self, name: &ListName) -> bool {
        self.path(&name.file_name()).exists()
    }

    /// The file of list `name`.
    pub fn list_path(&self, name: &ListName) -> PathBuf {
        self.path(&name.file_name())
    }

    /// Reads list `name` (empty when not stored).
    pub fn load(&self, name: &ListName) -> Result<List, Error> {
        let p = self.list_path(name);
        match read_trusted(&p)? {
            Some(text) => Ok(List::parse(&text, &p.display().to_string())?),
            None => Ok(List::new(name.clone())),
        }
    }

    /// The sizes of list `name` from its header line alone (`None` for a file written
    /// before headers carried them: then the caller loads the list).
    pub fn summary(&self, name: &ListName) -> Result<Option<ListSummary>, Error> {
        let p = self.list_path(name);
        let Some(f) = open_trusted(&p)? else {
            return Ok(None);
        };
        let mut first = String::new();
        BufReader::new(f)
            .read_line(&mut first)
            .map_err(|e| Error::io(&p, e))?;
        Ok(ListSummary::from_header(&first))
    }

    /// Writes `list` atomically (call under [`Store::lock_lists`]).
    pub fn save(&self, list: &List) -> Result<(), Error> {
        let p = self.list_path(&list.name);
        write_atomic(&p, list.to_text().as_bytes())?;
        Ok(())
    }

    /// The stored prefix of list `name` that holds `ip`, with its comment: a binary search
    /// over the sorted file (rampart writes IPv4 then IPv6, each by address, under its
    /// header line), reading a few KiB whatever the list's size. A file without
    /// rampart's header (written by hand) is parsed whole instead.
    pub fn locate(&self, name: &ListName, ip: IpAddr) -> Result<Option<Located>, Error> {
        let p = self.list_path(name);
        let Some(file) = open_trusted(&p)? else {
            return Ok(None);
        };
        let len = file.metadata().map_err(|e| Error::io(&p, e))?.len();
        let header_end = {
            let mut first = String::new();
            BufReader::new(&file)
                .read_line(&mut first)
                .map_err(|e| Error::io(&p, e))?;
            if ListSummary::from_header(&first).is_none() {
                return Ok(self.load(name)?.locate(ip));
            }
            first.len() as u64
        };
        let line = sorted::last_at_or_below(&file, header_end, len, key(ip))
            .map_err(|e| Error::io(&p, e))?;
        let Some(line) = line else { return Ok(None) };
        let (entry, comment) = split_comment(&line);
        match entry.parse::<Prefix>() {
            Ok(prefix) if prefix.contains(ip) => Ok(Some(Located {
                list: name.to_string(),
                prefix,
                comment: comment.map(str::to_string),
            })),
            Ok(_) => Ok(None),
            Err(_) => Err(Error::List(ListError::BadLine {
                file: show(&p),
                line: 0,
                text: line.clone(),
                what: "not a CIDR".into(),
            })),
        }
    }

    /// Streams the stored lines of list `name` (`PREFIX` or `PREFIX # comment`) to `f`
    /// with their 1-based line numbers, without building the list: `block list` on a
    /// million entries.
    pub fn for_each_line(
        &self,
        name: &ListName,
        f: &mut dyn FnMut(usize, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let p = self.list_path(name);
        let Some(file) = open_trusted(&p)? else {
            return Ok(());
        };
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            number += 1;
            if r.read_line(&mut line).map_err(|e| Error::io(&p, e))? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            f(number, l)?;
        }
    }

    fn bans_path(&self) -> PathBuf {
        self.path("bans")
    }

    /// The timed bans: the journal replayed (expired ones included; see [`Bans::active`]).
    pub fn bans(&self) -> Result<Bans, Error> {
        let p = self.bans_path();
        match read_trusted(&p)? {
            Some(text) => Ok(Bans::parse(&text, &p.display().to_string())?),
            None => Ok(Bans::default()),
        }
    }

    /// Appends bans (an unban is a ban that expires at 0) to the journal in one write,
    /// under the journal lock; compacts it when it has grown mostly stale.
    pub fn record_bans(&self, bans: &[Ban], now: u64) -> Result<(), Error> {
        let _lock = self.lock_file(".bans.lock")?;
        let p = self.bans_path();
        let mut text = String::new();
        for b in bans {
            text.push_str(&Bans::line(b));
        }
        let mut f = open_private(&p, Private::Append)?;
        f.write_all(text.as_bytes()).map_err(|e| Error::io(&p, e))?;
        let size = f.metadata().map_err(|e| Error::io(&p, e))?.len();
        drop(f);
        if size > COMPACT_AFTER_BYTES {
            let journal = read_trusted(&p)?.unwrap_or_default();
            let all = Bans::parse(&journal, &show(&p))?;
            if all.active_count(now) * 2 < journal.lines().count() {
                write_atomic(&p, all.to_text(now).as_bytes())?;
            }
        }
        Ok(())
    }

    /// Rewrites the journal with only the bans running at `now`.
    pub fn compact_bans(&self, now: u64) -> Result<(), Error> {
        let _lock = self.lock_file(".bans.lock")?;
        let all = self.bans()?;
        write_atomic(&self.bans_path(), all.to_text(now).as_bytes())?;
        Ok(())
    }
}

/// The text of `p`, refused if another user could have changed it; `None` if missing.
fn read_trusted(p: &Path) -> Result<Option<String>, Error> {
    let Some(mut f) = open_trusted(p)? else {
        return Ok(None);
    };
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(|e| Error::io(p, e))?;
    Ok(Some(text))
}

/// `PREFIX # comment` → (`PREFIX`, `comment`).
fn split_comment(line: &str) -> (&str, Option<&str>) {
    match line.split_once(" # ") {
        Some((p, c)) => (p.trim(), Some(c.trim())),
        None => (line.trim(), None),
    }
}

/// The order of a list file: IPv4 before IPv6, then by address.
fn key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// Binary search over a file of sorted lines, by positioned reads.
mod sorted {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::FileExt;

    /// Below this span the search reads the lines one after another.
    const SCAN: u64 = 8192;

    /// The line's key: its address (the text before `/`, a space or the end).
    fn line_key(line: &str) -> Option<(bool, u128)> {
        let addr = line.split(['/', ' ']).next()?;
        addr.parse().ok().map(super::key)
    }

    /// The text of the line starting at `at` (up to 256 bytes: far longer than any entry
    /// line's address part), and where the next line starts.
    fn line_at(file: &File, at: u64, end: u64) -> io::Result<(String, u64)> {
        let mut buf = vec![0u8; 4096.min((end - at) as usize)];
        let n = file.read_at(&mut buf, at)?;
        buf.truncate(n);
        let stop = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        let next = at + stop as u64 + 1;
        Ok((
            String::from_utf8_lossy(&buf[..stop]).into_owned(),
            next.min(end),
        ))
    }

    /// The start of the first line beginning at or after `at` (`end` if none).
    fn next_line_start(file: &File, at: u64, end: u64) -> io::Result<u64> {
        let mut pos = at;
        let mut buf = [0u8; 512];
        while pos < end {
            let n = file.read_at(&mut buf, pos)?;
            if n == 0 {
                break;
            }
            if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
                return Ok((pos + i as u64 + 1).min(end));
            }
            pos += n as u64;
        }
        Ok(end)
    }

    /// The last line in `[start, end)` (line starts; `start` is one) whose key is at most
    /// `target`.
    pub(super) fn last_at_or_below(
        file: &File,
        mut start: u64,
        end: u64,
        target: (bool, u128),
    ) -> io::Result<Option<String>> {
        // Invariant: every line starting before `start` has a key ≤ target (or none was
        // seen yet), and every line starting at or after `hi` has a key > target.
        let mut hi = end;
        let mut best: Option<String> = None;
        while hi - start > SCAN {
            let mid = start + (hi - start) / 2;
            // From the byte before `mid`: a line starting exactly at `mid` is found too.
            let at = next_line_start(file, mid - 1, hi)?;
            if at >= hi {
                hi = mid;
                continue;
            }
            let (line, next) = line_at(file, at, hi)?;
            match line_key(&line) {
                Some(k) if k <= target => {
                    best = Some(line);
                    start = next;
                }
                _ => hi = at,
            }
        }
        let mut at = start;
        while at < hi {
            let (line, next) = line_at(file, at, hi)?;
            match line_key(&line) {
                Some(k) if k <= target => best = Some(line),
                Some(_) => break,
                None => {}
            }
            if next <= at {
                break;
            }
            at = next;
        }
        Ok(best)
    }
}

/// The path of a state-directory file, for error messages.
pub(crate) fn show(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        // Private whatever the umask, which one test changes for a moment.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let s = Store::new(StateDir::new(d.path()));
        (d, s)
    }

    #[test]
    fn journal_appends_and_later_lines_win() {
        let (_d, s) = store();
        let addr = "192.0.2.7".parse().unwrap();
        let ban = |expires| Ban {
            addr,
            expires,
            list: "manual".into(),
            comment: Some("ssh".into()),
        };
        s.record_bans(&[ban(1000)], 10).unwrap();
        assert_eq!(s.bans().unwrap().active(addr, 10).unwrap().expires, 1000);
        s.record_bans(&[ban(0)], 10).unwrap();
        assert!(s.bans().unwrap().active(addr, 10).is_none());
        s.record_bans(&[ban(2000)], 10).unwrap();
        s.compact_bans(10).unwrap();
        let text = std::fs::read_to_string(s.dir().join("bans")).unwrap();
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 1);
    }

    /// The binary search over the file answers as the parsed list does, for addresses
    /// inside, between and around 20,000 stored prefixes of both families.
    #[test]
    fn locate_by_binary_search_agrees_with_the_parsed_list() {
        let (_d, s) = store();
        let name = ListName::new("big").unwrap();
        let mut set = rampart_prefix::PrefixSet::new();
        let mut commented = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000u32 {
            let r = next();
            let p: Prefix = if i % 5 == 0 {
                let a = std::net::Ipv6Addr::from(
                    (0x2001_0db8u128 << 96) | u128::from(r & 0xffff_ffff) << 64,
                );
                Prefix::new(IpAddr::V6(a), 48 + (r % 17) as u8).unwrap()
            } else {
                let a = std::net::Ipv4Addr::from(r as u32);
                Prefix::new(IpAddr::V4(a), 20 + (r % 13) as u8).unwrap()
            };
            let p = Prefix::new(p.range().start(), p.len()).unwrap();
            if i % 100 == 0 {
                commented.push((p, format!("entry {i}")));
            } else {
                set.insert(p);
            }
        }
        // Most entries at once (List::insert re-aggregates every time), a few commented.
        let mut l = List::from_set(name.clone(), set);
        for (p, c) in commented {
            l.insert(p, Some(c));
        }
        s.save(&l).unwrap();
        let stored = l.prefixes();
        let mut probes: Vec<IpAddr> = Vec::new();
        for p in stored.iter().step_by(97) {
            probes.extend([p.addr(), p.last()]);
        }
        for _ in 0..500 {
            let r = next();
            probes.push(IpAddr::V4((r as u32).into()));
            probes.push(IpAddr::V6(
                ((0x2001_0db8u128 << 96) | u128::from(r) << 32).into(),
            ));
        }
        for ip in probes {
            assert_eq!(s.locate(&name, ip).unwrap(), l.locate(ip), "{ip}");
        }
    }

    #[test]
    fn comment_and_summary_without_parsing() {
        let (_d, s) = store();
        let name = ListName::new("manual").unwrap();
        let mut l = List::new(name.clone());
        l.insert("198.51.100.0/24".parse().unwrap(), Some("scanner".into()));
        l.insert("2001:db8::/48".parse().unwrap(), None);
        s.save(&l).unwrap();
        let at = s
            .locate(&name, "198.51.100.77".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (at.prefix.to_string(), at.comment.as_deref()),
            ("198.51.100.0/24".into(), Some("scanner"))
        );
        assert!(s
            .locate(&name, "198.51.101.1".parse().unwrap())
            .unwrap()
            .is_none());
        assert_eq!(
            s.locate(&name, "2001:db8::1".parse().unwrap())
                .unwrap()
                .unwrap()
                .prefix
                .to_string(),
            "2001:db8::/48"
        );
        let sum = s.summary(&name).unwrap().unwrap();
        assert_eq!(
            (sum.prefixes, sum.ipv4_addresses, sum.ipv6_prefixes),
            (2, 256, 1)
        );
        let mut lines = Vec::new();
        s.for_each_line(&name, &mut |_, l| {
            lines.push(l.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(lines, ["198.51.100.0/24 # scanner", "2001:db8::/48"]);
    }

    /// Issue 15: the store's files are 0600 in a 0700 directory whatever the umask, and a
    /// symbolic link planted at a list, the ban journal or a lock file is never followed:
    /// its target is left as it was.
    #[test]
    fn issue15_store_files_private_and_links_not_followed() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        let (d, s) = store();
        let name = ListName::new("manual").unwrap();
        let mut l = List::new(name.clone());
        l.insert("198.51.100.0/24".parse().unwrap(), None);
        let ban = Ban {
            addr: "192.0.2.7".parse().unwrap(),
            expires: 1000,
            list: "manual".into(),
            comment: None,
        };
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let made = (|| {
            let _lock = s.lock_lists()?;
            s.save(&l)?;
            s.record_bans(std::slice::from_ref(&ban), 10)
        })();
        nix::sys::stat::umask(old);
        made.unwrap();
        assert_eq!(mode(&s.dir()), 0o700);
        for f in ["manual.list", "bans", ".lock", ".bans.lock"] {
            assert_eq!(mode(&s.dir().join(f)), 0o600, "{f}");
        }

        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        for f in ["manual.list", "bans", ".lock", ".bans.lock"] {
            std::fs::remove_file(s.dir().join(f)).unwrap();
            symlink(&victim, s.dir().join(f)).unwrap();
        }
        assert!(s.load(&name).is_err(), "a list read follows no link");
        assert!(s.bans().is_err(), "a journal read follows no link");
        assert!(s.summary(&name).is_err());
        assert!(s.lock_lists().is_err(), "a lock follows no link");
        assert!(s.record_bans(std::slice::from_ref(&ban), 10).is_err());
        std::fs::remove_file(s.dir().join(".lock")).unwrap();
        std::fs::remove_file(s.dir().join(".bans.lock")).unwrap();
        assert!(
            s.record_bans(std::slice::from_ref(&ban), 10).is_err(),
            "an append follows no link"
        );
        s.save(&l).unwrap();
        assert!(std::fs::symlink_metadata(s.list_path(&name))
            .unwrap()
            .is_file());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }

    /// Issue 15: a list (or the journal) that another user could have changed is not
    /// loaded; the error names the file and the fix.
    #[test]
    fn issue15_lists_writable_by_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        let (_d, s) = store();
        let name = ListName::new("manual").unwrap();
        let mut l = List::new(name.clone());
        l.insert("198.51.100.0/24".parse().unwrap(), None);
        s.save(&l).unwrap();
        chmod(&s.list_path(&name), 0o646);
        let e = s.load(&name).unwrap_err().to_string();
        assert!(
            e.contains("manual.list is writable by others (mode 0646)"),
            "{e}"
        );
        assert!(e.contains("fix: chmod go-w"), "{e}");
        assert!(s.locate(&name, "198.51.100.1".parse().unwrap()).is_err());
        chmod(&s.list_path(&name), 0o600);
        chmod(&s.dir(), 0o770);
        let e = s.load(&name).unwrap_err().to_string();
        assert!(e.contains("the directory"), "{e}");
        chmod(&s.dir(), 0o700);
        assert_eq!(s.load(&name).unwrap(), l);
        // The ingress interfaces too (loaded into the kernel by `up`).
        s.set_ingress(&["eth0".to_string()]).unwrap();
        assert_eq!(s.ingress().unwrap(), ["eth0"]);
        chmod(&s.dir().join("ingress"), 0o666);
        assert!(s.ingress().is_err());
    }
}
