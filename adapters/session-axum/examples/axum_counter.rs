//! A visit counter with log in and log out: axum and the memory store.
//!
//! ```sh
//! cargo run -p session-axum --example axum_counter
//! curl -c jar -b jar http://127.0.0.1:3000/                     # visit number 1 (not logged in)
//! curl -c jar -b jar -X POST 'http://127.0.0.1:3000/login?user=alice'
//! curl -c jar -b jar http://127.0.0.1:3000/                     # visit number 2 (logged in as alice)
//! curl -c jar -b jar -X POST http://127.0.0.1:3000/logout
//! ```
//!
//! `ADDR` sets the address (default `127.0.0.1:3000`), `SESSION_SECRET` the
//! signing secret (at least 32 bytes; without it a random one is made at
//! each start, which is fine here because the memory store forgets its
//! sessions on restart anyway).

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use session_axum::{Session, SessionLayer};
use session_core::{KeyRing, SessionError, SessionId, SessionManager};
use session_store_memory::MemoryStore;

/// A session error as a response: 400 for a user name the session refuses,
/// the error's own status (500, or 503 when the store is down) otherwise.
fn failed(e: SessionError) -> (StatusCode, String) {
    let status = match e {
        SessionError::InvalidUser(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    (status, format!("{e}\n"))
}

/// `GET /`: counts this browser's visits and says who is logged in.
async fn counter(session: Session) -> Result<String, (StatusCode, String)> {
    let visits = session.get::<u64>("visits").map_err(failed)?;
    let visits = visits.unwrap_or(0) + 1;
    session.insert("visits", visits).map_err(failed)?;
    let who = match session.get::<String>("username").ok().flatten() {
        Some(name) => format!("logged in as {name}"),
        None => "not logged in".to_owned(),
    };
    Ok(format!("visit number {visits} ({who})\n"))
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// `POST /login?user=NAME`: a new session ID (so that an ID planted before
/// login is worthless), bound to the user.
async fn login(
    session: Session,
    Query(login): Query<Login>,
) -> Result<String, (StatusCode, String)> {
    session.cycle_id();
    session.set_user(&login.user).map_err(failed)?;
    session.insert("username", &login.user).map_err(failed)?;
    Ok(format!("logged in as {}\n", login.user))
}

/// `POST /logout`: ends the session on the server and drops the cookie.
async fn logout(session: Session) -> &'static str {
    session.flush();
    "logged out\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("SESSION_SECRET")
        .unwrap_or_else(|_| SessionId::generate().expose().to_owned());
    let manager = SessionManager::new(MemoryStore::new(), KeyRing::new(secret)?);
    let app = Router::new()
        .route("/", get(counter))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(manager));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
