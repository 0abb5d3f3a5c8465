//! A visit counter with log in and log out: actix-web and the memory store.
//!
//! ```sh
//! cargo run -p session-actix --example actix_counter
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

use actix_web::error::{ErrorBadRequest, ErrorInternalServerError};
use actix_web::{App, HttpServer, get, post, web};
use serde::Deserialize;
use session_actix::{Session, SessionMiddleware};
use session_core::{KeyRing, SessionError, SessionId, SessionManager};
use session_store_memory::MemoryStore;

/// `GET /`: counts this browser's visits and says who is logged in.
#[get("/")]
async fn counter(session: Session) -> actix_web::Result<String> {
    let visits = session
        .get::<u64>("visits")
        .map_err(ErrorInternalServerError)?;
    let visits = visits.unwrap_or(0) + 1;
    session
        .insert("visits", visits)
        .map_err(ErrorInternalServerError)?;
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
#[post("/login")]
async fn login(session: Session, login: web::Query<Login>) -> actix_web::Result<String> {
    session.cycle_id();
    session.set_user(&login.user).map_err(|e| match e {
        SessionError::InvalidUser(_) => ErrorBadRequest(e),
        _ => ErrorInternalServerError(e),
    })?;
    session
        .insert("username", &login.user)
        .map_err(ErrorInternalServerError)?;
    Ok(format!("logged in as {}\n", login.user))
}

/// `POST /logout`: ends the session on the server and drops the cookie.
#[post("/logout")]
async fn logout(session: Session) -> &'static str {
    session.flush();
    "logged out\n"
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("SESSION_SECRET")
        .unwrap_or_else(|_| SessionId::generate().expose().to_owned());
    let manager = SessionManager::new(MemoryStore::new(), KeyRing::new(secret)?);
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(manager.clone()))
            .service(counter)
            .service(login)
            .service(logout)
    })
    .bind(&addr)?;
    for bound in server.addrs() {
        println!("listening on http://{bound}");
    }
    server.run().await?;
    Ok(())
}
