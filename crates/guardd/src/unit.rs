//! `rampart up` starting the guard: systemd's unit when it runs this host and the policy
//! and state are the unit's own; otherwise the command to run, said.

use std::path::Path;
use std::process::Command;

/// The unit `scripts/install` and the package install.
pub const UNIT: &str = "rampart-guard.service";

/// What [`start_unit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// `systemctl restart rampart-guard.service` succeeded (started, or restarted with the
    /// new policy; bans stay in the kernel meanwhile).
    Unit,
    /// Not started, and why: the caller prints how to run it.
    NotStarted(String),
}

/// Whether this thread is in the host's network namespace (the unit's): a service
/// started from inside another namespace would guard the host, not this namespace.
/// rampart-harden's test, which also works where pid 1's link cannot be read.
fn in_host_netns() -> bool {
    rampart_harden::Proc::system()
        .initial_netns()
        .unwrap_or(false)
}

/// Starts (or restarts) the guard's unit, if `policy` and `state` are the unit's (the
/// default paths), systemd runs this host and this is the host's network namespace.
pub fn start_unit(default_paths: bool) -> Started {
    if !default_paths {
        return Started::NotStarted(
            "the policy or the state directory is not the service's default".into(),
        );
    }
    if !Path::new("/run/systemd/system").exists() {
        return Started::NotStarted("systemd does not run this host".into());
    }
    if !in_host_netns() {
        return Started::NotStarted("this is not the host's network namespace".into());
    }
    match Command::new("systemctl").args(["restart", UNIT]).output() {
        Ok(o) if o.status.success() => Started::Unit,
        Ok(o) => Started::NotStarted(format!(
            "systemctl restart {UNIT}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Started::NotStarted(format!("cannot run systemctl: {e}")),
    }
}
