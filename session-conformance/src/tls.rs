//! TLS servers for tests, with certificates generated on the spot: a CA,
//! and a server certificate for `127.0.0.1` and `localhost` signed by it.
//! Each server stops (and its files go) when dropped.
//!
//! ```no_run
//! let certs = session_conformance::tls::Certificates::generate();
//! let redis = session_conformance::tls::TlsRedis::start(&certs).unwrap();
//! let url = format!("rediss://127.0.0.1:{}", redis.port);
//! // Trust certs.ca to connect; without it the server must be refused.
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::services;

/// A CA, and a server certificate and key for 127.0.0.1 and localhost
/// that it signed (PEM).
pub struct Certificates {
    /// The CA's certificate: what a client must trust.
    pub ca: String,
    /// The server's certificate.
    pub server: String,
    /// The server's private key.
    pub server_key: String,
}

impl Certificates {
    /// A fresh CA and server certificate.
    ///
    /// ```
    /// let certs = session_conformance::tls::Certificates::generate();
    /// assert!(certs.ca.starts_with("-----BEGIN CERTIFICATE-----"));
    /// assert_ne!(certs.ca, session_conformance::tls::Certificates::generate().ca);
    /// ```
    pub fn generate() -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let server = params.signed_by(&key, &ca, &ca_key).unwrap();
        Certificates {
            ca: ca.pem(),
            server: server.pem(),
            server_key: key.serialize_pem(),
        }
    }
}

/// A `redis-server` with only a TLS port.
pub struct TlsRedis {
    child: Child,
    /// Its TLS port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TlsRedis {
    /// Starts one with `certs`.
    ///
    /// # Errors
    ///
    /// When `redis-server` (built with TLS) cannot be started.
    pub fn start(certs: &Certificates) -> Result<TlsRedis, String> {
        let dir = std::env::temp_dir().join(services::unique_name("redis-tls"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for (name, pem) in [
            ("ca.pem", &certs.ca),
            ("server.pem", &certs.server),
            ("server.key", &certs.server_key),
        ] {
            std::fs::write(dir.join(name), pem).map_err(|e| e.to_string())?;
        }
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--tls-cert-file")
            .arg(dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        let server = TlsRedis { child, port, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("redis-server did not listen on TLS port {port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

/// PostgreSQL's own programs (initdb, pg_ctl): Debian keeps them out of
/// the PATH.
fn pg_bin(name: &str) -> Option<PathBuf> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|v| v.path().join("bin").join(name))
        .find(|p| p.exists());
    debian.or_else(|| {
        Command::new(name)
            .arg("--version")
            .output()
            .ok()
            .map(|_| PathBuf::from(name))
    })
}

/// Runs a PostgreSQL program as the `postgres` user when this is root
/// (which PostgreSQL refuses to run as).
fn pg(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A PostgreSQL of its own (`initdb`, `pg_ctl`; as the `postgres` user
/// when this is root) with `ssl = on`, trust authentication for
/// `postgres`, and only a TCP port on 127.0.0.1.
pub struct TlsPostgres {
    /// Its folder (data directory and files a test may write).
    pub dir: PathBuf,
    pg_ctl: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = pg(&self.pg_ctl)
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TlsPostgres {
    /// Starts one with `certs`.
    ///
    /// # Errors
    ///
    /// When PostgreSQL's programs are missing or the server does not start.
    pub fn start(certs: &Certificates) -> Result<TlsPostgres, String> {
        let initdb = pg_bin("initdb").ok_or("no initdb")?;
        let pg_ctl = pg_bin("pg_ctl").ok_or("no pg_ctl")?;
        let dir = std::env::temp_dir().join(services::unique_name("pg-tls"));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // The server runs as `postgres` when this is root: let it in.
        let _ = Command::new("chown").arg("postgres").arg(&dir).output();
        let init = pg(&initdb)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !init.status.success() {
            return Err(format!("initdb: {}", String::from_utf8_lossy(&init.stderr)));
        }
        for (name, pem) in [
            ("server.crt", &certs.server),
            ("server.key", &certs.server_key),
        ] {
            let path = data.join(name);
            std::fs::write(&path, pem).map_err(|e| e.to_string())?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
            let _ = Command::new("chown").arg("postgres").arg(&path).output();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
         -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c fsync=off",
            data.display()
        );
        let server = TlsPostgres { dir, pg_ctl, port };
        let started = pg(&server.pg_ctl)
            .args(["start", "-w", "-t", "30", "-l"])
            .arg(data.join("log"))
            .args(["-D"])
            .arg(&data)
            .args(["-o", &options])
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !started.status.success() {
            let log = std::fs::read_to_string(data.join("log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl start: {}{log}",
                String::from_utf8_lossy(&started.stderr)
            ));
        }
        Ok(server)
    }
}
