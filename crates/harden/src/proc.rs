//! [`Proc`]: the kernel's settings as files under a proc root (`/proc`, or
//! a fake tree in tests), and the [`Facts`] the recommendations depend on.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::HardenError;

/// Longest sysctl value read: the settings here are one number; a file
/// longer than this is not one of them.
const MAX_VALUE_LEN: u64 = 4096;
/// The inode number of the initial network namespace
/// (`PROC_NET_INIT_INO`, include/linux/proc_ns.h; fixed since Linux 3.8).
pub const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;
/// Longest /proc/meminfo read (it is about 1.5 KiB).
const MAX_MEMINFO_LEN: u64 = 64 * 1024;

/// What the recommendations depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// Memory of the machine (MemTotal), bytes.
    pub mem_bytes: u64,
    /// Is this the machine's initial network namespace (where host-wide
    /// settings can be changed)?
    pub initial_netns: bool,
}

/// Kernel settings as files under a proc root: `ROOT/sys/net/ipv4/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    root: PathBuf,
}

impl Proc {
    /// The running kernel's `/proc`, as seen by the calling thread.
    pub fn system() -> Proc {
        Proc::new("/proc")
    }

    /// A proc tree rooted at `root` (tests use a temporary directory with
    /// `sys/...`, `meminfo`, `thread-self/ns/net` and `1/ns/net`).
    pub fn new(root: impl Into<PathBuf>) -> Proc {
        Proc { root: root.into() }
    }

    /// The file of sysctl `key` (`net.ipv4.tcp_syncookies` →
    /// `ROOT/sys/net/ipv4/tcp_syncookies`).
    pub fn path(&self, key: &str) -> PathBuf {
        let mut p = self.root.join("sys");
        for part in key.split('.') {
            p.push(part);
        }
        p
    }

    /// The value of `key`, trimmed; `None` when the kernel does not have it
    /// (a module not loaded, IPv6 disabled).
    pub fn read(&self, key: &str) -> Result<Option<String>, HardenError> {
        let path = self.path(key);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(HardenError::Read { path, source }),
        };
        let mut text = String::new();
        file.take(MAX_VALUE_LEN)
            .read_to_string(&mut text)
            .map_err(|source| HardenError::Read {
                path: path.clone(),
                source,
            })?;
        Ok(Some(text.trim().to_owned()))
    }

    /// Set `key` to `value` (one write, as `sysctl -w` does).
    pub fn write(&self, key: &str, value: i64) -> Result<(), HardenError> {
        let path = self.path(key);
        let err = |source| HardenError::Write {
            key: key.to_owned(),
            value,
            source,
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(err)?;
        f.write_all(format!("{value}\n").as_bytes()).map_err(err)
    }

    /// MemTotal from `ROOT/meminfo`, in bytes.
    pub fn mem_bytes(&self) -> Result<u64, HardenError> {
        let path = self.root.join("meminfo");
        let mut text = String::new();
        fs::File::open(&path)
            .and_then(|f| f.take(MAX_MEMINFO_LEN).read_to_string(&mut text))
            .map_err(|source| HardenError::Read {
                path: path.clone(),
                source,
            })?;
        parse_mem_total(&text).ok_or(HardenError::Meminfo(path))
    }

    /// Is the calling thread in the initial network namespace? Compares
    /// `ROOT/thread-self/ns/net` with `ROOT/1/ns/net` (pid 1 lives in the
    /// initial namespace; in a container it is the container's, whose
    /// settings are not the host's either). When pid 1's link cannot be
    /// read (no ptrace access to it), the inode alone decides: the initial
    /// namespace's is the fixed [`PROC_NET_INIT_INO`].
    pub fn initial_netns(&self) -> Result<bool, HardenError> {
        let mine = self.root.join("thread-self/ns/net");
        let me = fs::metadata(&mine).map_err(|source| HardenError::Read { path: mine, source })?;
        match fs::metadata(self.root.join("1/ns/net")) {
            Ok(init) => Ok((init.dev(), init.ino()) == (me.dev(), me.ino())),
            Err(_) => Ok(me.ino() == PROC_NET_INIT_INO),
        }
    }

    /// Memory and namespace, read from this tree.
    pub fn facts(&self) -> Result<Facts, HardenError> {
        Ok(Facts {
            mem_bytes: self.mem_bytes()?,
            initial_netns: self.initial_netns()?,
        })
    }

    /// The proc root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// `MemTotal:  24683772 kB` → bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut f = line["MemTotal:".len()..].split_whitespace();
    let n: u64 = f.next()?.parse().ok()?;
    match f.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        assert_eq!(
            parse_mem_total("MemTotal:       24683772 kB\nMemFree: 1 kB\n"),
            Some(24683772 * 1024)
        );
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: x kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 5 MB\n"), None);
    }

    #[test]
    fn keys_map_to_files() {
        let p = Proc::new("/tmp/x");
        assert_eq!(
            p.path("net.ipv4.conf.all.rp_filter"),
            PathBuf::from("/tmp/x/sys/net/ipv4/conf/all/rp_filter")
        );
    }
}
