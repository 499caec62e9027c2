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
//! Everything read here is refused when another user could have changed it, the file or
//! the directory (`rampart_safeio::open_trusted`): `saved.nft` is loaded at boot as root.
//! The code for all this is in `rampart-safeio`, shared with the block-list store.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

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

    /// Reads `name`; `None` when it does not exist. Refused when another user could have
    /// changed it (the file or a directory above it writable by group or others, or owned
    /// by another non-root user): what is read here is loaded into the kernel as root.
    pub fn read(&self, name: &str) -> Result<Option<String>, Error> {
        let p = self.path(name);
        let Some(mut f) = rampart_safeio::open_trusted(&p)? else {
            return Ok(None);
        };
        let mut s = String::new();
        f.read_to_string(&mut s)
            .map_err(|source| Error::State { path: p, source })?;
        Ok(Some(s))
    }

    /// Writes `name` atomically: a reader sees the old or the new content, also after a
    /// crash or power loss.
    pub fn write(&self, name: &str, content: &str) -> Result<(), Error> {
        self.check()?;
        Ok(rampart_safeio::write_atomic(
            &self.path(name),
            content.as_bytes(),
        )?)
    }

    /// Refuses a state directory that exists and that another user could change (see
    /// [`rampart_safeio::check_trusted`]); a missing one is created private when written.
    pub fn check(&self) -> Result<(), Error> {
        match rampart_safeio::check_trusted(&self.root) {
            Err(rampart_safeio::TrustError::Io(e)) if e.source.kind() == ErrorKind::NotFound => {
                Ok(())
            }
            other => Ok(other?),
        }
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
        if let Ok(mut f) = rampart_safeio::open_private(&p, rampart_safeio::Private::Append) {
            let _ = writeln!(f, "{line}");
        }
    }
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

    /// Issue 15: `saved.nft` (or any state file) that another user could have changed is
    /// refused with the path and the fix, and so is a state directory writable by others.
    #[test]
    fn issue15_state_writable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let chmod =
            |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        let dir = std::env::temp_dir().join(format!("rampart-state-trust-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = StateDir::new(dir.join("state"));
        s.write("saved.nft", "table inet rampart {}\n").unwrap();
        assert!(s.read("saved.nft").unwrap().is_some());
        chmod(&s.path("saved.nft"), 0o666);
        let e = s.read("saved.nft").unwrap_err().to_string();
        assert!(e.starts_with("refusing to load"), "{e}");
        assert!(
            e.contains("saved.nft is writable by group and others (mode 0666)"),
            "{e}"
        );
        assert!(e.contains("fix: chmod go-w"), "{e}");
        chmod(&s.path("saved.nft"), 0o600);
        chmod(s.root(), 0o757);
        let e = s.read("saved.nft").unwrap_err().to_string();
        assert!(e.contains("the directory"), "{e}");
        let e = s.write("applied.nft", "x").unwrap_err().to_string();
        assert!(e.contains("is writable by others (mode 0757)"), "{e}");
        chmod(s.root(), 0o700);
        assert!(s.read("saved.nft").unwrap().is_some());
        fs::remove_dir_all(dir).unwrap();
    }
}
