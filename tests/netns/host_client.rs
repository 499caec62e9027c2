//! Two namespaces on one link, `host` (192.0.2.1, where rampart runs) and `client`
//! (192.0.2.2, which connects to it), and a temporary directory holding the rule files
//! and rampart's state: the fixture of the tests that apply a ruleset and probe it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::lab::{Fate, Lab, Probe, Proto};

pub const HOST_IP: &str = "192.0.2.1";
pub const CLIENT_IP: &str = "192.0.2.2";

pub struct HostAndClient {
    pub lab: Lab,
    /// The working directory of rampart's runs (the tests' files).
    pub dir: PathBuf,
    /// `RAMPART_STATE_DIR` of rampart's runs, inside `dir`.
    pub state: PathBuf,
}

impl Drop for HostAndClient {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl HostAndClient {
    /// The namespaces, and a directory named after the lab and `test` holding `files`.
    pub fn new(test: &str, files: &[(&str, &str)]) -> HostAndClient {
        let mut lab = Lab::new().unwrap();
        lab.add_ns("host").unwrap();
        lab.add_ns("client").unwrap();
        lab.veth("host", "eth0", "client", "link0").unwrap();
        lab.addr("host", "eth0", &format!("{HOST_IP}/24")).unwrap();
        lab.addr("client", "link0", &format!("{CLIENT_IP}/24"))
            .unwrap();
        let dir = std::env::temp_dir().join(format!("{}-{test}", lab.id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        HostAndClient {
            state: dir.join("state"),
            lab,
            dir,
        }
    }

    /// `rampart ARGS` in the host's namespace, bounded to 20 s.
    pub fn rampart_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["20", "ip", "netns", "exec", self.lab.ns("host").unwrap()])
            .arg(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .env("RAMPART_STATE_DIR", &self.state)
            .current_dir(&self.dir);
        c
    }

    /// [`HostAndClient::rampart_cmd`], run to its end.
    pub fn rampart_output(&self, args: &[&str]) -> Output {
        self.rampart_cmd(args).output().unwrap()
    }

    /// A TCP connection from the client to the host's `port`.
    pub fn connect_to(&self, port: u16) -> Fate {
        let probe = Probe {
            proto: Proto::Tcp,
            src: CLIENT_IP.parse::<IpAddr>().unwrap(),
            dst: HOST_IP.parse::<IpAddr>().unwrap(),
            port,
        };
        self.lab
            .probe("client", &probe, Duration::from_millis(400))
            .unwrap()
    }
}
