//! Cases on the demo's HTML page and its forms, CSRF included.

use super::browser::Browser;
use super::target::Target;

/// The HTML page counts visits within a session.
///
/// ```no_run
/// use session_conformance::http::{Target, the_page_counts_visits};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(the_page_counts_visits(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn the_page_counts_visits(target: &Target) {
    let mut b = Browser::new(target);
    let first = b.get("/").await;
    assert_eq!(first.status, 200);
    assert!(
        first.content_type.contains("text/html"),
        "{}",
        first.content_type
    );
    assert!(
        first.text.contains("visited this page 1 time "),
        "{}",
        first.text
    );
    let second = b.get("/").await;
    assert!(
        second.text.contains("visited this page 2 times"),
        "{}",
        second.text
    );
}

/// The CSRF token of the page's forms (`name="csrf_token" value="…"`).
pub(super) fn form_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page
        .find(marker)
        .expect("the page's forms carry a CSRF token")
        + marker.len();
    let end = page[start..].find('"').expect("a closing quote") + start;
    page[start..end].to_owned()
}

/// The page's forms: logging in rotates the ID (and the CSRF token) and
/// redirects home; the expiry buttons change the expiry; logging out
/// deletes the cookie and redirects home. Every form carries the session's
/// CSRF token.
///
/// ```no_run
/// use session_conformance::http::{Target, the_page_forms_log_in_and_out};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(the_page_forms_log_in_and_out(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn the_page_forms_log_in_and_out(target: &Target) {
    let mut b = Browser::new(target);
    let page = b.get("/").await;
    let token = form_token(&page.text);
    let before = b.session_cookie().expect("the page starts a session");
    let form = format!("csrf_token={token}&user_id=5&username=ann%20%3Cb%3E");
    let a = b.post_form("/login", &form).await;
    assert_eq!(
        (a.status.as_u16(), a.location.as_str()),
        (303, "/"),
        "{:?} {}",
        a.set_cookies,
        a.text
    );
    assert_ne!(
        b.session_cookie(),
        Some(before),
        "logging in must rotate the ID"
    );
    let page = b.get("/").await;
    assert!(
        page.text
            .contains("Logged in as <strong>ann &lt;b&gt;</strong>"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("Welcome, ann &lt;b&gt;."),
        "{}",
        page.text
    );
    assert!(
        !page.text.contains(r#"action="/login""#),
        "only the form that fits"
    );
    // The token changed at login: the old one no longer passes.
    let a = b.post_form("/logout", &format!("csrf_token={token}")).await;
    assert_eq!(a.status, 403, "a pre-login token passed: {}", a.text);
    let token = form_token(&page.text);

    let a = b
        .post_form("/expiry", &format!("csrf_token={token}&choice=browser"))
        .await;
    assert_eq!(
        (a.status.as_u16(), a.location.as_str()),
        (303, "/"),
        "{}",
        a.text
    );
    let page = b.get("/").await;
    assert!(
        page.text.contains("when you close the browser"),
        "{}",
        page.text
    );
    let token = form_token(&page.text);

    let a = b.post_form("/logout", &format!("csrf_token={token}")).await;
    assert_eq!((a.status.as_u16(), a.location.as_str()), (303, "/"));
    assert!(
        a.set_cookies.iter().any(|c| c.contains("Max-Age=0")),
        "{:?}",
        a.set_cookies
    );
    assert!(b.get("/").await.text.contains("Not logged in."));
}

/// The page's forms refuse a post without the session's CSRF token (none,
/// a forged one, another session's) with a 403 and change nothing; the
/// token passes in the `x-csrf-token` header too.
///
/// ```no_run
/// use session_conformance::http::{Target, forms_need_the_csrf_token};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(forms_need_the_csrf_token(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn forms_need_the_csrf_token(target: &Target) {
    let mut b = Browser::new(target);
    let token = form_token(&b.get("/").await.text);
    let mut other = Browser::new(target);
    let foreign = form_token(&other.get("/").await.text);
    let cookie = b.session_cookie().expect("the page starts a session");
    let login = "user_id=9&username=mallory";
    // A character of the middle changed (the last one carries padding bits).
    let swap = if &token[40..41] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &token[..40], &token[41..]);
    for (what, body) in [
        ("no token", login.to_owned()),
        ("an empty token", format!("csrf_token=&{login}")),
        ("a forged token", format!("csrf_token={forged}&{login}")),
        (
            "another session's token",
            format!("csrf_token={foreign}&{login}"),
        ),
    ] {
        let a = b.post_form("/login", &body).await;
        assert_eq!(a.status, 403, "{what} passed: {}", a.text);
        assert_eq!(
            b.session_cookie().as_ref(),
            Some(&cookie),
            "{what} changed the cookie"
        );
    }
    assert!(
        b.get("/").await.text.contains("Not logged in."),
        "a refused login logged in"
    );
    // A form posted with the token in the header (as a script would).
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/login", target.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(login);
    request = request.header("x-csrf-token", &token);
    let answer = request.send().await.expect("the server answers");
    assert_eq!(answer.status(), 303, "the header's token was refused");
}
