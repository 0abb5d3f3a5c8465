//! The HTTP behaviour suite: drives a running server over real HTTP, with a
//! real client and a cookie jar, and checks what a browser would see.
//!
//! The server must serve the demo's API (see `session-demo`):
//! `GET /api/session`, `PUT|DELETE /api/session/{key}` (with `?delay_ms=N`
//! and `?fail=1`), `POST /api/login`, `POST /api/logout`,
//! `POST /api/expiry`, `GET /api/sessions`, `POST /api/sessions/end-others`,
//! `GET /api/whoami` (a route that takes the session only if there is one),
//! `GET /`, and `GET /health` (a route that never takes the session).
//! Every adapter runs the same suite through the demo, which is how "the
//! three frameworks behave identically" is checked.
//!
//! ```no_run
//! # session_conformance::block_on(async {
//! use session_conformance::http::{Target, run_all};
//! run_all(&Target::new("http://127.0.0.1:8000")).await;
//! # });
//! ```

mod browser;
mod cookies;
mod errors;
mod header;
mod lifecycle;
mod model;
mod page;
mod target;

pub use browser::{Answer, Browser};
pub use cookies::*;
pub use errors::*;
pub use header::*;
pub use lifecycle::*;
pub use model::*;
pub use page::*;
pub use target::Target;

/// Runs every case against `target`, one after another.
///
/// ```no_run
/// use session_conformance::http::{Target, run_all};
/// // Against a server running the demo's routes (see `session-demo`):
/// session_conformance::block_on(run_all(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn run_all(target: &Target) {
    cookie_attributes_and_vary(target).await;
    read_only_requests_set_no_cookie(target).await;
    routes_without_the_session_never_touch_it(target).await;
    an_optional_session_is_never_created(target).await;
    if target.session_header.is_some() {
        a_session_travels_in_the_session_header(target).await;
    }
    logout_deletes_the_cookie(target).await;
    login_rotates_the_id(target).await;
    forged_cookies_get_a_fresh_session_and_no_store_write(target).await;
    expiry_is_honoured(target).await;
    parallel_writes_of_different_keys_all_land(target).await;
    logout_during_a_slow_write_stays_logged_out(target).await;
    server_errors_leave_the_session_unsaved(target).await;
    bad_json_is_a_400_with_a_json_error(target).await;
    a_value_too_deep_to_load_again_is_refused(target).await;
    an_oversized_body_is_a_413_with_a_json_error(target).await;
    an_unreachable_store_is_a_503_with_a_json_error(target).await;
    a_failed_save_replaces_the_whole_response(target).await;
    other_cookies_never_hide_the_session(target).await;
    a_user_lists_and_ends_their_other_sessions(target).await;
    the_page_counts_visits(target).await;
    the_page_forms_log_in_and_out(target).await;
    forms_need_the_csrf_token(target).await;
    random_requests_match_a_model_of_the_session(target).await;
}

/// The suite for a server whose sessions live whole in an encrypted cookie
/// (`SessionManager::encrypted_cookies`): every case of [`run_all`] that
/// applies to a session with no server-side record.
///
/// Left out, because a cookie store cannot keep these promises (its docs
/// say so): that a logged-out or pre-login cookie opens nothing (a copy
/// stays valid until it expires: [`logout_deletes_the_cookie`],
/// [`login_rotates_the_id`]); that concurrent writes merge
/// ([`parallel_writes_of_different_keys_all_land`],
/// [`logout_during_a_slow_write_stays_logged_out`]); the store's failures
/// ([`an_unreachable_store_is_a_503_with_a_json_error`],
/// [`a_failed_save_replaces_the_whole_response`]); the user index
/// ([`a_user_lists_and_ends_their_other_sessions`]); writes from requests
/// that each send the same old cookie all landing in one session
/// ([`other_cookies_never_hide_the_session`]; the cookie is found among
/// others by the same code in both modes); a value as large as
/// the request body limit ([`an_oversized_body_is_a_413_with_a_json_error`];
/// see [`a_session_too_large_for_its_cookie_is_a_500`] instead); and the
/// model of random requests, which expects logouts to end the session on
/// the server.
///
/// ```no_run
/// use session_conformance::http::{Target, run_cookie_store};
/// // Against the demo with `--store cookie:`:
/// session_conformance::block_on(run_cookie_store(&Target::new("http://127.0.0.1:8000")));
/// ```
pub async fn run_cookie_store(target: &Target) {
    cookie_attributes_and_vary(target).await;
    read_only_requests_set_no_cookie(target).await;
    routes_without_the_session_never_touch_it(target).await;
    an_optional_session_is_never_created(target).await;
    forged_cookies_get_a_fresh_session_and_no_store_write(target).await;
    expiry_is_honoured(target).await;
    server_errors_leave_the_session_unsaved(target).await;
    bad_json_is_a_400_with_a_json_error(target).await;
    a_value_too_deep_to_load_again_is_refused(target).await;
    the_page_counts_visits(target).await;
    the_page_forms_log_in_and_out(target).await;
    forms_need_the_csrf_token(target).await;
    a_session_too_large_for_its_cookie_is_a_500(target).await;
}
