//! The demo application: Django's "working with user data" tutorial as one
//! program, served by axum, actix-web or rocket over any session store.
//!
//! Every route is written once in [`app`]; each framework module is a thin
//! translation, which is also how the HTTP behaviour suite of
//! `session-conformance` checks that the three adapters behave alike.
//!
//! ```no_run
//! use session_demo::{Framework, spawn};
//! use sessions::{KeyRing, MemoryStore, SessionManager};
//!
//! let server = spawn(Framework::Axum, "127.0.0.1:0".parse().unwrap(), || async {
//!     Ok(SessionManager::new(MemoryStore::new(), KeyRing::new([1u8; 32]).map_err(|e| e.to_string())?))
//! })
//! .unwrap();
//! println!("serving on http://{}", server.addr());
//! server.wait();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod page;
mod server_actix;
mod server_axum;
mod server_rocket;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;

use sessions::SessionManager;

/// The web framework serving the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Framework {
    /// axum 0.8.
    Axum,
    /// actix-web 4.
    Actix,
    /// Rocket 0.5.
    Rocket,
}

/// How to stop a running server.
enum Stopper {
    Axum(tokio::sync::oneshot::Sender<()>),
    Actix(actix_web::dev::ServerHandle),
    Rocket(rocket::Shutdown),
}

/// A demo server running on a thread of its own.
pub struct Server {
    addr: SocketAddr,
    stopper: Option<Stopper>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server stops.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal_stop(&mut self) {
        match self.stopper.take() {
            Some(Stopper::Axum(tx)) => {
                let _ = tx.send(());
            }
            Some(Stopper::Actix(handle)) => {
                // Stopping is async; the server thread finishes it.
                drop(handle.stop(true));
            }
            Some(Stopper::Rocket(shutdown)) => shutdown.notify(),
            None => {}
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Starts the demo on `addr` (port 0 picks a free one) with `framework`, on
/// a thread with its own async runtime. `make_manager` runs on that runtime,
/// so the store's connections belong to it.
///
/// # Errors
///
/// When the address cannot be bound or `make_manager` fails.
pub fn spawn<F, Fut>(
    framework: Framework,
    addr: SocketAddr,
    make_manager: F,
) -> Result<Server, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<SessionManager, String>>,
{
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Stopper, String>>();
    let thread = std::thread::Builder::new()
        .name(format!("demo-{framework:?}").to_lowercase())
        .spawn(move || {
            let fail = |tx: &mpsc::Sender<Result<Stopper, String>>, e: String| {
                let _ = tx.send(Err(e));
            };
            match framework {
                Framework::Axum => server_axum::run(listener, make_manager, ready_tx, fail),
                Framework::Actix => server_actix::run(listener, make_manager, ready_tx, fail),
                Framework::Rocket => server_rocket::run(listener, make_manager, ready_tx, fail),
            }
        })
        .map_err(|e| e.to_string())?;
    let stopper = ready_rx
        .recv()
        .map_err(|_| "the server thread ended before it was ready".to_owned())??;
    wait_until_listening(addr)?;
    Ok(Server {
        addr,
        stopper: Some(stopper),
        thread: Some(thread),
    })
}

/// Rocket binds its own socket: wait until something answers.
fn wait_until_listening(addr: SocketAddr) -> Result<(), String> {
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Err(format!("the server did not start listening on {addr}"))
}

/// A multi-threaded Tokio runtime for a server thread.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

type Ready = mpsc::Sender<Result<Stopper, String>>;
type Fail = fn(&Ready, String);
