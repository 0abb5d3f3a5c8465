//! A visit counter with log in and log out: Rocket and the memory store.
//!
//! ```sh
//! cargo run -p session-rocket --example rocket_counter
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

use std::net::SocketAddr;

use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::{get, post, routes};
use session_core::{KeyRing, SessionId, SessionManager};
use session_rocket::{Session, SessionFairing};
use session_store_memory::MemoryStore;

/// `GET /`: counts this browser's visits and says who is logged in.
#[get("/")]
fn counter(session: Session) -> Result<String, (Status, String)> {
    let failed = |e: session_core::SessionError| (Status::InternalServerError, e.to_string());
    let visits = session.get::<u64>("visits").map_err(failed)?;
    let visits = visits.unwrap_or(0) + 1;
    session.insert("visits", visits).map_err(failed)?;
    let who = match session.get::<String>("username").ok().flatten() {
        Some(name) => format!("logged in as {name}"),
        None => "not logged in".to_owned(),
    };
    Ok(format!("visit number {visits} ({who})\n"))
}

/// `POST /login?user=NAME`: a new session ID (so that an ID planted before
/// login is worthless), bound to the user.
#[post("/login?<user>")]
fn login(session: Session, user: &str) -> Result<String, (Status, String)> {
    let failed = |e: session_core::SessionError| match e {
        session_core::SessionError::InvalidUser(_) => (Status::BadRequest, e.to_string()),
        _ => (Status::InternalServerError, e.to_string()),
    };
    session.cycle_id();
    session.set_user(user).map_err(failed)?;
    session.insert("username", user).map_err(failed)?;
    Ok(format!("logged in as {user}\n"))
}

/// `POST /logout`: ends the session on the server and drops the cookie.
#[post("/logout")]
fn logout(session: Session) -> &'static str {
    session.flush();
    "logged out\n"
}

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("SESSION_SECRET")
        .unwrap_or_else(|_| SessionId::generate().expose().to_owned());
    let manager = SessionManager::new(MemoryStore::new(), KeyRing::new(secret)?);
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let config = rocket::Config {
        address: addr.ip(),
        port: addr.port(),
        // Rocket's own launch banner would bury the one line this prints.
        log_level: rocket::config::LogLevel::Critical,
        ..rocket::Config::default()
    };
    rocket::custom(config)
        .attach(SessionFairing::new(manager))
        .attach(AdHoc::on_liftoff("address", |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                println!("listening on http://{}:{}", config.address, config.port);
            })
        }))
        .mount("/", routes![counter, login, logout])
        .launch()
        .await?;
    Ok(())
}
