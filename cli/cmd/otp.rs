//! `rampart otp`: create, inspect and revoke users' one-time password secrets for
//! pam_rampart_otp.so. Flags are defined here (not in flags.rs) so the subcommand stays
//! one self-contained module.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rampart_otp::{
    scratch_codes, totp, Entropy, KdfParams, Kind, OsEntropy, Secrets, Sheet, Store,
};

/// Warn when this few passwords are left (the PAM module warns at the same count).
const LOW_WATER: usize = 20;

/// `rampart otp`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart otp init alice                 # 280 passwords; prints the sheet, writes otp-alice.html
  rampart otp init alice --totp          # authenticator app: QR code, URI, scratch codes
  rampart otp status alice --json
  rampart otp revoke alice
See docs/otp.md for the sshd_config and /etc/pam.d/sshd lines.")]
pub struct OtpArgs {
    /// State directory holding one secret file per user (root-owned, mode 0700).
    #[arg(long, global = true, value_name = "DIR", default_value = rampart_otp::DEFAULT_DIR)]
    pub statedir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: OtpCommand,
}

/// The `rampart otp` subcommands.
#[derive(Debug, Subcommand)]
pub enum OtpCommand {
    /// Generate a new sheet (or TOTP secret) for USER, replacing no existing one unless
    /// --force; prints the sheet and writes a printable HTML page.
    Init(InitArgs),
    /// Show how many passwords USER has left (warns when few are left).
    Status {
        /// The user.
        user: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Lift USER's back-off after failed or dropped logins, and release any held
    /// password, without changing the secrets.
    Unlock {
        /// The user.
        user: String,
    },
    /// Delete USER's secrets: no one-time password works for USER any more.
    Revoke {
        /// The user.
        user: String,
    },
}

/// `rampart otp init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The user (login name).
    pub user: String,
    /// Passwords on the sheet (1 to 999).
    #[arg(long, default_value_t = 280)]
    pub count: usize,
    /// Bits of entropy per password (40 to 128); 64 bits is 13 characters.
    #[arg(long, default_value_t = 64)]
    pub entropy: u32,
    /// A TOTP secret for an authenticator app instead of a sheet.
    #[arg(long, conflicts_with_all = ["count", "entropy", "html"])]
    pub totp: bool,
    /// Scratch codes printed with a TOTP secret (each works once; at most 999).
    #[arg(long, default_value_t = 5, requires = "totp", value_parser = scratch_count)]
    pub scratch: usize,
    /// Where to write the printable HTML sheet (default: otp-USER.html here; `-` for none).
    /// It must not exist yet: an existing file or symlink there is refused.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Replace the user's existing secrets.
    #[arg(long)]
    pub force: bool,
    /// Read the secret prefix as one line from standard input (for scripts) instead of
    /// asking twice on the terminal. An empty line is refused unless --no-prefix.
    #[arg(long)]
    pub prefix_stdin: bool,
    /// Make a sheet without a secret prefix: whoever finds the sheet can log in. Needed for
    /// an empty prefix when standard input is not a terminal.
    #[arg(long, conflicts_with_all = ["prefix_stdin", "totp"])]
    pub no_prefix: bool,
}

/// Parses `--scratch`: at most [`rampart_otp::MAX_COUNT`] codes, the most entries a
/// secret file may hold and so the most pam_rampart_otp.so reads (a bigger file would lock
/// the user out).
fn scratch_count(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of scratch codes"))?;
    let max = rampart_otp::MAX_COUNT;
    if n > max {
        return Err(format!(
            "at most {max} scratch codes: a secret file holds, and pam_rampart_otp.so reads, \
             at most {max} entries"
        ));
    }
    Ok(n)
}

/// Runs `rampart otp`.
pub fn run(args: OtpArgs) -> Result<ExitCode> {
    let store = Store::new(&args.statedir);
    match args.command {
        OtpCommand::Init(init) => run_init(&store, init),
        OtpCommand::Status { user, json } => run_status(&store, &user, json),
        OtpCommand::Unlock { user } => {
            let lock = store
                .lock_existing(&user)
                .with_context(|| format!("cannot lock the secrets of {user}"))?;
            let loaded = match &lock {
                Some(lock) => store.load(lock)?,
                None => None,
            };
            let (Some(lock), Some(mut secrets)) = (lock, loaded) else {
                bail!(
                    "{user} has no one-time passwords in {}",
                    store.dir().display()
                );
            };
            if secrets.unlock() {
                store.save(&lock, &secrets)?;
                println!("{user}: back-off lifted, no password held");
            } else {
                println!("{user}: not throttled, no password held");
            }
            Ok(ExitCode::SUCCESS)
        }
        OtpCommand::Revoke { user } => {
            let lock = store
                .lock_existing(&user)
                .with_context(|| format!("cannot lock the secrets of {user}"))?;
            let removed = match lock {
                Some(lock) => store.remove(lock)?,
                None => false,
            };
            if !removed {
                bail!(
                    "{user} has no one-time passwords in {}",
                    store.dir().display()
                );
            }
            println!("{user}: one-time passwords revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The secret prefix: `--no-prefix`, one line of standard input (`--prefix-stdin`, or
/// standard input not a terminal), or typed twice on the terminal. Read before the user's
/// lock is taken: logins of the user are not blocked while someone types.
fn read_prefix(args: &InitArgs) -> Result<String> {
    if args.no_prefix {
        return Ok(String::new());
    }
    if args.prefix_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the prefix from standard input")?;
        let prefix = line.trim_end_matches(['\n', '\r']).to_string();
        if prefix.is_empty() {
            // A script that forgot to send the prefix (or sent nothing) must not get a
            // sheet that works on its own.
            bail!(
                "no prefix on standard input (an empty line or none); nothing was changed. \
                 Send the prefix as one line, or pass --no-prefix for a sheet without one \
                 (whoever finds it can log in)"
            );
        }
        return Ok(prefix);
    }
    let a = rpassword::prompt_password(
        "Secret prefix (typed before every one-time password; not printed on the sheet): ",
    )
    .context("reading the prefix from the terminal")?;
    let b = rpassword::prompt_password("Secret prefix again: ")
        .context("reading the prefix from the terminal")?;
    if a != b {
        bail!("the two prefixes differ; nothing was changed");
    }
    if a.is_empty() {
        eprintln!(
            "warning: empty prefix: whoever finds the sheet can log in; a prefix makes the \
             sheet useless on its own"
        );
    }
    Ok(a)
}

/// Refuses to replace `user`'s secrets without `--force`. Run once before any input is read
/// (so a refusal costs the user nothing) and again under the lock (someone may have
/// enrolled the user meanwhile).
fn check_replace(store: &Store, lock: &rampart_otp::Locked, args: &InitArgs) -> Result<()> {
    if let Some(old) = store.load(lock)? {
        if !args.force {
            bail!(
                "{} already has one-time passwords ({} left); add --force to replace them",
                args.user,
                old.remaining()
            );
        }
    }
    Ok(())
}

fn run_init(store: &Store, args: InitArgs) -> Result<ExitCode> {
    store.create().with_context(|| {
        format!(
            "cannot use the state directory {} (run as root?)",
            store.dir().display()
        )
    })?;
    // Early refusal, with the lock held only for the check: the lock is taken again below,
    // after the prefix is read and the passwords hashed, so that logins of the user never
    // wait for someone typing (or for a script that never sends its line).
    let early = store
        .lock_existing(&args.user)
        .with_context(|| format!("cannot lock the secrets of {}", args.user))?;
    if let Some(lock) = early {
        check_replace(store, &lock, &args)?;
    }
    let lock_and_check = || -> Result<rampart_otp::Locked> {
        let lock = store
            .lock(&args.user)
            .with_context(|| format!("cannot lock the secrets of {}", args.user))?;
        check_replace(store, &lock, &args)?;
        Ok(lock)
    };
    let mut rng = OsEntropy;
    let host = hostname();
    let mut out = std::io::stdout().lock();
    if args.totp {
        let mut key = [0u8; totp::KEY_LEN];
        rng.fill(&mut key);
        let codes = scratch_codes(&mut rng, args.scratch);
        let secrets = Secrets::from_totp(&args.user, &key, &codes, KdfParams::DEFAULT, &mut rng)?;
        store.save(&lock_and_check()?, &secrets)?;
        let uri = totp::uri(&key, "rampart", &format!("{}@{host}", args.user), 6, 30);
        let qr = qrcode::QrCode::new(uri.as_bytes()).context("building the QR code")?;
        let art = qr
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        writeln!(
            out,
            "TOTP for {}@{host}: scan with an authenticator app\n",
            args.user
        )?;
        writeln!(out, "{art}\n")?;
        writeln!(out, "URI: {uri}")?;
        writeln!(
            out,
            "Key (type it in if the app cannot scan): {}",
            totp::key_base32(&key)
        )?;
        writeln!(
            out,
            "\nScratch codes (each works once; keep them apart from the phone):"
        )?;
        for c in &codes {
            writeln!(out, "  {c}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sheet = Sheet::generate(&mut rng, args.count, args.entropy)?;
    let html_path = args
        .html
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("otp-{}.html", args.user)));
    // Created before the prefix is asked and the passwords hashed, so a refused path costs
    // the user nothing; removed again if anything below fails.
    let mut html = if html_path.as_os_str() == "-" {
        None
    } else {
        Some(NewFile::create(html_path)?)
    };
    let prefix = read_prefix(&args)?;
    eprintln!("hashing {} passwords (Argon2id)...", sheet.len());
    let secrets = Secrets::from_sheet(&args.user, &sheet, &prefix, KdfParams::DEFAULT, &mut rng)?;
    if let Some(h) = &mut html {
        h.file
            .write_all(sheet.to_html(&args.user, &host).as_bytes())
            .and_then(|()| h.file.sync_all())
            .with_context(|| format!("cannot write {}", h.path.display()))?;
    }
    store.save(&lock_and_check()?, &secrets)?;
    write!(out, "{}", sheet.to_text(&args.user, &host, 4))?;
    if let Some(h) = html {
        let path = h.keep();
        eprintln!(
            "printable page written to {} (print it, then delete it: shred -u {0})",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A file this run created (the printable sheet), removed on drop unless kept.
struct NewFile {
    path: PathBuf,
    file: std::fs::File,
    keep: bool,
}

impl NewFile {
    /// Creates `path` for writing, mode 0600, only if nothing is there: `O_CREAT|O_EXCL`
    /// with `O_NOFOLLOW`, so root never writes through a symlink planted in the current
    /// directory, nor into (or truncates) a file someone else made and may still read.
    fn create(path: PathBuf) -> Result<NewFile> {
        // Absolute, so the message says where the page is wherever the user runs from.
        let path = std::path::absolute(&path).unwrap_or(path);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path);
        match file {
            Ok(file) => Ok(NewFile {
                path,
                file,
                keep: false,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let what = match std::fs::symlink_metadata(&path) {
                    Ok(md) if md.file_type().is_symlink() => " (a symbolic link)",
                    _ => "",
                };
                bail!(
                    "{} already exists{what}; nothing was changed. Remove it, or choose \
                     another path with --html FILE (--html - for no page)",
                    path.display()
                )
            }
            Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }

    /// Keeps the file; its path.
    fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn run_status(store: &Store, user: &str, json: bool) -> Result<ExitCode> {
    if let Err(e) = std::fs::symlink_metadata(store.dir()) {
        if e.kind() == std::io::ErrorKind::NotFound {
            bail!(
                "{user} is not enrolled: no OTP state directory at {} (rampart otp init \
                 {user} creates it)",
                store.dir().display()
            );
        }
    }
    let lock = store
        .lock_existing(user)
        .with_context(|| format!("cannot lock the secrets of {user}"))?;
    let secrets = match &lock {
        Some(lock) => store.load(lock)?,
        None => None,
    };
    let Some(s) = secrets else {
        bail!(
            "{user} has no one-time passwords in {}; create them with: rampart otp init {user}",
            store.dir().display()
        );
    };
    drop(lock);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let kind = match s.kind {
        Kind::Sheet { .. } => "sheet",
        Kind::Totp { .. } => "totp",
        _ => "other",
    };
    let remaining = s.remaining();
    let low = kind == "sheet" && remaining <= LOW_WATER;
    let held = s.held.filter(|h| h.until > now);
    if json {
        let v = serde_json::json!({
            "user": user,
            "kind": kind,
            "total": s.entries.len(),
            "remaining": remaining,
            "low": low,
            "held": held.map(|h| serde_json::json!({"number": h.number, "until": h.until})),
            "failures": s.throttle.failures,
            "last_failure": (s.throttle.failures > 0).then_some(s.throttle.last),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let what = if kind == "sheet" {
            "passwords"
        } else {
            "scratch codes"
        };
        println!(
            "{user}: {kind}, {remaining} of {} {what} left",
            s.entries.len()
        );
        if let Some(h) = held {
            println!(
                "login in progress: holds password {:03} for {} more seconds",
                h.number,
                h.until - now
            );
        }
        if s.throttle.failures > 0 {
            println!(
                "{} failed logins since the last success",
                s.throttle.failures
            );
        }
        if low {
            eprintln!(
                "warning: only {remaining} passwords left; print a new sheet with: rampart otp init {user} --force"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
