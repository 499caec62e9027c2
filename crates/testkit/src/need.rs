//! The one skip rule: a test that cannot run here says so and passes, except under CI.

use std::path::Path;

/// Something a test needs from the machine it runs on.
///
/// [`require`] checks a list of them; the message of a skip (or of the CI failure) names
/// every one that is missing, with the Debian package that provides it when one is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Need<'a> {
    /// Effective user id 0: creating network namespaces, loading rules, starting sshd.
    Root,
    /// A program: a name looked up in `$PATH` (`"nft"`), or an absolute path
    /// (`"/usr/sbin/sshd"`). Either way it must be an executable file.
    Tool(&'a str),
    /// A file that must exist: a data file (`"/usr/share/tor/geoip"`) or a library.
    File(&'a str),
    /// A condition the test checked itself (`Check("libpam-wrapper", found.is_some())`):
    /// what the message calls it, and whether it holds.
    Check(&'a str, bool),
}

/// Debian packages providing the programs and files tests ask for, by file name.
const PACKAGES: &[(&str, &str)] = &[
    ("nft", "nftables"),
    ("iptables", "iptables"),
    ("ip6tables", "iptables"),
    ("iptables-save", "iptables"),
    ("iptables-restore", "iptables"),
    ("ipset", "ipset"),
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("pamtester", "pamtester"),
    ("geoip", "tor-geoipdb"),
    ("geoip6", "tor-geoipdb"),
];

impl Need<'_> {
    /// Does this machine (this process) have it?
    pub fn is_met(&self) -> bool {
        match *self {
            Need::Root => nix::unistd::geteuid().is_root(),
            Need::Tool(program) if program.contains('/') => is_executable(Path::new(program)),
            Need::Tool(program) => std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
            }),
            Need::File(path) => Path::new(path).exists(),
            Need::Check(_, ok) => ok,
        }
    }

    /// How a message names it: `root`, `nft (apt-get install nftables)`.
    fn describe(&self) -> String {
        let (what, file_name) = match *self {
            Need::Root => return "root".to_owned(),
            Need::Check(what, _) => return what.to_owned(),
            Need::Tool(p) | Need::File(p) => (p, p.rsplit('/').next().unwrap_or(p)),
        };
        match PACKAGES.iter().find(|(name, _)| *name == file_name) {
            Some((_, package)) => format!("{what} (apt-get install {package})"),
            None => what.to_owned(),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the calling test can run here: `true` when every need is met.
///
/// Otherwise it [`skip`]s with a message naming everything missing
/// (`skipped TEST: needs root, nft (apt-get install nftables)`) and returns `false`, so the
/// test returns early and passes; under CI (the `CI` environment variable set, as
/// `CI=true ./scripts/test` does) it panics with the same list instead, because a skipped
/// kernel test there would hide a regression.
///
/// ```
/// use rampart_testkit::{require, Need};
///
/// if !require(&[Need::Root, Need::Tool("nft")]) {
///     return;
/// }
/// // ... the kernel part of the test
/// ```
#[track_caller]
pub fn require(needs: &[Need<'_>]) -> bool {
    let missing: Vec<String> = needs
        .iter()
        .filter(|n| !n.is_met())
        .map(Need::describe)
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip(&format!("needs {}", missing.join(", ")));
    false
}

/// Skips the calling test for a reason found while it ran (`"no ipset support in this
/// kernel"`): prints `skipped TEST: WHY`, or panics under CI. The caller then returns.
///
/// TEST is the name of the current thread, which the test harness names after the test
/// (`block::timed_ban_expires_in_the_kernel`); on an unnamed or the main thread it is
/// `this test`. Under CI the panic points at the caller.
#[track_caller]
pub fn skip(why: &str) {
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => name,
        _ => "this test",
    };
    match skip_message(test, why, std::env::var_os("CI").is_some()) {
        Err(message) => panic!("{message}"),
        Ok(message) => eprintln!("{message}"),
    }
}

/// The skip line, or (under CI) the panic message.
fn skip_message(test: &str, why: &str, ci: bool) -> Result<String, String> {
    if ci {
        Err(format!(
            "{test} cannot run under CI, where skipping is not allowed: {why}"
        ))
    } else {
        Ok(format!("skipped {test}: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_test_and_what_is_missing() {
        assert_eq!(
            skip_message("t", "needs root", false),
            Ok("skipped t: needs root".to_owned())
        );
        assert_eq!(
            skip_message("t", "needs root", true),
            Err("t cannot run under CI, where skipping is not allowed: needs root".to_owned())
        );
        assert_eq!(
            Need::Tool("nft").describe(),
            "nft (apt-get install nftables)"
        );
        assert_eq!(
            Need::Tool("/usr/sbin/sshd").describe(),
            "/usr/sbin/sshd (apt-get install openssh-server)"
        );
        assert_eq!(Need::Check("a thing", false).describe(), "a thing");
        assert_eq!(Need::File("/nonexistent/x").describe(), "/nonexistent/x");
    }

    #[test]
    fn what_is_met() {
        assert!(Need::Tool("sh").is_met());
        assert!(Need::Tool("/bin/sh").is_met());
        assert!(!Need::Tool("rampart-no-such-program").is_met());
        assert!(!Need::Tool("/nonexistent/sh").is_met());
        assert!(Need::File("/proc/self/status").is_met());
        assert!(!Need::File("/nonexistent/x").is_met());
        assert!(Need::Check("x", true).is_met());
        assert!(!Need::Check("x", false).is_met());
        // Nothing missing: no skip, whatever the environment.
        assert!(require(&[Need::Check("x", true)]));
    }
}
