//! PAM for tests: libpam-wrapper (libpam pointed at a service directory of the test's
//! own: the host's /etc/pam.d is never read or written), the system's modules, and
//! rampart's own module as cargo built it.

use std::path::{Path, PathBuf};

/// How a skip message names libpam-wrapper ([`pam_wrapper`] finds it).
pub const LIBPAM_WRAPPER: &str = "libpam-wrapper (apt-get install libpam-wrapper)";

/// libpam-wrapper's preload library, if installed.
pub fn pam_wrapper() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so",
        "/usr/lib/aarch64-linux-gnu/libpam_wrapper.so",
        "/usr/lib64/libpam_wrapper.so",
        "/usr/lib/libpam_wrapper.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A module of the system's PAM (`pam_permit.so`, `pam_unix.so`); panics if absent.
pub fn system_pam_module(name: &str) -> PathBuf {
    [
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/aarch64-linux-gnu/security",
        "/usr/lib64/security",
        "/lib/security",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("{name} not found"))
}

/// `pam_rampart_otp.so` as cargo built it for this test run
/// (`target/<profile>/libpam_rampart_otp.so`, beside the test binary's `deps/`); panics
/// with the build command if it is missing. (Building it from inside a test would wait
/// forever on the build-directory lock the outer cargo holds.)
pub fn built_otp_module() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let so = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .join("libpam_rampart_otp.so");
    assert!(
        so.exists(),
        "{} is missing: build it with `cargo build -p pam_rampart_otp` (same profile as the tests)",
        so.display()
    );
    so
}
