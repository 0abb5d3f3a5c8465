//! A `redis-server` of a benchmark's own, and what its `INFO` says.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// A `redis-server` of the benchmark's own on a free loopback port.
///
/// With `REDIS_BENCH_CALLGRIND` set, it runs under valgrind's callgrind,
/// so that a benchmark can count the instructions Redis runs for a fixed
/// piece of work ([`Server::zero_instructions`], [`Server::instructions`]):
/// unlike Redis's own timings, the count does not move with the machine's
/// load.
pub struct Server {
    child: Child,
    port: u16,
    /// Where callgrind writes its counts, when the server runs under it.
    callgrind: Option<PathBuf>,
}

impl Server {
    /// Starts one on a free port and waits until it listens.
    pub fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let callgrind = std::env::var_os("REDIS_BENCH_CALLGRIND").map(|_| {
            let dir = std::env::temp_dir().join(session_conformance::services::unique_name(
                "redis-callgrind",
            ));
            std::fs::create_dir_all(&dir).expect("a directory for callgrind's counts");
            dir
        });
        let mut command = match &callgrind {
            Some(dir) => {
                let mut valgrind = Command::new("valgrind");
                valgrind
                    .arg("--tool=callgrind")
                    .arg(format!("--callgrind-out-file={}/redis.%p", dir.display()))
                    .arg("redis-server");
                valgrind
            }
            None => Command::new("redis-server"),
        };
        let child = command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (it is on the machine for the store's tests), and valgrind with REDIS_BENCH_CALLGRIND");
        // Stopped on drop, whether it comes up or not.
        let server = Server {
            child,
            port,
            callgrind,
        };
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {port}");
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Zeroes callgrind's count of the server's instructions (nothing when
    /// it does not run under callgrind).
    pub fn zero_instructions(&self) {
        if self.callgrind.is_some() {
            self.callgrind_control("--zero");
        }
    }

    /// The instructions the server has run since
    /// [`Server::zero_instructions`], all its threads together; `None`
    /// when it does not run under callgrind.
    pub fn instructions(&self) -> Option<f64> {
        let dir = self.callgrind.as_ref()?;
        self.callgrind_control("--dump");
        // Dumps are `redis.<pid>.<n>`, numbered in turn: the newest is the
        // highest (`redis.<pid>` itself stays empty until the end).
        let dumps = format!("redis.{}.", self.child.id());
        let newest = std::fs::read_dir(dir)
            .expect("callgrind's directory")
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let n: u32 = path
                    .file_name()?
                    .to_str()?
                    .strip_prefix(&dumps)?
                    .parse()
                    .ok()?;
                Some((n, path))
            })
            .max()
            .expect("a dump of callgrind's counts")
            .1;
        std::fs::read_to_string(newest)
            .expect("callgrind's dump")
            .lines()
            .filter_map(|l| l.strip_prefix("totals: "))
            .map(|n| n.trim().parse::<f64>().expect("a count"))
            .reduce(|a, b| a + b)
    }

    fn callgrind_control(&self, what: &str) {
        let done = Command::new("callgrind_control")
            .arg(what)
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .status()
            .expect("callgrind_control runs (it comes with valgrind)");
        assert!(done.success(), "callgrind_control {what} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.callgrind {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// One section of `INFO`, as key and value.
pub async fn info(c: &mut MultiplexedConnection, section: &str) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(c)
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// `used_memory`, in bytes.
pub async fn used_memory(c: &mut MultiplexedConnection) -> f64 {
    info(c, "memory").await["used_memory"].parse().unwrap()
}

/// Seconds of CPU the server has used.
pub async fn server_cpu(c: &mut MultiplexedConnection) -> f64 {
    let cpu = info(c, "cpu").await;
    cpu["used_cpu_user"].parse::<f64>().unwrap() + cpu["used_cpu_sys"].parse::<f64>().unwrap()
}

/// Seconds of CPU the server's main thread has used (user and system):
/// every command, and reading and writing the clients' sockets.
pub async fn main_thread_cpu(c: &mut MultiplexedConnection) -> f64 {
    let cpu = info(c, "cpu").await;
    cpu["used_cpu_user_main_thread"].parse::<f64>().unwrap()
        + cpu["used_cpu_sys_main_thread"].parse::<f64>().unwrap()
}

/// `(calls, microseconds)` of each command since the last `CONFIG RESETSTAT`.
pub async fn commandstats(c: &mut MultiplexedConnection) -> HashMap<String, (f64, f64)> {
    info(c, "commandstats")
        .await
        .into_iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("cmdstat_")?.to_owned();
            let field = |f: &str| -> Option<f64> {
                v.split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{f}=")))?
                    .parse()
                    .ok()
            };
            Some((name, (field("calls")?, field("usec")?)))
        })
        .collect()
}
