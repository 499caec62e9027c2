//! Running the `nft` binary: the only place the crate talks to the kernel.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::Error;
use crate::TABLE;

/// How to run `nft`: the program and any prefix (`ip netns exec NS nft` in tests).
///
/// Every command that changes something addresses `table inet rampart` only (the block
/// tables are rampart-enforce's); nothing here flushes or deletes anything else.
#[derive(Debug, Clone)]
pub struct Nft {
    argv: Vec<String>,
}

impl Default for Nft {
    fn default() -> Self {
        Nft::new()
    }
}

impl Nft {
    /// `nft` from `PATH`, in the caller's network namespace.
    pub fn new() -> Nft {
        Nft {
            argv: vec!["nft".into()],
        }
    }

    /// A custom command line ending in the nft program, e.g.
    /// `["ip", "netns", "exec", "rampart-t1-0", "nft"]`.
    pub fn with_argv<I, S>(argv: I) -> Nft
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Nft {
            argv: argv.into_iter().map(Into::into).collect(),
        }
    }

    /// `nft` inside the named network namespace (`ip netns exec NS nft`).
    pub fn in_netns(ns: &str) -> Nft {
        Nft::with_argv(["ip", "netns", "exec", ns, "nft"])
    }

    /// The network namespace of [`Nft::in_netns`], `None` for the caller's own.
    pub fn netns(&self) -> Option<&str> {
        match self.argv.as_slice() {
            [ip, netns, exec, ns, _] if ip == "ip" && netns == "netns" && exec == "exec" => {
                Some(ns)
            }
            _ => None,
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, Error> {
        let (prog, pre) = self.argv.split_first().ok_or(Error::NoProgram)?;
        let mut cmd = Command::new(prog);
        cmd.args(pre).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: prog.clone(),
            source,
        })?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().ok_or(Error::NoProgram)?;
            // A write error (nft exited early) shows up in its status and stderr.
            let _ = pipe.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().map_err(|source| Error::Spawn {
            program: prog.clone(),
            source,
        })?;
        Ok(Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `nft -c -f -`: check `text` against the kernel without committing.
    pub fn check(&self, text: &str) -> Result<(), Error> {
        let out = self.run(&["-c", "-f", "-"], Some(text))?;
        if out.ok {
            Ok(())
        } else {
            Err(Error::Rejected {
                stage: "check",
                stderr: out.stderr,
                lines: Vec::new(),
            })
        }
    }

    /// `nft -f -`: run `text` as one transaction.
    pub fn load(&self, text: &str) -> Result<(), Error> {
        let out = self.run(&["-f", "-"], Some(text))?;
        if out.ok {
            Ok(())
        } else {
            Err(Error::Rejected {
                stage: "apply",
                stderr: out.stderr,
                lines: Vec::new(),
            })
        }
    }

    /// `nft list table inet rampart`, or `None` when the table does not exist.
    pub fn list_table(&self) -> Result<Option<String>, Error> {
        self.list(&[])
    }

    /// `nft -j list table inet rampart`, or `None` when the table does not exist.
    pub fn list_table_json(&self) -> Result<Option<String>, Error> {
        self.list(&["-j"])
    }

    fn list(&self, pre: &[&str]) -> Result<Option<String>, Error> {
        let mut args = pre.to_vec();
        args.extend(["list", "table", TABLE.0, TABLE.1]);
        let out = self.run(&args, None)?;
        if out.ok {
            Ok(Some(out.stdout))
        } else if is_enoent(&out.stderr) {
            Ok(None)
        } else {
            Err(Error::Rejected {
                stage: "list",
                stderr: out.stderr,
                lines: Vec::new(),
            })
        }
    }

    /// `nft list tables FAMILY`: the names of the family's tables (no set contents are
    /// read, whatever the tables hold).
    pub fn list_tables(&self, family: &str) -> Result<Vec<String>, Error> {
        let out = self.run(&["list", "tables", family], None)?;
        if !out.ok {
            return Err(Error::Rejected {
                stage: "list",
                stderr: out.stderr,
                lines: Vec::new(),
            });
        }
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("table "))
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
            .collect())
    }

    /// `nft delete table inet rampart`; `Ok(false)` when it did not exist.
    pub fn delete_table(&self) -> Result<bool, Error> {
        let out = self.run(&["delete", "table", TABLE.0, TABLE.1], None)?;
        if out.ok {
            Ok(true)
        } else if is_enoent(&out.stderr) {
            Ok(false)
        } else {
            Err(Error::Rejected {
                stage: "down",
                stderr: out.stderr,
                lines: Vec::new(),
            })
        }
    }
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn is_enoent(stderr: &str) -> bool {
    stderr.contains("No such file or directory")
}
