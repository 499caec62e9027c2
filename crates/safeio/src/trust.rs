//! Files whose content becomes the firewall (`saved.nft`, block lists, the policy, the
//! state directory) are loaded only when no other user could have changed them.
//!
//! rampart loads them as root. A `saved.nft` or a block list that another user can write
//! is a way for that user to open the firewall, or to block the admin, at the next boot or
//! apply. So, as OpenSSH's `StrictModes` does for `authorized_keys`, the file and every
//! directory above it must be owned by root or by the user running rampart, and not be
//! writable by group or others. A directory writable by others with the sticky bit
//! (`/tmp`) is accepted: there only an entry's owner may rename or remove it, and the
//! entry below it is checked in turn.

use std::fmt;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::files::{open_read, FileError};

/// Why a file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Another user could have changed it.
    #[error(transparent)]
    Untrusted(#[from] Untrusted),
    /// It (or a directory above it) could not be opened or examined.
    #[error(transparent)]
    Io(#[from] FileError),
}

/// A file refused because another user could have changed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Untrusted {
    /// The file that was to be loaded.
    pub file: PathBuf,
    /// The file itself or the directory above it that is at fault.
    pub at: PathBuf,
    /// Whether `at` is a directory.
    pub directory: bool,
    /// Its mode (permission bits).
    pub mode: u32,
    /// Its owner's uid, when that is what is wrong (neither root nor the user running
    /// rampart).
    pub foreign_owner: Option<u32>,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.directory { "the directory " } else { "" };
        let at = crate::escaped(&self.at.display().to_string());
        write!(
            f,
            "refusing to load {}: {what}{at} ",
            crate::escaped(&self.file.display().to_string())
        )?;
        match self.foreign_owner {
            Some(uid) => write!(
                f,
                "is owned by uid {uid}, neither root nor the user running rampart"
            )?,
            None => write!(
                f,
                "is writable by {} (mode {:04o})",
                match (self.mode & 0o020 != 0, self.mode & 0o002 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "its group",
                    _ => "others",
                },
                self.mode & 0o7777
            )?,
        }
        write!(
            f,
            ", so another user could have changed what rampart would load as root"
        )?;
        match self.foreign_owner {
            Some(_) => write!(
                f,
                "\n  fix: chown root: {at}   (or move it where only root writes)"
            ),
            None => write!(f, "\n  fix: chmod go-w {at}"),
        }
    }
}

/// Whether `md` (of `at`) may be trusted; `Some(problem)` if not.
fn judge(file: &Path, at: &Path, md: &Metadata) -> Option<Untrusted> {
    let me = nix::unistd::geteuid().as_raw();
    let mode = md.mode();
    let foreign = md.uid() != 0 && md.uid() != me;
    let sticky_dir = md.is_dir() && mode & 0o1000 != 0;
    let writable = mode & 0o022 != 0 && !sticky_dir;
    (foreign || writable).then(|| Untrusted {
        file: file.to_path_buf(),
        at: at.to_path_buf(),
        directory: md.is_dir(),
        mode,
        foreign_owner: foreign.then_some(md.uid()),
    })
}

/// Checks every directory above `file` (through the links of its parent path, resolved).
fn check_ancestors(file: &Path) -> Result<(), TrustError> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let real = parent.canonicalize().map_err(FileError::at(parent))?;
    for dir in real.ancestors() {
        let md = std::fs::metadata(dir).map_err(FileError::at(dir))?;
        if let Some(u) = judge(file, dir, &md) {
            return Err(u.into());
        }
    }
    Ok(())
}

/// Opens `path` for reading when it and every directory above it are trusted (see the
/// module doc); `None` when it does not exist. A symbolic link at `path` is refused, not
/// followed; the file's own owner and mode are read from the opened file, so it cannot be
/// swapped between the check and the read.
pub fn open_trusted(path: &Path) -> Result<Option<File>, TrustError> {
    let f = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FileError::at(path)(e).into()),
    };
    let md = f.metadata().map_err(FileError::at(path))?;
    if let Some(u) = judge(path, path, &md) {
        return Err(u.into());
    }
    check_ancestors(path)?;
    Ok(Some(f))
}

/// Checks that the existing file or directory `path` and every directory above it are
/// trusted (see the module doc).
pub fn check_trusted(path: &Path) -> Result<(), TrustError> {
    let md = std::fs::symlink_metadata(path).map_err(FileError::at(path))?;
    if let Some(u) = judge(path, path, &md) {
        return Err(u.into());
    }
    check_ancestors(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn refuses_what_others_can_write() {
        let d = tempfile::tempdir().unwrap();
        // Modes set explicitly: another test changes the process's umask for a moment.
        chmod(d.path(), 0o700);
        let dir = d.path().join("etc");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o755);
        let f = dir.join("policy.toml");
        fs::write(&f, "x").unwrap();
        chmod(&f, 0o644);
        assert!(open_trusted(&f).unwrap().is_some());
        assert!(open_trusted(&dir.join("missing")).unwrap().is_none());

        chmod(&f, 0o666);
        let e = open_trusted(&f).unwrap_err().to_string();
        assert!(
            e.contains("is writable by group and others (mode 0666)"),
            "{e}"
        );
        assert!(
            e.contains(&format!("fix: chmod go-w {}", f.display())),
            "{e}"
        );
        chmod(&f, 0o620);
        let e = open_trusted(&f).unwrap_err().to_string();
        assert!(e.contains("writable by its group"), "{e}");
        chmod(&f, 0o600);

        chmod(&dir, 0o777);
        let e = open_trusted(&f).unwrap_err().to_string();
        assert!(
            e.contains(&format!("the directory {} is writable", dir.display())),
            "{e}"
        );
        assert!(check_trusted(&dir).is_err());
        // A sticky shared directory (/tmp) is accepted.
        chmod(&dir, 0o1777);
        assert!(open_trusted(&f).unwrap().is_some());
        chmod(&dir, 0o755);
    }

    /// Owned by another non-root user (only root can make such a file here).
    #[test]
    fn refuses_a_foreign_owner() {
        if !rampart_testkit::require(&[rampart_testkit::Need::Root]) {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("saved.nft");
        fs::write(&f, "x").unwrap();
        // Modes set explicitly: another test changes the process's umask for a moment.
        chmod(&f, 0o644);
        chmod(d.path(), 0o755);
        std::os::unix::fs::chown(&f, Some(65534), None).unwrap();
        let e = open_trusted(&f).unwrap_err().to_string();
        assert!(e.contains("is owned by uid 65534"), "{e}");
        assert!(e.contains("fix: chown root:"), "{e}");
        std::os::unix::fs::chown(&f, Some(0), None).unwrap();
        std::os::unix::fs::chown(d.path(), Some(65534), None).unwrap();
        let e = open_trusted(&f).unwrap_err().to_string();
        assert!(e.contains("the directory"), "{e}");
    }
}
