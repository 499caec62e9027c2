//! Shared helpers: the built module, temp dirs, secret files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart_otp::{KdfParams, OsEntropy, Secrets, Sheet, Store};

pub use rampart_testkit::{
    built_otp_module as module, pam_wrapper, system_pam_module as system_module, LIBPAM_WRAPPER,
};

/// A temp dir removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "rampart-pam-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        // sshd and the askpass helper run as root, tests may not: keep it traversable.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A user's sheet, written into a fresh state directory under `dir`.
pub struct Account {
    pub user: String,
    pub prefix: String,
    pub sheet: Sheet,
    pub store: Store,
}

impl Account {
    pub fn create(dir: &Path, user: &str, prefix: &str, count: usize) -> Account {
        let store = Store::new(dir.join("state"));
        store.create().unwrap();
        let mut rng = OsEntropy;
        let sheet = Sheet::generate(&mut rng, count, 64).unwrap();
        // Real cost parameters: the timing of the module under sshd is part of the test.
        let secrets =
            Secrets::from_sheet(user, &sheet, prefix, KdfParams::DEFAULT, &mut rng).unwrap();
        let lock = store.lock(user).unwrap();
        store.save(&lock, &secrets).unwrap();
        Account {
            user: user.into(),
            prefix: prefix.into(),
            sheet,
            store,
        }
    }

    /// The right answer to a prompt `... Password 017/153/230: `.
    pub fn answer(&self, prompt: &str) -> String {
        let pws: Vec<&str> = numbers(prompt)
            .iter()
            .map(|n| self.sheet.password(*n).unwrap())
            .collect();
        format!("{}{}", self.prefix, pws.join(""))
    }

    /// The stored state, read the way the module reads it.
    pub fn secrets(&self) -> Secrets {
        let lock = self.store.lock(&self.user).unwrap();
        self.store.load(&lock).unwrap().unwrap()
    }

    /// Changes the stored state under the user's lock, as another login would. Tests use it
    /// to let time pass without sleeping: moving a hold's `until` or the last failure into
    /// the past is what the module sees once that much time has gone by (the core's unit
    /// tests check the arithmetic to the second with an injected clock).
    pub fn update(&self, change: impl FnOnce(&mut Secrets)) {
        let lock = self.store.lock(&self.user).unwrap();
        let mut s = self.store.load(&lock).unwrap().unwrap();
        change(&mut s);
        self.store.save(&lock, &s).unwrap();
    }

    /// Writes `NNN password` lines for the askpass helper.
    pub fn write_map(&self, path: &Path, only: Option<&str>) {
        let text: String = self
            .sheet
            .iter()
            .map(|(n, p)| format!("{n:03} {}\n", only.unwrap_or(p)))
            .collect();
        fs::write(path, text).unwrap();
    }
}

/// Unix time now, seconds (what the module reads).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// How long a test waits for something that normally takes milliseconds (a prompt, a
/// process exit). Only a bound against hanging forever: generous, because a loaded CI
/// machine may be very slow, and never part of what a test asserts.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// The entry numbers in a prompt (after ssh's `(user@host) ` label).
pub fn numbers(prompt: &str) -> Vec<u16> {
    let p = prompt.rsplit(") ").next().unwrap_or(prompt);
    let p = p.split("Password ").nth(1).unwrap_or("");
    p.trim_end_matches([' ', ':', '\n'])
        .split('/')
        .filter_map(|n| n.parse().ok())
        .collect()
}
