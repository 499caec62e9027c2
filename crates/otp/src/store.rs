//! The state directory: one secret file per user (`USER.otp`) and one lock file
//! (`USER.lock`), root-owned, directory 0700, files 0600. Only users with secrets have
//! files: a login for any other name touches only the fixed decoy pair (`.decoy`,
//! `.decoy.lock`), so trying names never creates a file per name.
//!
//! Every change is written with the atomic-replace protocol, so a crash or a `kill -9` at
//! any instant leaves either the old or the new file, never a mix:
//!
//! ```text
//!   write .USER.otp.tmp (O_CREAT|O_EXCL, 0600) ─▶ fsync ─▶ rename over USER.otp ─▶ fsync dir
//! ```
//!
//! Concurrent logins of one user are serialised by `flock(2)` on `USER.lock`; the kernel
//! drops the lock when a holder dies, so no stale lock outlives its process.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::format::check_user;
use crate::{Decoys, Secrets, StoreError};

/// Largest secret file read: 999 entries of ~110 bytes plus headers. A bigger file is
/// corrupt or hostile and is refused before it is read into memory.
const MAX_FILE: u64 = 256 * 1024;

/// The default state directory.
pub const DEFAULT_DIR: &str = "/var/lib/rampart/otp";

/// A state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Proof that the caller holds a user's lock; dropping it unlocks.
#[derive(Debug)]
pub struct Locked {
    user: String,
    _lock: Flock<File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Opens (creating it 0600 if needed) and exclusively locks a lock file; the kernel drops
/// the lock when the process dies, so a killed login never leaves it stale.
fn lock_file(path: &Path) -> Result<Flock<File>, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(io(path))?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io(path)(std::io::Error::from(e)))
}

/// Size of the decoy file: about a default 280-password sheet's secret file (salt and
/// Argon2id hash per entry, hex-encoded), so the decoy writes as much as a real save.
const DECOY_BYTES: usize = 32 * 1024;

impl Store {
    /// The store in `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// The default store, [`DEFAULT_DIR`].
    pub fn default_dir() -> Store {
        Store::new(DEFAULT_DIR)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a user's secret file.
    pub fn secret_path(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.otp"))
    }

    /// Creates the directory (and parents) with mode 0700 if missing, and checks it.
    pub fn create(&self) -> Result<(), StoreError> {
        if !self.dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(io(&self.dir))?;
        }
        self.check_dir()
    }

    /// Refuses a directory that others could write to or that is not ours.
    fn check_dir(&self) -> Result<(), StoreError> {
        let md = fs::symlink_metadata(&self.dir).map_err(io(&self.dir))?;
        let insecure = |what: &str| StoreError::Insecure {
            path: self.dir.clone(),
            what: what.to_string(),
            mode: 0o700,
        };
        if !md.is_dir() {
            return Err(insecure("not a directory"));
        }
        if md.uid() != nix::unistd::geteuid().as_raw() {
            return Err(insecure("owned by another user"));
        }
        if md.mode() & 0o077 != 0 {
            return Err(insecure("readable or writable by group or others"));
        }
        Ok(())
    }

    /// Takes the user's lock, waiting for other logins of the same user, and creates the
    /// lock file if needed: for writing a user's first secrets (`rampart otp init`). Logins
    /// and everything else that only reads or changes existing secrets use
    /// [`Store::lock_existing`], which creates no file for a name without secrets.
    pub fn lock(&self, user: &str) -> Result<Locked, StoreError> {
        check_user(user)?;
        self.check_dir()?;
        self.lock_checked(user)
    }

    /// Takes the user's lock if the user has a secret file, waiting for other logins of the
    /// same user; `None`, having created, opened and locked no file of that name, if not.
    ///
    /// This is what logins use: a name that has no secrets costs one `stat` here and no
    /// inode, so trying many names cannot fill the directory. (The caller then does the
    /// same disk work as a real login on the fixed decoy file, [`Store::decoy_round`].) A
    /// name whose secrets are created or removed meanwhile is seen either way; [`Store::load`]
    /// under the lock has the last word.
    pub fn lock_existing(&self, user: &str) -> Result<Option<Locked>, StoreError> {
        check_user(user)?;
        self.check_dir()?;
        let path = self.secret_path(user);
        match fs::symlink_metadata(&path) {
            Ok(_) => self.lock_checked(user).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// [`Store::lock`] after the user name and the directory were checked.
    fn lock_checked(&self, user: &str) -> Result<Locked, StoreError> {
        let lock = lock_file(&self.dir.join(format!("{user}.lock")))?;
        Ok(Locked {
            user: user.to_string(),
            _lock: lock,
        })
    }

    /// The user's secrets; `None` if the user has none.
    pub fn load(&self, lock: &Locked) -> Result<Option<Secrets>, StoreError> {
        let path = self.secret_path(&lock.user);
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let md = file.metadata().map_err(io(&path))?;
        if md.uid() != nix::unistd::geteuid().as_raw() || md.mode() & 0o077 != 0 {
            return Err(StoreError::Insecure {
                path,
                what: "owned by another user or readable by group or others".into(),
                mode: 0o600,
            });
        }
        if md.len() > MAX_FILE {
            return Err(io(&path)(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("larger than {MAX_FILE} bytes: not a secret file"),
            )));
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io(&path))?;
        let secrets = Secrets::parse(&text).map_err(|error| StoreError::Format {
            path: path.clone(),
            error,
        })?;
        if secrets.user != lock.user {
            return Err(io(&path)(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("holds the secrets of user {:?}", secrets.user),
            )));
        }
        Ok(Some(secrets))
    }

    /// Replaces the user's secret file atomically (see the module doc).
    pub fn save(&self, lock: &Locked, secrets: &Secrets) -> Result<(), StoreError> {
        assert_eq!(lock.user, secrets.user, "saving under another user's lock");
        let path = self.secret_path(&lock.user);
        let tmp = self.dir.join(format!(".{}.otp.tmp", lock.user));
        self.replace_file(&tmp, &path, secrets.emit().as_bytes())
    }

    /// Writes `bytes` to `tmp` (created fresh, 0600), fsyncs it, renames it over `path` and
    /// fsyncs the directory: the store's one atomic-write protocol. The caller holds the
    /// lock that owns `tmp`, so a `tmp` left by a killed process is dead and removed first.
    fn replace_file(&self, tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        match fs::remove_file(tmp) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(io(tmp)(e)),
            _ => {}
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(tmp)
            .map_err(io(tmp))?;
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(tmp);
            return Err(io(tmp)(e));
        }
        drop(f);
        fs::rename(tmp, path).map_err(io(path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// One step of a login for a name without secrets: under the fixed decoy lock, reads
    /// the [`Decoys`] table from the fixed `.decoy` file, lets `step` change it, and writes
    /// it back with the atomic-replace protocol, padded to about a default secret file's
    /// size. That is the disk work of a real login's load and save, so the answer time does
    /// not tell who has a sheet, and no file is created per user name tried. An unreadable
    /// table counts as empty.
    pub fn decoy_round<T>(&self, step: impl FnOnce(&mut Decoys) -> T) -> Result<T, StoreError> {
        self.check_dir()?;
        let _lock = lock_file(&self.dir.join(".decoy.lock"))?;
        let path = self.dir.join(".decoy");
        let mut text = String::new();
        match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => {
                let _ = f.take(MAX_FILE).read_to_string(&mut text);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let mut decoys = Decoys::parse(&text);
        let out = step(&mut decoys);
        let mut bytes = decoys.emit().into_bytes();
        if bytes.len() < DECOY_BYTES {
            bytes.resize(DECOY_BYTES - 1, b'#');
            bytes.push(b'\n');
        }
        self.replace_file(&self.dir.join(".decoy.tmp"), &path, &bytes)?;
        Ok(out)
    }

    /// Removes the user's secret and lock files; `false` if there were none.
    pub fn remove(&self, lock: Locked) -> Result<bool, StoreError> {
        let path = self.secret_path(&lock.user);
        let existed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(io(&path)(e)),
        };
        let lock_path = self.dir.join(format!("{}.lock", lock.user));
        let _ = fs::remove_file(lock_path);
        drop(lock);
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::tests::Seeded;
    use crate::{KdfParams, Sheet};

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-otp-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn decoy_rounds_write_like_a_save_into_one_fixed_file() {
        let dir = tempdir("decoy");
        let store = Store::new(dir.join("otp"));
        store.create().unwrap();
        let sheet = Sheet::generate(&mut Seeded(1), 280, 64).unwrap();
        let s = Secrets::from_sheet("dave", &sheet, "p", KdfParams::TEST, &mut Seeded(2)).unwrap();
        // The decoy writes about as much as a real save of a default sheet.
        let real = s.emit().len();
        assert!(DECOY_BYTES / 2 < real && real < DECOY_BYTES * 2, "{real}");
        for _ in 0..3 {
            store.decoy_round(|_| ()).unwrap();
        }
        let md = fs::metadata(store.dir().join(".decoy")).unwrap();
        assert_eq!((md.len() as usize, md.mode() & 0o777), (DECOY_BYTES, 0o600));
        // One fixed file and its lock, whatever the user names tried: nothing per user.
        let mut names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".decoy", ".decoy.lock"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 15, finding 1: a login for a name without secrets (what pam_rampart_otp.so
    /// and `rampart otp status` do) creates no file for that name. Cycling through names
    /// must not fill the directory's inodes; the only files are the fixed decoy pair.
    #[test]
    fn unknown_names_create_no_file_per_name() {
        let dir = tempdir("unknown");
        let store = Store::new(dir.join("otp"));
        store.create().unwrap();
        for i in 0..1000 {
            let name = format!("nosuchuser{i}");
            // The module's step 1 for a user without secrets.
            assert!(store.lock_existing(&name).unwrap().is_none());
            store.decoy_round(|_| ()).unwrap();
        }
        let mut names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".decoy", ".decoy.lock"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn save_load_remove() {
        let dir = tempdir("store");
        let store = Store::new(dir.join("otp"));
        store.create().unwrap();
        assert_eq!(fs::metadata(store.dir()).unwrap().mode() & 0o777, 0o700);
        let sheet = Sheet::generate(&mut Seeded(1), 3, 64).unwrap();
        let s = Secrets::from_sheet("carol", &sheet, "p", KdfParams::TEST, &mut Seeded(2)).unwrap();
        let lock = store.lock("carol").unwrap();
        assert_eq!(store.load(&lock).unwrap(), None);
        store.save(&lock, &s).unwrap();
        store.save(&lock, &s).unwrap();
        assert_eq!(store.load(&lock).unwrap(), Some(s.clone()));
        let md = fs::metadata(store.secret_path("carol")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o600);
        // Only the secret and lock files remain (no temp files).
        let mut names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["carol.lock", "carol.otp"]);

        // A corrupt file is an error naming the path, never "no secrets".
        fs::write(store.secret_path("carol"), "rampart-otp 1\nuser carol\n").unwrap();
        let err = store.load(&lock).unwrap_err().to_string();
        assert!(
            err.contains("carol.otp") && err.contains("truncated"),
            "{err}"
        );

        // Loose permissions are refused with the fix.
        fs::set_permissions(
            store.secret_path("carol"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let err = store.load(&lock).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");

        drop(lock);
        let lock = store
            .lock_existing("carol")
            .unwrap()
            .expect("carol has secrets");
        assert!(store.remove(lock).unwrap());
        assert!(store.lock_existing("carol").unwrap().is_none());
        assert!(store.lock_existing("../x").is_err());
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 0);
        let lock = store.lock("carol").unwrap();
        assert!(!store.remove(lock).unwrap());
        assert!(store.lock("../x").is_err());

        fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = store.lock("carol").unwrap_err().to_string();
        assert!(err.contains("chmod 700"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    use std::os::unix::fs::PermissionsExt;
}
