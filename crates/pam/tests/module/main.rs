//! Tests of the built module, `libpam_rampart_otp.so`, loaded by real PAM applications:
//!
//! - `pamtester`: pamtester + libpam-wrapper, which points libpam at a service directory in
//!   a temp dir (the host's /etc/pam.d is never read or written). No root needed.
//! - `sshd`: a real OpenSSH sshd in a network namespace the test creates, with its own
//!   config and host key, PAM through libpam-wrapper (LD_PRELOAD), and OpenSSH's `ssh` as
//!   the keyboard-interactive client answering through SSH_ASKPASS. Needs root.
//!
//! The module must be built first. `cargo test -p pam_rampart_otp` and
//! `cargo test --workspace` build the package's cdylib before its tests run; the tests find
//! it next to the test binary's `deps/` folder (`target/<profile>/libpam_rampart_otp.so`)
//! and fail with the build command if it is missing. (Running `cargo build` from inside the
//! test would wait forever on the build-directory lock the outer cargo holds.)
//!
//! Missing tools or root: the test prints "skipped TEST: needs ..." and passes, unless `CI`
//! is set, where it fails (`rampart_testkit::require`).

mod pamtester;
mod sshd;
mod util;
