//! A `redis-server` of a benchmark's own, and what its `INFO` says.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// A `redis-server` of the benchmark's own on a free loopback port.
pub struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts one on a free port and waits until it listens.
    pub fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (it is on the machine for the store's tests)");
        // Stopped on drop, whether it comes up or not.
        let server = Server { child, port };
        for _ in 0..100 {
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
