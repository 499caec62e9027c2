//! [`Sshd`]: a real OpenSSH sshd started in a test's namespace, and [`ssh_client`], a
//! real `ssh` answering password prompts through an SSH_ASKPASS script.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Netns;

/// Where Debian installs sshd.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd gets to start listening, and a client to finish.
pub const SSHD_PATIENCE: Duration = Duration::from_secs(60);

/// An sshd running in a [`Netns`], its host key and config in `dir`, its log in
/// `dir/sshd.log` (written by sshd itself: `sshd -E FILE`). Killed on drop; its
/// per-connection children go with the namespace.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Sshd {
    /// Starts `sshd -D -f DIR/sshd_config -E DIR/sshd.log` in `ns` (through `env` with
    /// `env` set, for LD_PRELOAD and the like) and waits for `Server listening`.
    ///
    /// The config is `config` (`ListenAddress`, `UsePAM`, authentication methods...)
    /// followed by a fresh ed25519 host key, a pid file, `StrictModes no` and `LogLevel
    /// INFO` (in sshd_config the first value of a keyword wins: `config` can set its own
    /// `LogLevel`). Panics with the log if sshd does not start.
    pub fn start(ns: &Netns, dir: &Path, config: &str, env: &[(&str, &str)]) -> Sshd {
        Sshd::start_prefixed(ns, dir, config, env, &[])
    }

    /// [`Sshd::start`] with `prefix` run in front of `env … sshd …` inside the namespace
    /// (`unshare -m sh -c SCRIPT sh`, to set up a private mount namespace first).
    pub fn start_prefixed(
        ns: &Netns,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        prefix: &[&str],
    ) -> Sshd {
        let key = dir.join("ssh_host_ed25519_key");
        if !key.exists() {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-f")
                .arg(&key)
                .output()
                .expect("ssh-keygen runs");
            assert!(
                out.status.success(),
                "ssh-keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let conf = dir.join("sshd_config");
        fs::write(
            &conf,
            format!(
                "{config}\nHostKey {}\nPidFile {}\nStrictModes no\nLogLevel INFO\n",
                key.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        // sshd insists on its privilege-separation directory (empty, root-owned).
        fs::create_dir_all("/run/sshd").unwrap();
        let log = dir.join("sshd.log");
        let _ = fs::remove_file(&log);
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = ns.command(first);
                c.args(rest).arg("env");
                c
            }
            None => ns.command("env"),
        };
        cmd.args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(SSHD)
            .args(["-D", "-f"])
            .arg(&conf)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("start sshd");
        let sshd = Sshd { child, log };
        sshd.wait_log("sshd to listen", |l| l.contains("Server listening"));
        sshd
    }

    /// The log so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The listener's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (up to [`SSHD_PATIENCE`]) until `done` holds for the log; panics with the log.
    pub fn wait_log(&self, what: &str, done: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let log = self.log();
            if done(&log) {
                return;
            }
            assert!(
                start.elapsed() < SSHD_PATIENCE,
                "timed out waiting for {what}; sshd log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A script for SSH_ASKPASS that answers every prompt with `answer` (written to
/// `dir/NAME`, mode 755).
pub fn askpass(dir: &Path, name: &str, answer: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s\\n' '{}'\n",
            answer.replace('\'', "'\\''")
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `ssh -l USER HOST true` run in `ns`: no config file, no host-key checks, no terminal;
/// prompts answered by the `askpass` script (SSH_ASKPASS_REQUIRE=force); `options` are
/// more `-o` values. The caller spawns it (stdout and stderr are piped).
pub fn ssh_client(ns: &Netns, user: &str, host: &str, askpass: &Path, options: &[&str]) -> Command {
    let mut c = ns.command("ssh");
    c.args(["-F", "/dev/null", "-T"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "ConnectTimeout=30",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=no",
        ]);
    for o in options {
        c.args(["-o", o]);
    }
    c.arg("-l")
        .arg(user)
        .arg(host)
        .arg("true")
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs a spawned command to its end, killing it after [`SSHD_PATIENCE`].
pub fn wait_output(mut child: Child) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > SSHD_PATIENCE {
            let _ = child.kill();
            panic!("command did not finish within {SSHD_PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
