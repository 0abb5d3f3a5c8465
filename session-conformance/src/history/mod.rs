//! The concurrent-history checker: browsers with several tabs, and an
//! operator who revokes users' sessions, send random requests through the
//! real [`SessionManager`] at once (two of them, as two servers sharing
//! the store would be, each request going to either: what one server
//! keeps decoded goes stale when the other saves), while the store under test is wrapped
//! so that its operations pause at points drawn from the seed (which
//! widens the windows between one request's load and its save, where
//! races live). The whole history is recorded and then checked against
//! the promises:
//!
//! - **an ended session stays ended**: after a logout, or a revoke of the
//!   user it was bound to, no write carries its data again, under its old
//!   ID or a new one (a rotation racing the end must not bring it back);
//! - **writes land**: each tab's last successful write to its own key is
//!   in the browser's session at the end, unless the session ended;
//! - **no empty session is stored**;
//! - **the user index is the truth**: at the end, each user's listed
//!   sessions are exactly the live sessions bound to the user;
//! - **nobody sees data they should not**: a load sees only its own
//!   browser's keys, with values that some request wrote.
//!
//! A failure names the broken promise, the seed that replays the plan
//! (`SESSION_TEST_SEED`; timing still varies from run to run) and the
//! part of the history that shows it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use session_core::time::OffsetDateTime;
use session_core::{
    Codec, JsonCodec, Maintenance, Record, SessionInfo, SessionManager, SessionStore, StoreError,
    StoreKey, StoreStats, UserIndex, async_trait,
};
use tokio::task::JoinSet;

use crate::store::manager;

mod check;
mod run;
mod shaken;

use run::{History, run};
use shaken::Shaken;

const BROWSERS: usize = 4;

/// Servers (managers) sharing the store.
const SERVERS: usize = 2;

const TABS: usize = 2;

/// Rounds per browser: in each, one tab or both at once (both load
/// before either saves, so their requests overlap).
const ROUNDS: usize = 40;

const REVOKES: usize = 8;

const HISTORIES: usize = 4;

/// Runs a few random histories against `store` and checks each; see the
/// [module docs](self).
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store::concurrent_histories_keep_the_promises(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn concurrent_histories_keep_the_promises<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let first = crate::seed();
    for n in 0..HISTORIES as u64 {
        let seed = first.wrapping_add(n);
        let history = run(store.clone(), seed).await;
        if let Err(failure) = history.check(&store).await {
            crate::replay_failure(failure.what, seed, "relevant events", &failure.shown);
        }
    }
}

/// When something happened, relative to the history's start.
type At = Duration;

/// What a tab does in one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Read,
    Write,
    Remove,
    Login,
    Logout,
}

/// One request, as its tab saw it.
#[derive(Debug)]
struct Request {
    browser: usize,
    #[allow(dead_code, reason = "shown in failure messages")]
    tab: usize,
    act: Act,
    /// The keys it wrote or removed, and the value written.
    keys: Vec<String>,
    value: Option<String>,
    /// The lineage of the data it loaded (or started).
    lineage: String,
    loaded: BTreeMap<String, String>,
    load: (At, At),
    finish: (At, At),
    saved: bool,
    ended: bool,
}

/// A revoke of a user's sessions by the operator.
#[derive(Debug)]
struct Revoke {
    user: &'static str,
    at: (At, At),
}

/// A write the store accepted.
#[derive(Debug)]
struct Write {
    #[allow(dead_code, reason = "shown in failure messages")]
    op: &'static str,
    key: StoreKey,
    at: (At, At),
    data: BTreeMap<String, String>,
    raw_empty: bool,
}

struct Failure {
    what: String,
    shown: String,
}

fn user_of(browser: usize) -> &'static str {
    ["ana", "ben"][browser % 2]
}

/// The lineage a value belongs to: values are `<lineage>|<n>`.
fn lineage_of(value: &str) -> &str {
    value.split_once('|').map_or(value, |(l, _)| l)
}

fn fail(what: impl Into<String>, shown: impl Into<String>) -> Result<(), Failure> {
    Err(Failure {
        what: what.into(),
        shown: shown.into(),
    })
}
