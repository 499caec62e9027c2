//! Running the binary and comparing with golden files.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The repository root (examples/ lives here).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary produced.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rampart ARGS` from the repository root with `stdin` as standard input.
pub fn rampart_stdin(args: &[&str], stdin: &str) -> Output {
    run(args, stdin, &[])
}

/// Runs `rampart ARGS` with these environment variables set.
pub fn rampart_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    run(args, "", env)
}

fn run(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        // No state directory unless a test names one: the machine's /var/lib/rampart
        // (block lists that `trace` and `lockout-check` would include) stays out.
        .env(
            "RAMPART_STATE_DIR",
            root().join("target/cli-tests-no-state-dir"),
        )
        .envs(env.iter().copied())
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rampart binary runs");
    // A run that fails early may exit before reading its input: a broken pipe is fine.
    match child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin written: {e}"),
        _ => {}
    }
    let out = child.wait_with_output().expect("rampart finishes");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Runs `rampart ARGS` with empty standard input.
pub fn rampart(args: &[&str]) -> Output {
    rampart_stdin(args, "")
}

/// Compares `actual` with `tests/cli/golden/NAME`, or rewrites it under `UPDATE_GOLDEN=1`.
pub fn golden(name: &str, actual: &str) {
    let path = root().join("tests/cli/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test --test cli",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from {}\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
