//! [`Postgres`]: a real PostgreSQL server from the Debian package's binaries
//! (/usr/lib/postgresql/VERSION/bin), in a temporary directory of its own, run as the
//! `postgres` user, optionally inside a network namespace with TLS: never the system's
//! cluster, never its service. Stopped and removed on drop.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The superuser of a test server (over its Unix socket, trusted; never over TCP).
pub const PG_ADMIN: &str = "admin";
/// The database a test server starts with.
pub const PG_DATABASE: &str = "rampart";

/// The newest PostgreSQL binary directory installed, if any.
pub fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, b)| b)
}

/// How a test server listens.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// The network namespace to run in (its name), if any.
    pub netns: Option<String>,
    /// The TCP address to listen on (TLS only, password auth), if any.
    pub listen: Option<IpAddr>,
    /// The server certificate, for `listen`.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running test server.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    netns: Option<String>,
    /// Its TCP port (also its socket's number).
    pub port: u16,
}

static SERVERS: AtomicU32 = AtomicU32::new(0);

fn check(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Postgres {
    /// Initialises a cluster in a fresh directory and starts it. Needs root (to run it as
    /// `postgres`) and the `postgresql` package.
    pub fn start(options: PgOptions) -> Postgres {
        let bin = pg_bin().expect("PostgreSQL is installed (apt-get install postgresql)");
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rampart-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = 25432 + u16::try_from((std::process::id() % 500) * 16 + n % 16).unwrap_or(0);
        let pg = Postgres {
            dir,
            bin,
            netns: options.netns.clone(),
            port,
        };
        pg.chown(&pg.dir);
        check(
            "initdb",
            pg.as_postgres(&pg.bin.join("initdb"))
                .args(["-D", pg.data().to_str().unwrap(), "-U", PG_ADMIN])
                .args(["--auth-local=trust", "--auth-host=reject", "-E", "UTF8"])
                .output()
                .unwrap(),
        );
        let mut conf = format!(
            "port = {port}\nunix_socket_directories = '{}'\nlisten_addresses = '{}'\n\
             max_connections = 200\nfsync = off\nlog_min_messages = warning\n",
            pg.dir.display(),
            options.listen.map(|a| a.to_string()).unwrap_or_default()
        );
        let mut hba = String::from("local all all trust\n");
        if let Some((cert, key)) = &options.tls {
            let (c, k) = (pg.dir.join("server.pem"), pg.dir.join("server.key"));
            std::fs::copy(cert, &c).unwrap();
            std::fs::copy(key, &k).unwrap();
            std::fs::set_permissions(&k, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            pg.chown(&c);
            pg.chown(&k);
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                c.display(),
                k.display()
            ));
            hba.push_str("hostssl all all all scram-sha-256\n");
        }
        hba.push_str("host all all all reject\n");
        let data = pg.data();
        let mut c = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        c.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), c).unwrap();
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        pg.run();
        pg.psql("postgres", &format!("CREATE DATABASE {PG_DATABASE}"));
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn chown(&self, p: &Path) {
        let u = nix::unistd::User::from_name("postgres")
            .unwrap()
            .expect("the postgres user (apt-get install postgresql)");
        nix::unistd::chown(p, Some(u.uid), Some(u.gid)).unwrap();
    }

    /// `program` run as `postgres` (in the namespace, when there is one), bounded.
    fn as_postgres(&self, program: &Path) -> Command {
        let mut c = Command::new("timeout");
        c.arg("60");
        if let Some(ns) = &self.netns {
            c.args(["ip", "netns", "exec", ns]);
        }
        c.args(["runuser", "-u", "postgres", "--"]).arg(program);
        // The caller's directory may be one the postgres user cannot enter (a clone under
        // /root): PostgreSQL's programs warn or fail there.
        c.current_dir("/");
        c
    }

    /// Starts the server (again).
    pub fn run(&self) {
        check(
            "pg_ctl start",
            self.as_postgres(&self.bin.join("pg_ctl"))
                .args(["-D", self.data().to_str().unwrap(), "-w", "-t", "30"])
                .arg("-l")
                .arg(self.dir.join("log"))
                .arg("start")
                .output()
                .unwrap(),
        );
    }

    /// Stops the server (fast shutdown: connections are cut, as in an outage).
    pub fn stop(&self) {
        check(
            "pg_ctl stop",
            self.as_postgres(&self.bin.join("pg_ctl"))
                .args([
                    "-D",
                    self.data().to_str().unwrap(),
                    "-w",
                    "-m",
                    "fast",
                    "stop",
                ])
                .output()
                .unwrap(),
        );
    }

    /// The directory of its Unix socket (a `host=` for clients on this machine).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `sql` as the superuser in `database`; its output (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        check(
            &format!("psql {sql}"),
            self.as_postgres(&self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .arg("-h")
                .arg(&self.dir)
                .args(["-p", &self.port.to_string(), "-U", PG_ADMIN, "-d", database])
                .args(["-c", sql])
                .output()
                .unwrap(),
        )
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres(&self.bin.join("pg_ctl"))
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-w",
                "-m",
                "immediate",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
