//! The demo's page at `/`, as a person meets it: who is logged in (and
//! only the form that fits), the visit counter, when the session expires
//! (with buttons to change it), the session's data, and the user's
//! sessions on other devices (with a button to end them). Every form
//! carries the session's CSRF token and posts to a route behind the
//! adapters' CSRF check. Styled inline: no external assets.

use serde::Deserialize;
use serde_json::Value;
use sessions::time::Duration;
use sessions::{Expiry, Session, SessionManager, StoreError};

use crate::app::{Login, Reply, login};

/// `POST /login` from the page: logs in; the caller redirects to `/`.
pub fn login_form(session: &Session, form: &Login) -> Result<(), Reply> {
    let reply = login(session, form);
    if reply.status != 200 {
        return Err(reply);
    }
    let _ = session.flash("notice", format!("Welcome, {}.", form.username));
    Ok(())
}

/// The form fields of `POST /expiry`.
#[derive(Debug, Deserialize, rocket::FromForm)]
pub struct ExpiryForm {
    /// `browser`, `hour` or `fortnight`.
    pub choice: String,
}

/// `POST /expiry` from the page: when the session expires; the caller
/// redirects to `/`.
pub fn expiry_form(session: &Session, form: &ExpiryForm) -> Result<(), Reply> {
    let expiry = match form.choice.as_str() {
        "browser" => Expiry::BrowserClose,
        "hour" => Expiry::AfterIdle(Duration::hours(1)),
        "fortnight" => Expiry::AfterIdle(Duration::days(14)),
        _ => {
            return Err(Reply::error(
                400,
                "choice must be browser, hour or fortnight",
            ));
        }
    };
    session.set_expiry(expiry);
    let _ = session.flash(
        "notice",
        format!("This session now expires {}.", expires(session)),
    );
    Ok(())
}

/// `POST /sessions/end-others` from the page: ends the user's sessions on
/// other devices; the caller redirects to `/`.
pub async fn end_others_form(manager: &SessionManager, session: &Session) -> Result<(), Reply> {
    let Some(user) = session.user() else {
        return Err(Reply::error(400, "not logged in"));
    };
    let ended = manager
        .end_sessions_of(&user, session.store_key().as_ref())
        .await
        .map_err(|e| crate::app::session_error(&e.into()))?;
    let plural = if ended == 1 { "" } else { "s" };
    let _ = session.flash("notice", format!("Ended {ended} other session{plural}."));
    Ok(())
}

/// When the session expires, in words: "in 14 days", "when you close the
/// browser".
pub fn expires(session: &Session) -> String {
    if session.expire_at_browser_close() {
        return "when you close the browser".to_owned();
    }
    in_words(session.expiry_age())
}

/// A span ahead, in words ("in 14 days", "in 1 hour", "in 5 minutes").
fn in_words(span: Duration) -> String {
    let (n, unit) = match span.whole_seconds() {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s.max(0), "second"),
    };
    let plural = if n == 1 { "" } else { "s" };
    format!("in {n} {unit}{plural}")
}

/// `GET /`: the page, counting the visit.
pub async fn page(manager: &SessionManager, session: &Session) -> String {
    let visits = session.get::<u64>("visits").ok().flatten().unwrap_or(0) + 1;
    // A number always serializes.
    let _ = session.insert("visits", visits);
    let notice = session
        .take_flash::<String>("notice")
        .ok()
        .flatten()
        .map(|n| format!(r#"<p class="notice">{}</p>"#, escape(&n)))
        .unwrap_or_default();
    // Written once the session is otherwise final, so every form carries it.
    let token = session.csrf_token().unwrap_or_default();
    let csrf = format!(r#"<input type="hidden" name="csrf_token" value="{token}">"#);
    let plural = if visits == 1 { "" } else { "s" };
    let account = match session.get::<String>("username").ok().flatten() {
        Some(name) => format!(
            r#"<p>Logged in as <strong>{}</strong>.</p>
<form method="post" action="/logout">{csrf}<button>Log out</button></form>"#,
            escape(&name)
        ),
        None => format!(
            r#"<p>Not logged in.</p>
<form method="post" action="/login" class="row">{csrf}
  <label>User ID <input name="user_id" type="number" value="123" required></label>
  <label>Name <input name="username" value="john_doe" required></label>
  <button>Log in</button>
</form>"#
        ),
    };
    let expiry = format!(
        r#"<p>This session expires <strong id="expiry">{}</strong>.</p>
<form method="post" action="/expiry" class="row">{csrf}
  <button name="choice" value="fortnight">Keep me for 14 days</button>
  <button name="choice" value="hour">For an hour</button>
  <button name="choice" value="browser">Until I close the browser</button>
</form>"#,
        expires(session)
    );
    let devices = match session.user() {
        Some(user) => devices(manager, session, &user, &csrf).await,
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sessions demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }}
.notice {{ background: #eef7ee; border: 1px solid #9c9; padding: .5rem .75rem; border-radius: .3rem; }}
.row {{ display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }}
input {{ padding: .3rem; }} button {{ padding: .35rem .8rem; cursor: pointer; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; }}
code {{ background: #f4f4f4; padding: 0 .2rem; }}
</style></head>
<body>
<h1>Working with user data</h1>
{notice}
<h2>You</h2>
{account}
<p>You have visited this page {visits} time{plural} in this session.</p>
<h2>Expiry</h2>
{expiry}
<h2>This session's data</h2>
{data}
{devices}
<p><small>The JSON API: <code>GET /api/session</code>, <code>PUT /api/session/{{key}}</code>, <code>POST /api/login</code>, <code>POST /api/logout</code>, <code>POST /api/expiry</code>, <code>GET /api/sessions</code>.</small></p>
</body></html>
"#,
        data = data_table(session),
    )
}

/// The session's keys and values.
fn data_table(session: &Session) -> String {
    let Value::Object(data) = session.to_json() else {
        return String::new();
    };
    let rows: String = data
        .iter()
        .map(|(k, v)| {
            format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                escape(k),
                escape(&v.to_string())
            )
        })
        .collect();
    format!(
        r#"<table id="data"><tr><th>key</th><th>value</th></tr>
{rows}</table>"#
    )
}

/// The user's sessions, this one marked, and the button that ends the others.
async fn devices(manager: &SessionManager, session: &Session, user: &str, csrf: &str) -> String {
    let list = match manager.sessions_of(user).await {
        Ok(list) => list,
        Err(StoreError::Unsupported(_)) => {
            return "<h2>Your devices</h2>\n<p>This store keeps no list of a user's sessions.</p>"
                .to_owned();
        }
        Err(_) => {
            return "<h2>Your devices</h2>\n<p>The list of your sessions is unavailable.</p>"
                .to_owned();
        }
    };
    let current = session.store_key();
    let now = sessions::time::OffsetDateTime::now_utc();
    let rows: String = list
        .iter()
        .map(|s| {
            let here = Some(&s.key) == current.as_ref();
            let which = if here { "this device" } else { "another device" };
            format!(
                "<tr class=\"{}\"><td>{which}</td><td>started {} ago</td><td>expires {}</td></tr>\n",
                if here { "current" } else { "other" },
                in_words(now - s.created_at).trim_start_matches("in "),
                in_words(s.expires_at - now),
            )
        })
        .collect();
    let others = list
        .iter()
        .filter(|s| Some(&s.key) != current.as_ref())
        .count();
    let button = if others > 0 {
        format!(
            r#"<form method="post" action="/sessions/end-others">{csrf}<button>End the other sessions</button></form>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<h2>Your devices</h2>
<p id="devices">You have {n} session{plural}.</p>
<table>{rows}</table>
{button}"#,
        n = list.len(),
        plural = if list.len() == 1 { "" } else { "s" },
    )
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> SessionManager {
        SessionManager::new(
            sessions::MemoryStore::new(),
            sessions::KeyRing::new([1u8; 32]).unwrap(),
        )
    }

    #[tokio::test]
    async fn names_and_data_are_escaped_in_the_page() {
        let session = Session::detached();
        session
            .insert("username", "<script>alert(1)</script>")
            .unwrap();
        let page = page(&manager(), &session).await;
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("visited this page 1 time in"));
        assert!(page.contains(r#"name="csrf_token""#));
    }

    #[tokio::test]
    async fn only_the_form_that_fits_is_shown() {
        let session = Session::detached();
        let out = page(&manager(), &session).await;
        assert!(out.contains(r#"action="/login""#) && !out.contains(r#"action="/logout""#));
        session.insert("username", "ann").unwrap();
        let inside = page(&manager(), &session).await;
        assert!(inside.contains(r#"action="/logout""#) && !inside.contains(r#"action="/login""#));
    }

    #[test]
    fn spans_read_as_words() {
        assert_eq!(in_words(Duration::days(14)), "in 14 days");
        assert_eq!(in_words(Duration::hours(1)), "in 1 hour");
        assert_eq!(in_words(Duration::minutes(59)), "in 59 minutes");
        assert_eq!(in_words(Duration::seconds(-5)), "in 0 seconds");
    }
}
