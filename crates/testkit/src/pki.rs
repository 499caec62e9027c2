//! [`Pki`]: a test CA and one server certificate signed by it, made with the `openssl`
//! command (TLS tests of the SMTP notices and of the fleet's PostgreSQL).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a server certificate for the names and addresses given, signed by it.
pub struct Pki {
    /// The CA certificate (PEM): what a client trusts.
    pub ca: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("timeout")
        .arg("60")
        .arg("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A CA `NAME-ca.pem` and a certificate `NAME.pem` (key `NAME.key`) in `dir` for
    /// `localhost` and 127.0.0.1.
    pub fn new(dir: &Path, name: &str) -> Pki {
        Pki::for_names(dir, name, &["DNS:localhost", "IP:127.0.0.1"])
    }

    /// The same for the subject alternative names `sans` (`DNS:db.example`,
    /// `IP:203.0.113.5`); the first one's value is the common name.
    pub fn for_names(dir: &Path, name: &str, sans: &[&str]) -> Pki {
        let (ca, cakey) = (format!("{name}-ca.pem"), format!("{name}-ca.key"));
        let (cert, key, csr) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("{name}.csr"),
        );
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        let subject = format!("/CN=rampart test CA {name}");
        args.extend([
            "-keyout", &cakey, "-out", &ca, "-days", "2", "-subj", &subject,
        ]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(dir, &args);
        let cn = sans
            .first()
            .and_then(|s| s.split_once(':'))
            .map_or("localhost", |(_, v)| v);
        let subject = format!("/CN={cn}");
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(dir, &args);
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        let ext = format!("{name}.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &cakey,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        Pki {
            ca: dir.join(ca),
            cert: dir.join(cert),
            key: dir.join(key),
        }
    }
}
