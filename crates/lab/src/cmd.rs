//! Running external commands (`ip`, `sysctl`, `iptables-restore`, `nft`),
//! always bounded in time, and entering a namespace on a thread.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

use nix::sched::{setns, CloneFlags};

/// Upper bound, in seconds, on any external command (`ip`, `iptables-restore`, scripts).
const COMMAND_TIMEOUT: &str = "10";

/// Directory where `ip netns` keeps its namespace handles.
pub(crate) const NETNS_DIR: &str = "/run/netns";

pub(crate) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Run a command (bounded by `timeout`), returning stdout or an error with stderr.
pub(crate) fn run(args: &[&str]) -> io::Result<String> {
    run_stdin(args, None)
}

/// Run a command (bounded by `timeout`) with `input` on its standard input.
pub(crate) fn run_stdin(args: &[&str], input: Option<&str>) -> io::Result<String> {
    let mut child = Command::new("timeout")
        .arg(COMMAND_TIMEOUT)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `timeout {}`: {e}", args[0])))?;
    if let Some(text) = input {
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| invalid("no stdin".into()))?;
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Is `program` an executable file in one of `$PATH`'s directories (or in
/// /usr/sbin and /sbin, where iproute2 and nftables live but a non-root
/// `$PATH` may not look)?
pub fn have_tool(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| is_executable(&dir.join(program)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Is this process running as root (needed to create namespaces)?
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Run `f` on a new thread that first entered namespace `ns` (a name under /run/netns).
pub(crate) fn in_ns<T, F>(ns: String, f: F) -> thread::JoinHandle<io::Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    thread::spawn(move || {
        let file = File::open(format!("{NETNS_DIR}/{ns}"))?;
        setns(&file, CloneFlags::CLONE_NEWNET)?;
        f()
    })
}
