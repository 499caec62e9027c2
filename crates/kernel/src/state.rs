//! The state directory (`/var/lib/rampart` by default): what was applied and saved.
//!
//! Files, each written atomically (temporary file, fsync, rename, fsync of the directory):
//!
//! ```text
//! applied.nft          the script of the last successful apply
//! applied.shape        the digest of the table's shape and the ruleset generation after it
//! applied.input        a digest of what the script was compiled from (when the caller gave one)
//! saved.nft            `rampart save`: the whole table with set elements (the boot path)
//! confirm/ID.pending   a commit-confirmed apply waiting for `rampart confirm`
//! confirm/ID.snapshot  the table before it ("absent" marker when there was none)
//! confirm/ID.alive     the rollback watcher's pid, written when it runs
//! rollback.log         what the rollback watcher did
//! ```
//!
//! Directories are created mode 0700 and files 0600 whatever the umask (the scripts name
//! the host's addresses and policy). No path is followed through a symbolic link
//! (`O_NOFOLLOW`): a link planted at a state file's path is replaced by a write, refused
//! by a read and by the log, and its target is never touched (issue 15, finding 5).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::libc::{O_CLOEXEC, O_NOFOLLOW};

use crate::apply::Applied;
use crate::error::Error;

/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/rampart";
/// Environment variable overriding the state directory.
pub const STATE_DIR_ENV: &str = "RAMPART_STATE_DIR";

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// A state directory at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a file in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Reads `name`; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<String>, Error> {
        let p = self.path(name);
        let read = OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW | O_CLOEXEC)
            .open(&p)
            .and_then(|mut f| {
                let mut s = String::new();
                f.read_to_string(&mut s).map(|_| s)
            });
        match read {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::State { path: p, source }),
        }
    }

    /// Writes `name` atomically: a reader sees the old or the new content, also after a
    /// crash or power loss.
    pub fn write(&self, name: &str, content: &str) -> Result<(), Error> {
        write_atomic(&self.path(name), content.as_bytes())
    }

    /// Removes `name` if it exists.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let p = self.path(name);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::State { path: p, source }),
        }
    }

    /// The record of the last apply, if any.
    pub fn applied(&self) -> Result<Option<Applied>, Error> {
        let (Some(script), Some(shape)) = (self.read("applied.nft")?, self.read("applied.shape")?)
        else {
            return Ok(None);
        };
        let mut words = shape.split_whitespace();
        Ok(Some(Applied {
            script,
            shape: words.next().unwrap_or_default().to_string(),
            generation: words.next().and_then(|g| g.parse().ok()),
            input: self.read("applied.input")?.map(|i| i.trim().to_string()),
        }))
    }

    /// Records a successful apply.
    pub fn set_applied(&self, a: &Applied) -> Result<(), Error> {
        self.write("applied.nft", &a.script)?;
        let generation = a.generation.map(|g| g.to_string()).unwrap_or_default();
        self.write("applied.shape", &format!("{} {generation}\n", a.shape))?;
        match &a.input {
            Some(i) => self.write("applied.input", &format!("{i}\n")),
            None => self.remove("applied.input"),
        }
    }

    /// Forgets the last apply (after `down`).
    pub fn clear_applied(&self) -> Result<(), Error> {
        self.remove("applied.input")?;
        self.remove("applied.shape")?;
        // Written by versions that listed the table to compare it.
        self.remove("applied.listing")?;
        self.remove("applied.nft")
    }

    /// Appends a line to `rollback.log` (created 0600; a symbolic link there is not
    /// followed and the line is dropped).
    pub fn log(&self, line: &str) {
        let p = self.path("rollback.log");
        if let Ok(mut f) = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW | O_CLOEXEC)
            .open(p)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Writes `path` atomically: temporary file in the same directory, fsync, rename over the
/// target, fsync of the directory. Creates the directory (and missing parents) mode 0700
/// if needed; the file is created 0600, and a symbolic link at `path` or at the temporary
/// path is replaced, never followed.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), Error> {
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::State { path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A leftover of a killed writer with our pid, or something planted: removed (a link
    // itself, not its target), then created afresh.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(&tmp)(e)),
        _ => {}
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_CLOEXEC)
        .open(&tmp)
        .map_err(err(&tmp))?;
    f.write_all(content).map_err(err(&tmp))?;
    f.sync_all().map_err(err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(err(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("rampart-state-{}", std::process::id()));
        let s = StateDir::new(dir.join("sub"));
        assert_eq!(s.read("x").unwrap(), None);
        s.write("x", "one").unwrap();
        s.write("x", "two").unwrap();
        assert_eq!(s.read("x").unwrap().as_deref(), Some("two"));
        let names: Vec<_> = fs::read_dir(s.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        s.remove("x").unwrap();
        s.remove("x").unwrap();
        fs::remove_dir_all(dir).unwrap();
    }

    /// Issue 15, finding 5: state files are created 0600 in a 0700 directory whatever the
    /// umask, and a symbolic link planted at a state file's path is not followed: its
    /// target is left untouched, by writes, reads and the rollback log.
    #[test]
    fn issue15_state_files_are_private_and_links_are_not_followed() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::env::temp_dir().join(format!("rampart-state-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "precious\n").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
        let s = StateDir::new(dir.join("state/sub"));
        // A lax umask must not leak into the modes.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o000));
        s.write("x", "one").unwrap();
        nix::sys::stat::umask(old);
        assert_eq!(mode(s.root()), 0o700);
        assert_eq!(mode(&dir.join("state")), 0o700);
        assert_eq!(mode(&s.path("x")), 0o600);

        // Links planted at the file, at the temporary file and at the log.
        symlink(&victim, s.path("applied.nft")).unwrap();
        symlink(
            &victim,
            s.path(&format!(".saved.nft.tmp{}", std::process::id())),
        )
        .unwrap();
        symlink(&victim, s.path("rollback.log")).unwrap();
        assert!(s.read("applied.nft").is_err(), "a read follows no link");
        s.log("rolled back");
        s.write("saved.nft", "table\n").unwrap();
        s.write("applied.nft", "table\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(mode(&victim), 0o644);
        for name in ["applied.nft", "saved.nft"] {
            let md = fs::symlink_metadata(s.path(name)).unwrap();
            assert!(md.file_type().is_file(), "{name}");
            assert_eq!(mode(&s.path(name)), 0o600, "{name}");
        }
        // A new log is private.
        fs::remove_file(s.path("rollback.log")).unwrap();
        s.log("rolled back");
        assert_eq!(mode(&s.path("rollback.log")), 0o600);
        fs::remove_dir_all(dir).unwrap();
    }
}
