//! A TCP proxy on loopback that a test can cut and restore, or stall and
//! resume, to see what a store does when its engine goes away in the middle
//! of traffic (connections refused or dropped, or left open with nothing
//! answering, as in a network partition or a frozen server) and comes back,
//! without stopping the real server other tests are using.
//!
//! ```
//! # session_conformance::block_on(async {
//! use session_conformance::proxy::TcpProxy;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // An echo server to stand in for an engine.
//! let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let target = server.local_addr().unwrap();
//! tokio::spawn(async move {
//!     loop {
//!         let (mut s, _) = server.accept().await.unwrap();
//!         tokio::spawn(async move {
//!             let mut buf = [0u8; 4];
//!             while let Ok(n @ 1..) = s.read(&mut buf).await {
//!                 let _ = s.write_all(&buf[..n]).await;
//!             }
//!         });
//!     }
//! });
//!
//! let proxy = TcpProxy::start(target).await.unwrap();
//! let mut c = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
//! c.write_all(b"ping").await.unwrap();
//! let mut buf = [0u8; 4];
//! c.read_exact(&mut buf).await.unwrap();
//! assert_eq!(&buf, b"ping");
//!
//! proxy.cut().await;
//! assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_err());
//! proxy.restore().await.unwrap();
//! assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_ok());
//! # });
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// A cuttable TCP proxy; see the [module docs](self). Dropping it cuts it.
///
/// ```
/// # session_conformance::block_on(async {
/// use session_conformance::proxy::TcpProxy;
/// let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let proxy = TcpProxy::start(engine.local_addr().unwrap()).await.unwrap();
/// // Point the store at the proxy instead of the engine:
/// let url = format!("redis://{}", proxy.addr());
/// # let _ = url;
/// # });
/// ```
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    /// `true` while bytes flow; `false` while stalled.
    flowing: watch::Sender<bool>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::proxy::TcpProxy;
    /// let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let proxy = TcpProxy::start(engine.local_addr().unwrap()).await.unwrap();
    /// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_ok());
    /// # });
    /// ```
    pub async fn start(target: SocketAddr) -> io::Result<TcpProxy> {
        let tasks = Arc::default();
        let flowing = watch::Sender::new(true);
        let addr = listen(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            target,
            Arc::clone(&tasks),
            flowing.subscribe(),
        )?;
        Ok(TcpProxy {
            addr,
            target,
            tasks,
            flowing,
        })
    }

    /// The address clients should connect to.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::proxy::TcpProxy;
    /// let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let proxy = TcpProxy::start(engine.local_addr().unwrap()).await.unwrap();
    /// assert!(proxy.addr().ip().is_loopback());
    /// # });
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and stops listening, as if the engine
    /// had gone away; returns once the port refuses connections.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::proxy::TcpProxy;
    /// let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let proxy = TcpProxy::start(engine.local_addr().unwrap()).await.unwrap();
    /// proxy.cut().await;
    /// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_err());
    /// # });
    /// ```
    pub async fn cut(&self) {
        self.abort_all();
        for _ in 0..200 {
            if TcpStream::connect(self.addr).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    fn abort_all(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Listens again on the same port after [`cut`](Self::cut).
    ///
    /// # Errors
    ///
    /// When the port cannot be bound again.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::proxy::TcpProxy;
    /// let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let proxy = TcpProxy::start(engine.local_addr().unwrap()).await.unwrap();
    /// proxy.cut().await;
    /// proxy.restore().await.unwrap();
    /// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_ok());
    /// # });
    /// ```
    pub async fn restore(&self) -> io::Result<()> {
        listen(
            self.addr,
            self.target,
            Arc::clone(&self.tasks),
            self.flowing.subscribe(),
        )
        .map(|_| ())
    }

    /// Stops forwarding bytes in either direction while keeping every
    /// connection open and accepting new ones, as a network partition or a
    /// frozen server would: requests are sent, and no answer comes.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::proxy::TcpProxy;
    /// use std::time::Duration;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let target = server.local_addr().unwrap();
    /// # tokio::spawn(async move {
    /// #     let (mut s, _) = server.accept().await.unwrap();
    /// #     let mut buf = [0u8; 4];
    /// #     while let Ok(n @ 1..) = s.read(&mut buf).await {
    /// #         let _ = s.write_all(&buf[..n]).await;
    /// #     }
    /// # });
    /// // `target` is an echo server.
    /// let proxy = TcpProxy::start(target).await.unwrap();
    /// let mut c = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    /// proxy.stall();
    /// c.write_all(b"ping").await.unwrap();
    /// let mut buf = [0u8; 4];
    /// let waited = tokio::time::timeout(Duration::from_millis(200), c.read_exact(&mut buf)).await;
    /// assert!(waited.is_err(), "no answer while stalled");
    /// proxy.resume();
    /// c.read_exact(&mut buf).await.unwrap();
    /// assert_eq!(&buf, b"ping");
    /// # });
    /// ```
    pub fn stall(&self) {
        self.flowing.send_replace(false);
    }

    /// Forwards again after [`stall`](Self::stall), the bytes held meanwhile first.
    ///
    /// ```
    /// # session_conformance::block_on(async {
    /// use session_conformance::proxy::TcpProxy;
    /// let engine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let proxy = TcpProxy::start(engine.local_addr().unwrap()).await.unwrap();
    /// proxy.stall();
    /// proxy.resume();
    /// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_ok());
    /// # });
    /// ```
    pub fn resume(&self) {
        self.flowing.send_replace(true);
    }
}

/// Accepts on `addr` and forwards to `target` while `flowing` says so;
/// every task joins `tasks`.
fn listen(
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    flowing: watch::Receiver<bool>,
) -> io::Result<SocketAddr> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(128)?;
    let bound = listener.local_addr()?;
    let conns = Arc::clone(&tasks);
    let accept = tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let flowing = flowing.clone();
            let conn = tokio::spawn(async move {
                if let Ok(outbound) = TcpStream::connect(target).await {
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(
                        pump(in_read, out_write, flowing.clone()),
                        pump(out_read, in_write, flowing),
                    );
                }
            });
            conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn.abort_handle());
        }
    });
    tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(accept.abort_handle());
    Ok(bound)
}

/// Copies `from` to `to`, holding what it read while `flowing` is false.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if flowing.wait_for(|flowing| *flowing).await.is_err()
            || to.write_all(&buf[..n]).await.is_err()
        {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// The address of the engine a URL names (`scheme://[user@]host:port/…`),
/// for a [`TcpProxy`] to forward to.
///
/// ```
/// # session_conformance::block_on(async {
/// let addr = session_conformance::proxy::engine_addr("redis://127.0.0.1:6379/0").await.unwrap();
/// assert_eq!(addr.port(), 6379);
/// let addr = session_conformance::proxy::engine_addr("postgres://app:pw@127.0.0.1:5432/db").await.unwrap();
/// assert_eq!(addr.port(), 5432);
/// # });
/// ```
///
/// # Errors
///
/// When the URL has no `scheme://host:port` or the host does not resolve.
pub async fn engine_addr(url: &str) -> io::Result<SocketAddr> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "a URL of scheme://host:port");
    let (_, rest) = url.split_once("://").ok_or_else(invalid)?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?']).next().ok_or_else(invalid)?;
    tokio::net::lookup_host(host)
        .await?
        .next()
        .ok_or_else(invalid)
}
