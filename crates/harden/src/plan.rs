//! [`Plan`]: every setting's current value against its recommendation, and
//! what applying would change; [`apply`] changes it and persists the
//! result in `90-rampart.conf`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::proc::{Facts, Proc};
use crate::settings::{Scope, Setting, Target};
use crate::HardenError;

/// The file `--apply` writes in the sysctl directory (read at boot by
/// systemd-sysctl or `sysctl --system`, after the distribution's files).
pub const CONF_FILE: &str = "90-rampart.conf";

/// Where a setting stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// It meets the recommendation.
    Ok,
    /// Applying changes it.
    Change,
    /// It should change, but it is host-wide and this is not the initial
    /// network namespace: left alone.
    HostWide,
    /// The kernel does not have it (a module not loaded, IPv6 off).
    Absent,
    /// It could not be read, or its value is not a number.
    Unreadable,
}

/// One setting, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The sysctl key.
    pub key: &'static str,
    /// The value now, as the kernel shows it (`None`: absent).
    pub current: Option<String>,
    /// The recommendation, for people: `1`, `>= 4096`, `<= 2`.
    pub recommended: String,
    /// Where it stands.
    pub status: Status,
    /// The value applying sets (for [`Status::Change`]) or would set
    /// (for [`Status::HostWide`]).
    pub set_to: Option<i64>,
    /// Per namespace or host-wide.
    pub scope: Scope,
    /// Why.
    pub reason: &'static str,
    /// Why it could not be read ([`Status::Unreadable`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every setting against its recommendation on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// What the recommendations were computed from.
    pub facts: Facts,
    /// In the table's order.
    pub checks: Vec<Check>,
}

impl Setting {
    /// The value to set, if `current` does not meet the recommendation.
    fn fix(&self, current: i64, mem_bytes: u64) -> Option<i64> {
        match self.target {
            Target::Exact(v) => (current != v).then_some(v),
            Target::AtLeast(a) => {
                let v = a.value(mem_bytes);
                (current < v).then_some(v)
            }
            Target::AtMost(v) => (current > v).then_some(v),
        }
    }

    fn recommended(&self, mem_bytes: u64) -> String {
        match self.target {
            Target::Exact(v) => v.to_string(),
            Target::AtLeast(a) => format!(">= {}", a.value(mem_bytes)),
            Target::AtMost(v) => format!("<= {v}"),
        }
    }
}

/// Check every setting of `settings` in `proc`. A setting that cannot be
/// read is [`Status::Unreadable`], with the error; the others are checked.
pub fn plan(settings: &[Setting], proc: &Proc, facts: Facts) -> Plan {
    let mut checks = Vec::with_capacity(settings.len());
    for s in settings {
        let (current, error) = match proc.read(s.key) {
            Ok(v) => (v, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let parsed = current.as_deref().map(str::parse::<i64>);
        let (status, set_to) = match parsed {
            _ if error.is_some() => (Status::Unreadable, None),
            None => (Status::Absent, None),
            Some(Err(_)) => (Status::Unreadable, None),
            Some(Ok(now)) => match s.fix(now, facts.mem_bytes) {
                None => (Status::Ok, None),
                Some(v) if s.scope == Scope::Host && !facts.initial_netns => {
                    (Status::HostWide, Some(v))
                }
                Some(v) => (Status::Change, Some(v)),
            },
        };
        checks.push(Check {
            key: s.key,
            current,
            recommended: s.recommended(facts.mem_bytes),
            status,
            set_to,
            scope: s.scope,
            reason: s.reason,
            error,
        });
    }
    Plan { facts, checks }
}

impl Plan {
    /// The settings applying changes.
    pub fn changes(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Change)
    }

    /// Host-wide settings this namespace may not change (empty in the
    /// initial namespace).
    pub fn host_wide(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(move |c| c.scope == Scope::Host && !self.facts.initial_netns)
    }

    /// The sysctl.d file that keeps the hardened values across reboots:
    /// every setting this namespace may change that meets (or will meet)
    /// its recommendation, with its value, except those in `failed`. A
    /// value the admin set above a floor (or below a ceiling) is kept as it
    /// is. Keys under `net.netfilter` get a leading `-` (ignore if absent):
    /// nf_conntrack may load after systemd-sysctl runs.
    pub fn conf_text(&self, failed: &[&str]) -> String {
        let mut out = String::from(
            "# Written by `rampart harden --apply`, which rewrites it whole: change values with\n\
             # a later file (e.g. 99-local.conf), not here. `rampart harden` shows each reason.\n",
        );
        for c in &self.checks {
            if failed.contains(&c.key) {
                continue;
            }
            if c.scope == Scope::Host && !self.facts.initial_netns {
                continue;
            }
            let value = match (c.status, c.set_to, &c.current) {
                (Status::Change, Some(v), _) => v.to_string(),
                (Status::Ok, _, Some(now)) => now.clone(),
                _ => continue,
            };
            let ignore = if c.key.starts_with("net.netfilter.") {
                "-"
            } else {
                ""
            };
            out.push_str(&format!("{ignore}{} = {value}\n", c.key));
        }
        out
    }
}

/// One setting changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// The key.
    pub key: &'static str,
    /// The value before.
    pub from: String,
    /// The value set.
    pub to: i64,
}

/// One setting the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The key.
    pub key: &'static str,
    /// The error.
    pub error: String,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Settings changed.
    pub changed: Vec<Changed>,
    /// Settings the kernel refused (the others were still applied).
    pub failed: Vec<Failed>,
    /// Host-wide settings left alone (inside a network namespace).
    pub left_alone: Vec<&'static str>,
    /// The sysctl.d file written, if any.
    pub conf_file: Option<PathBuf>,
}

/// Set every [`Status::Change`] of `plan` in `proc`, then, if `conf_dir` is
/// given, write [`CONF_FILE`] there (atomically: a temporary file renamed
/// over it). A refused setting does not stop the others.
pub fn apply(plan: &Plan, proc: &Proc, conf_dir: Option<&Path>) -> Result<Applied, HardenError> {
    let mut applied = Applied {
        changed: Vec::new(),
        failed: Vec::new(),
        left_alone: plan
            .host_wide()
            .filter(|c| c.status == Status::HostWide)
            .map(|c| c.key)
            .collect(),
        conf_file: None,
    };
    for c in plan.changes() {
        let Some(v) = c.set_to else { continue };
        match proc.write(c.key, v) {
            Ok(()) => applied.changed.push(Changed {
                key: c.key,
                from: c.current.clone().unwrap_or_default(),
                to: v,
            }),
            Err(e) => applied.failed.push(Failed {
                key: c.key,
                error: e.to_string(),
            }),
        }
    }
    if let Some(dir) = conf_dir {
        let failed: Vec<&str> = applied.failed.iter().map(|f| f.key).collect();
        let path = dir.join(CONF_FILE);
        write_atomic(&path, &plan.conf_text(&failed))?;
        applied.conf_file = Some(path);
    }
    Ok(applied)
}

/// Write `text` to `path` through a temporary file in the same directory,
/// synced and renamed over it: a reader (or a crash) sees the old file or
/// the new one, never half of one.
fn write_atomic(path: &Path, text: &str) -> Result<(), HardenError> {
    let err = |source| HardenError::Conf {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{CONF_FILE}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SETTINGS;

    const GIB: u64 = 1 << 30;

    /// A fake proc tree holding `values`.
    fn tree(values: &[(&str, &str)]) -> (tempfile::TempDir, Proc) {
        let dir = tempfile::tempdir().unwrap();
        let proc = Proc::new(dir.path());
        for (k, v) in values {
            let p = proc.path(k);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("{v}\n")).unwrap();
        }
        (dir, proc)
    }

    /// A stock kernel's values (6.x defaults; rp_filter as Debian ships it).
    const STOCK: &[(&str, &str)] = &[
        ("net.ipv4.tcp_syncookies", "1"),
        ("net.ipv4.tcp_max_syn_backlog", "2048"),
        ("net.core.somaxconn", "65535"),
        ("net.ipv4.tcp_synack_retries", "5"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "2"),
        ("net.ipv4.conf.all.accept_redirects", "1"),
        ("net.ipv4.conf.default.accept_redirects", "1"),
        ("net.ipv6.conf.all.accept_redirects", "1"),
        ("net.ipv6.conf.default.accept_redirects", "1"),
        ("net.ipv4.conf.all.send_redirects", "1"),
        ("net.ipv4.conf.default.send_redirects", "1"),
        ("net.ipv4.conf.all.accept_source_route", "0"),
        ("net.ipv4.conf.default.accept_source_route", "1"),
        ("net.ipv6.conf.all.accept_source_route", "0"),
        ("net.ipv6.conf.default.accept_source_route", "-1"),
        ("net.ipv4.icmp_echo_ignore_broadcasts", "1"),
        ("net.ipv4.conf.all.log_martians", "0"),
        ("net.ipv4.conf.default.log_martians", "0"),
        ("net.netfilter.nf_conntrack_max", "262144"),
        ("net.netfilter.nf_conntrack_buckets", "262144"),
        ("net.netfilter.nf_conntrack_tcp_timeout_syn_recv", "60"),
        ("net.netfilter.nf_conntrack_tcp_timeout_syn_sent", "120"),
    ];

    fn host(mem: u64) -> Facts {
        Facts {
            mem_bytes: mem,
            initial_netns: true,
        }
    }

    fn check<'a>(plan: &'a Plan, key: &str) -> &'a Check {
        plan.checks.iter().find(|c| c.key == key).unwrap()
    }

    fn read(proc: &Proc, key: &str) -> String {
        proc.read(key).unwrap().unwrap()
    }

    #[test]
    fn stock_kernel_plan() {
        let (_d, proc) = tree(STOCK);
        let plan = plan(SETTINGS, &proc, host(24 * GIB));
        assert_eq!(plan.checks.len(), SETTINGS.len());
        let expect = |key: &str, status: Status, set_to: Option<i64>| {
            let c = check(&plan, key);
            assert_eq!((c.status, c.set_to), (status, set_to), "{key}: {c:?}");
        };
        expect("net.ipv4.tcp_syncookies", Status::Ok, None);
        expect("net.ipv4.tcp_max_syn_backlog", Status::Change, Some(4096));
        expect("net.core.somaxconn", Status::Ok, None); // above the floor: kept
        expect("net.ipv4.tcp_synack_retries", Status::Change, Some(2));
        expect("net.ipv4.conf.all.rp_filter", Status::Change, Some(1));
        expect("net.ipv4.conf.default.rp_filter", Status::Ok, None); // loose passes
        expect(
            "net.ipv4.conf.all.accept_redirects",
            Status::Change,
            Some(0),
        );
        expect(
            "net.ipv6.conf.default.accept_redirects",
            Status::Change,
            Some(0),
        );
        expect(
            "net.ipv4.conf.default.send_redirects",
            Status::Change,
            Some(0),
        );
        expect("net.ipv4.conf.all.accept_source_route", Status::Ok, None);
        expect(
            "net.ipv4.conf.default.accept_source_route",
            Status::Change,
            Some(0),
        );
        expect(
            "net.ipv6.conf.default.accept_source_route",
            Status::Ok,
            None,
        ); // -1 <= 0
        expect("net.ipv4.icmp_echo_ignore_broadcasts", Status::Ok, None);
        expect("net.ipv4.conf.all.log_martians", Status::Change, Some(1));
        expect(
            "net.netfilter.nf_conntrack_max",
            Status::Change,
            Some(786_432),
        );
        expect(
            "net.netfilter.nf_conntrack_buckets",
            Status::Change,
            Some(786_432),
        );
        expect(
            "net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
            Status::Change,
            Some(20),
        );
        expect(
            "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
            Status::Change,
            Some(30),
        );
        assert_eq!(check(&plan, "net.core.somaxconn").recommended, ">= 4096");
        assert_eq!(
            check(&plan, "net.ipv4.tcp_synack_retries").recommended,
            "<= 2"
        );
        assert_eq!(check(&plan, "net.ipv4.tcp_syncookies").recommended, "1");

        // 8 GiB: the kernel's own conntrack size is enough.
        let plan8 = super::plan(SETTINGS, &proc, host(8 * GIB));
        assert_eq!(
            check(&plan8, "net.netfilter.nf_conntrack_max").status,
            Status::Ok
        );
    }

    #[test]
    fn apply_writes_changes_and_the_conf_file() {
        let (_d, proc) = tree(STOCK);
        let conf = tempfile::tempdir().unwrap();
        let plan = plan(SETTINGS, &proc, host(24 * GIB));
        let n_changes = plan.changes().count();
        let applied = apply(&plan, &proc, Some(conf.path())).unwrap();
        assert!(applied.failed.is_empty(), "{:?}", applied.failed);
        assert!(applied.left_alone.is_empty());
        assert_eq!(applied.changed.len(), n_changes);
        assert_eq!(read(&proc, "net.ipv4.tcp_synack_retries"), "2");
        assert_eq!(read(&proc, "net.ipv4.conf.all.rp_filter"), "1");
        assert_eq!(
            read(&proc, "net.ipv4.conf.default.rp_filter"),
            "2",
            "untouched"
        );
        assert_eq!(read(&proc, "net.netfilter.nf_conntrack_max"), "786432");

        // Everything now meets the recommendations.
        let again = super::plan(SETTINGS, &proc, host(24 * GIB));
        assert_eq!(
            again.changes().count(),
            0,
            "{:?}",
            again.changes().collect::<Vec<_>>()
        );

        let path = applied.conf_file.unwrap();
        assert_eq!(path, conf.path().join(CONF_FILE));
        let text = fs::read_to_string(&path).unwrap();
        for line in [
            "net.ipv4.tcp_syncookies = 1\n",
            "net.core.somaxconn = 65535\n",
            "net.ipv4.tcp_synack_retries = 2\n",
            "net.ipv4.conf.default.rp_filter = 2\n",
            "net.ipv6.conf.default.accept_source_route = -1\n",
            "-net.netfilter.nf_conntrack_max = 786432\n",
            "-net.netfilter.nf_conntrack_tcp_timeout_syn_recv = 20\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            SETTINGS.len()
        );
        // Applying again rewrites the same file; nothing else is left in the directory.
        apply(&again, &proc, Some(conf.path())).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        let names: Vec<_> = fs::read_dir(conf.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CONF_FILE]);
    }

    #[test]
    fn inside_a_namespace_host_wide_settings_are_left_alone() {
        let (_d, proc) = tree(STOCK);
        let conf = tempfile::tempdir().unwrap();
        let facts = Facts {
            mem_bytes: 24 * GIB,
            initial_netns: false,
        };
        let plan = plan(SETTINGS, &proc, facts);
        let c = check(&plan, "net.netfilter.nf_conntrack_max");
        assert_eq!((c.status, c.set_to), (Status::HostWide, Some(786_432)));
        let syn_recv = check(&plan, "net.netfilter.nf_conntrack_tcp_timeout_syn_recv");
        assert_eq!(
            syn_recv.status,
            Status::Change,
            "per-namespace conntrack timeout"
        );
        let applied = apply(&plan, &proc, Some(conf.path())).unwrap();
        assert_eq!(
            applied.left_alone,
            [
                "net.netfilter.nf_conntrack_max",
                "net.netfilter.nf_conntrack_buckets"
            ]
        );
        assert_eq!(read(&proc, "net.netfilter.nf_conntrack_max"), "262144");
        assert_eq!(read(&proc, "net.ipv4.tcp_synack_retries"), "2");
        let text = fs::read_to_string(conf.path().join(CONF_FILE)).unwrap();
        assert!(!text.contains("nf_conntrack_max"), "{text}");
        assert!(text.contains("-net.netfilter.nf_conntrack_tcp_timeout_syn_recv = 20"));
    }

    #[test]
    fn absent_unreadable_and_refused_settings() {
        let mut values: Vec<(&str, &str)> = STOCK
            .iter()
            .copied()
            .filter(|(k, _)| !k.starts_with("net.netfilter.") && !k.starts_with("net.ipv6."))
            .collect();
        values.retain(|(k, _)| *k != "net.ipv4.conf.all.log_martians");
        values.push(("net.ipv4.conf.all.log_martians", "yes"));
        let (_d, proc) = tree(&values);
        // A file that cannot be read (a directory here): that setting is
        // unreadable, with the error; the others are checked.
        let odd = proc.path("net.ipv4.tcp_max_syn_backlog");
        fs::remove_file(&odd).unwrap();
        fs::create_dir(&odd).unwrap();
        let plan = super::plan(SETTINGS, &proc, host(GIB));
        let c = check(&plan, "net.ipv4.tcp_max_syn_backlog");
        assert_eq!(c.status, Status::Unreadable);
        assert!(
            c.error.as_deref().unwrap().contains("tcp_max_syn_backlog"),
            "{c:?}"
        );
        assert_eq!(
            check(&plan, "net.ipv4.tcp_synack_retries").status,
            Status::Change
        );
        assert_eq!(
            check(&plan, "net.netfilter.nf_conntrack_max").status,
            Status::Absent
        );
        assert_eq!(
            check(&plan, "net.ipv6.conf.all.accept_redirects").status,
            Status::Absent
        );
        let c = check(&plan, "net.ipv4.conf.all.log_martians");
        assert_eq!(
            (c.status, c.current.as_deref()),
            (Status::Unreadable, Some("yes"))
        );

        // The kernel refuses one write (its file became a directory): the
        // others still happen, and the refused key stays out of the conf file.
        let bad = proc.path("net.ipv4.conf.all.rp_filter");
        fs::remove_file(&bad).unwrap();
        fs::create_dir(&bad).unwrap();
        let conf = tempfile::tempdir().unwrap();
        let applied = apply(&plan, &proc, Some(conf.path())).unwrap();
        assert_eq!(applied.failed.len(), 1, "{:?}", applied.failed);
        assert_eq!(applied.failed[0].key, "net.ipv4.conf.all.rp_filter");
        assert!(applied.failed[0]
            .error
            .contains("cannot set net.ipv4.conf.all.rp_filter = 1"));
        assert_eq!(read(&proc, "net.ipv4.tcp_synack_retries"), "2");
        let text = fs::read_to_string(conf.path().join(CONF_FILE)).unwrap();
        assert!(!text.contains("conf.all.rp_filter"), "{text}");
        assert!(!text.contains("log_martians = yes"), "{text}");
        assert!(!text.contains("nf_conntrack"), "{text}");
    }

    #[test]
    fn no_conf_dir_no_file() {
        let (_d, proc) = tree(STOCK);
        let plan = plan(SETTINGS, &proc, host(GIB));
        assert_eq!(apply(&plan, &proc, None).unwrap().conf_file, None);
    }

    #[test]
    fn facts_from_a_tree() {
        let (dir, proc) = tree(&[]);
        fs::write(dir.path().join("meminfo"), "MemTotal: 1024 kB\n").unwrap();
        fs::create_dir_all(dir.path().join("thread-self/ns")).unwrap();
        fs::create_dir_all(dir.path().join("1/ns")).unwrap();
        fs::write(dir.path().join("thread-self/ns/net"), "").unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("thread-self/ns/net"),
            dir.path().join("1/ns/net"),
        )
        .unwrap();
        assert_eq!(
            proc.facts().unwrap(),
            Facts {
                mem_bytes: 1 << 20,
                initial_netns: true
            }
        );
        fs::remove_file(dir.path().join("1/ns/net")).unwrap();
        fs::write(dir.path().join("1/ns/net"), "").unwrap();
        assert!(!proc.facts().unwrap().initial_netns);
        fs::write(dir.path().join("meminfo"), "nothing\n").unwrap();
        assert!(proc
            .mem_bytes()
            .unwrap_err()
            .to_string()
            .contains("MemTotal"));
    }
}
