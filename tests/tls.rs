//! `rediss://`: a smoke subset of the conformance suite against a real TLS `redis-server`, with a
//! CA and a server certificate generated for the test (by the `openssl` command line tool), and
//! a client that must verify the server against that CA.

#[allow(unused_imports)]
#[macro_use]
mod conformance;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use kvstore::{BackendErrorKind, Error, RedisBackend};

/// A CA and a server certificate for 127.0.0.1, made once per test binary.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn path(&self, name: &str) -> PathBuf {
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

fn certs() -> &'static Certs {
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
struct TlsServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
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

    fn url(&self) -> String {
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

static SERVER: Mutex<Weak<TlsServer>> = Mutex::new(Weak::new());

fn server() -> Arc<TlsServer> {
    conformance::shared(&SERVER, TlsServer::start)
}

async fn env(test_name: &'static str) -> conformance::Env {
    let server = server();
    let ca = std::fs::read(certs().path("ca.crt")).unwrap();
    let backend = RedisBackend::builder(&server.url())
        .tls_root_cert(ca)
        .build()
        .await
        .expect("connect over TLS");
    conformance::Env::new(backend, test_name).keep_alive(server)
}

conformance_tests!(@rules env;
    item_get_set_remove_exists,
    item_modify,
    item_ttl_expire_persist,
    counter_basics,
    set_basics,
    key_layout,
    dynamic_get_many,
    dynamic_set_many,
    dynamic_entries,
    validation_on_read,
);

/// Without the test CA, the server's certificate is refused: a typed error, no connection.
#[tokio::test]
async fn an_untrusted_server_is_refused() {
    let server = server();
    let started = Instant::now();
    let err = RedisBackend::builder(&server.url())
        .connect_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect_err("a self-signed CA must not be trusted by default");
    assert!(
        matches!(&err, Error::Backend(e) if matches!(e.kind(), BackendErrorKind::Connection | BackendErrorKind::Other)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
}

/// A plain `redis://` client cannot talk to the TLS port.
#[tokio::test]
async fn plain_text_to_a_tls_port_fails_fast() {
    let server = server();
    let started = Instant::now();
    let url = format!("redis://127.0.0.1:{}/", server.port);
    let result = RedisBackend::builder(&url)
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
        .build()
        .await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}
