//! Private state files: created 0600 in 0700 directories whatever the umask, never through
//! a symbolic link.
//!
//! rampart's state (applied scripts, block lists, bans, locks) names the host's addresses
//! and policy and is written as root. Every open here carries `O_NOFOLLOW`: a link planted
//! at a state file's path is refused by a read or an append, replaced (not followed) by an
//! atomic write, and its target is never touched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::libc::{O_CLOEXEC, O_NOFOLLOW};

/// A file operation that failed, with the path it was on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error (`ELOOP`, "Too many levels of symbolic links", for a planted link).
    #[source]
    pub source: io::Error,
}

impl FileError {
    pub(crate) fn at(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
        move |source| FileError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How [`open_private`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Private {
    /// Appends (created if missing): a journal or a log.
    Append,
    /// Opens for writing without truncating (created if missing): a lock file.
    Lock,
}

/// Creates `dir` and its missing parents with mode 0700 (whatever the umask); an existing
/// directory is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(FileError::at(dir))
}

/// Opens `path` for reading without following a symbolic link at it (`ELOOP`).
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW | O_CLOEXEC)
        .open(path)
}

/// Opens `path` as `how` says, creating it mode 0600 (and its directory 0700) when
/// missing; a symbolic link at `path` is refused (`ELOOP`), never followed.
pub fn open_private(path: &Path, how: Private) -> Result<File, FileError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut o = OpenOptions::new();
    o.create(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_CLOEXEC);
    match how {
        Private::Append => o.append(true),
        Private::Lock => o.write(true).truncate(false),
    };
    o.open(path).map_err(FileError::at(path))
}

/// Writes `path` atomically: temporary file in the same directory, fsync, rename over the
/// target, fsync of the directory, so a reader sees the old or the new content, also after
/// a crash or power loss. Creates the directory (and missing parents) mode 0700 if needed;
/// the file is created 0600, and a symbolic link at `path` or at the temporary path is
/// replaced, never followed.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A leftover of a killed writer with our pid, or something planted: removed (a link
    // itself, not its target), then created afresh.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(FileError::at(&tmp)(e)),
        _ => {}
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_CLOEXEC)
        .open(&tmp)
        .map_err(FileError::at(&tmp))?;
    f.write_all(content).map_err(FileError::at(&tmp))?;
    f.sync_all().map_err(FileError::at(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(FileError::at(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(FileError::at(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// Files 0600 and directories 0700 whatever the umask; a planted link is refused by
    /// reads and appends and replaced by a write, its target untouched.
    #[test]
    fn private_whatever_the_umask_and_links_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious\n").unwrap();
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        write_atomic(&d.path().join("a/b/f"), b"x").unwrap();
        open_private(&d.path().join("c/log"), Private::Append).unwrap();
        open_private(&d.path().join("c/.lock"), Private::Lock).unwrap();
        nix::sys::stat::umask(old);
        for dir in ["a", "a/b", "c"] {
            assert_eq!(mode(&d.path().join(dir)), 0o700, "{dir}");
        }
        for f in ["a/b/f", "c/log", "c/.lock"] {
            assert_eq!(mode(&d.path().join(f)), 0o600, "{f}");
        }
        let link = d.path().join("c/link");
        symlink(&victim, &link).unwrap();
        assert!(open_read(&link).is_err());
        assert!(open_private(&link, Private::Append).is_err());
        assert!(open_private(&link, Private::Lock).is_err());
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}
