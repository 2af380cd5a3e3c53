//! A TLS-only `redis-server` with a CA and a server certificate generated for the test by the
//! `openssl` command line tool (Debian package `openssl`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A CA and a server certificate for 127.0.0.1, made once per test binary.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// The path of `name` (`ca.crt`, `server.crt`, `server.key`) in the certificates' directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the `openssl` command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The certificates of this test binary, made on first use.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let days = ["-days", "2"];
        openssl(d, &["genrsa", "-out", "ca.key", "2048"]);
        let mut ca = vec!["req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt"];
        ca.extend(days);
        ca.extend(["-subj", "/CN=kvstore test CA"]);
        openssl(d, &ca);
        openssl(d, &["genrsa", "-out", "server.key", "2048"]);
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let mut sign = vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "ext.cnf",
        ];
        sign.extend(days);
        openssl(d, &sign);
        Certs { dir }
    })
}

/// A `redis-server` that speaks only TLS, on a free loopback port; killed on drop (its log is
/// printed if the test is failing).
pub struct TlsServer {
    child: Child,
    /// The TLS port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TlsServer {
    /// Starts a TLS-only server on a free loopback port.
    pub fn start() -> TlsServer {
        let certs = certs();
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new("redis-server")
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--tls-cert-file")
                .arg(certs.path("server.crt"))
                .arg("--tls-key-file")
                .arg(certs.path("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(certs.path("ca.crt"))
                .args(["--tls-auth-clients", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(["--logfile", "redis.log"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH (Debian package redis-server)");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return TlsServer { child, port, dir };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken in between: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a TLS redis-server");
    }

    /// Its `rediss://` URL.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
            eprintln!("--- TLS redis-server log (port {}) ---\n{log}", self.port);
        }
    }
}
