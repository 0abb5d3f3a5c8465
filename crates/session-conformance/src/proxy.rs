//! A TCP proxy on loopback that a test can cut and restore, to see what a
//! store does when its engine goes away in the middle of traffic and comes
//! back, without stopping the real server other tests are using.
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

use tokio::net::{TcpSocket, TcpStream};
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
        let addr = listen(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            target,
            Arc::clone(&tasks),
        )?;
        Ok(TcpProxy {
            addr,
            target,
            tasks,
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
        listen(self.addr, self.target, Arc::clone(&self.tasks)).map(|_| ())
    }
}

/// Accepts on `addr` and forwards to `target`; every task joins `tasks`.
fn listen(
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
) -> io::Result<SocketAddr> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(128)?;
    let bound = listener.local_addr()?;
    let conns = Arc::clone(&tasks);
    let accept = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let conn = tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
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

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.abort_all();
    }
}
