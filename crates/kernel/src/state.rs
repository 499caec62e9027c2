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

use std::fs::{self, File, OpenOptions};
use std::io::Write;
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

    /// Reads `name`; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<String>, Error> {
        let p = self.path(name);
        match fs::read_to_string(&p) {
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

    /// Appends a line to `rollback.log`.
    pub fn log(&self, line: &str) {
        let p = self.path("rollback.log");
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(p) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Writes `path` atomically: temporary file in the same directory, fsync, rename over the
/// target, fsync of the directory. Creates the directory (mode per umask) if needed.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), Error> {
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::State { path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(err(&tmp))?;
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
}
