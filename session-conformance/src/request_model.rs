//! The session rules as a model: one browser sends random requests whose
//! handlers insert, remove, clear, flush, rotate the ID, end or only
//! read, and every request is checked against what those rules promise.
//!
//! [`store_model`](crate::store_model) checks the store on its own; this
//! checks the manager's lifecycle on top of it: that the data a request
//! sees is what the previous ones left, that reading never writes, that an
//! empty session is never kept, and that an ID retired by a flush, a
//! rotation or an end never opens a session again. A failure names the
//! seed (`SESSION_TEST_SEED=N` replays it) and the requests that led there.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use session_core::{IdFormat, KeyRing, SessionManager, SessionStore};

use crate::counting::CountingStore;

/// Sequences per run, and requests per sequence.
const SEQUENCES: usize = 8;
const REQUESTS: usize = 30;
const KEYS: [&str; 3] = ["a", "b", "c"];

/// One thing a handler does with the session.
#[derive(Debug, Clone, Copy)]
enum Action {
    Read,
    Insert(&'static str, i64),
    Remove(&'static str),
    Clear,
    Flush,
    CycleId,
    Destroy,
}

impl Action {
    /// Whether the action may change what is stored or under which ID.
    fn writes(self) -> bool {
        !matches!(self, Action::Read)
    }
}

/// A request: `None` never loads the session, `Some` runs the actions.
fn request(rng: &mut StdRng) -> Option<Vec<Action>> {
    if rng.random_bool(0.1) {
        return None;
    }
    let mut actions = Vec::new();
    for _ in 0..rng.random_range(0..4) {
        let key = KEYS[rng.random_range(0..KEYS.len())];
        let action = match rng.random_range(0..20) {
            0..=3 => Action::Read,
            4..=10 => Action::Insert(key, rng.random_range(0..3)),
            11..=13 => Action::Remove(key),
            14 => Action::Clear,
            15 | 16 => Action::Flush,
            17 | 18 => Action::CycleId,
            _ => Action::Destroy,
        };
        actions.push(action);
        if let Action::Destroy = action {
            // Writes after `end` fail by design; the request ends here.
            break;
        }
    }
    Some(actions)
}

/// The browser and what the rules say the server holds for it.
struct Browser<S: SessionStore> {
    manager: SessionManager,
    store: CountingStore<Arc<S>>,
    /// The cookie the browser sends (`name=value`).
    cookie: Option<String>,
    /// Cookies of IDs a flush, rotation or end retired.
    retired: Vec<String>,
    /// The session's data as the previous requests left it.
    model: BTreeMap<&'static str, i64>,
    log: String,
    seed: u64,
}

impl<S: SessionStore> Browser<S> {
    fn fail(&self, what: impl std::fmt::Display) -> ! {
        crate::replay_failure(
            format_args!("the session rules were broken: {what}"),
            self.seed,
            "requests",
            &self.log,
        )
    }

    fn model_json(&self) -> Value {
        json!(self.model)
    }

    /// Sends one request and checks it against the rules.
    async fn send(&mut self, actions: Option<Vec<Action>>) {
        let _ = writeln!(
            self.log,
            "  ({:?} IDs) cookie {:?}: {actions:?}",
            self.manager.id_format(),
            self.cookie.is_some()
        );
        let writes = self.store.writes();
        let request = self.manager.request(self.cookie.as_deref());
        let Some(actions) = actions else {
            match request.finish(200).await {
                Ok(r) if r.set_cookie.is_none() && !r.vary_cookie => {}
                other => self.fail(format!("a request that never loaded answered {other:?}")),
            }
            if self.store.writes() != writes {
                self.fail("a request that never loaded wrote to the store");
            }
            return;
        };
        let session = match request.load().await {
            Ok(session) => session,
            Err(e) => self.fail(format!("load failed: {e}")),
        };
        if session.to_json() != self.model_json() {
            self.fail(format!(
                "loaded {}, but the requests so far left {}",
                session.to_json(),
                self.model_json()
            ));
        }
        for &action in &actions {
            let outcome = match action {
                Action::Read => session.get::<i64>("a").map(drop),
                Action::Insert(key, value) => {
                    self.model.insert(key, value);
                    session.insert(key, value)
                }
                Action::Remove(key) => {
                    self.model.remove(key);
                    session.remove(key);
                    Ok(())
                }
                Action::Clear => {
                    self.model.clear();
                    session.clear();
                    Ok(())
                }
                Action::Flush | Action::Destroy => {
                    self.model.clear();
                    self.retired.extend(self.cookie.clone());
                    if let Action::Flush = action {
                        session.flush();
                    } else {
                        session.end();
                    }
                    Ok(())
                }
                Action::CycleId => {
                    self.retired.extend(self.cookie.clone());
                    session.cycle_id();
                    Ok(())
                }
            };
            if let Err(e) = outcome {
                self.fail(format!("{action:?} failed: {e}"));
            }
        }
        let response = match request.finish(200).await {
            Ok(response) => response,
            Err(e) => self.fail(format!("finish failed: {e}")),
        };
        if !actions.iter().any(|a| a.writes())
            && (response.set_cookie.is_some() || self.store.writes() != writes)
        {
            self.fail(format!(
                "a request that only read wrote (Set-Cookie {:?}, {} store writes)",
                response.set_cookie,
                self.store.writes() - writes
            ));
        }
        if let Some(header) = &response.set_cookie {
            self.cookie = response.cookie_pair().map(str::to_owned);
            if self.cookie.is_none() && !header.contains("Max-Age=0") {
                self.fail(format!(
                    "a Set-Cookie with no value that keeps it: {header}"
                ));
            }
        }
        match (&self.cookie, self.model.is_empty()) {
            (Some(_), false) | (None, true) => {}
            (Some(cookie), true) => {
                // The browser may keep a cookie for an empty session only
                // if nothing is stored under it.
                if self.loads_data(cookie).await {
                    self.fail("an empty session was kept in the store");
                }
            }
            (None, false) => self.fail(format!(
                "the session holds {} but the browser has no cookie",
                self.model_json()
            )),
        }
        if self
            .cookie
            .as_ref()
            .is_some_and(|c| self.retired.contains(c))
        {
            self.fail("the browser was left with a retired cookie");
        }
        // Any retired cookie opens an empty session, and writes nothing.
        if !self.retired.is_empty() {
            let at = self.log.len() % self.retired.len();
            let old = self.retired[at].clone();
            if self.loads_data(&old).await {
                self.fail("a retired ID opened its session again");
            }
        }
    }

    /// Whether a read-only request with `cookie` sees any data; fails the
    /// case if that request writes.
    async fn loads_data(&self, cookie: &str) -> bool {
        let writes = self.store.writes();
        let request = self.manager.request([cookie]);
        let data = match request.load().await {
            Ok(session) => session.to_json(),
            Err(e) => self.fail(format!("load failed: {e}")),
        };
        if let Err(e) = request.finish(200).await {
            self.fail(format!("finish failed: {e}"));
        }
        if self.store.writes() != writes {
            self.fail("a read-only request wrote to the store");
        }
        data != json!({})
    }
}

/// Random sequences of requests from one browser (never loading; reading;
/// inserting, removing, clearing; flushing, rotating the ID, ending),
/// each checked against the session rules: a request sees what the
/// previous ones left, a request that only reads sets no cookie and writes
/// nothing, an empty session is never kept, and a retired ID never opens
/// its session again. Half the sequences use Django-format IDs, which
/// stores receive as they are rather than hashed.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::request_model::random_requests_follow_the_session_rules(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn random_requests_follow_the_session_rules<S: SessionStore>(store: S) {
    let seed = crate::seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let store = CountingStore::new(Arc::new(store));
    let managers = [IdFormat::Native, IdFormat::Django].map(|format| {
        SessionManager::builder(store.clone(), KeyRing::new([42u8; 32]).expect("a key"))
            .id_format(format)
            .build()
            .expect("a manager")
    });
    for sequence in 0..SEQUENCES {
        let manager = &managers[sequence % managers.len()];
        let mut browser = Browser {
            manager: manager.clone(),
            store: store.clone(),
            cookie: None,
            retired: Vec::new(),
            model: BTreeMap::new(),
            log: String::new(),
            seed,
        };
        for _ in 0..REQUESTS {
            let actions = request(&mut rng);
            browser.send(actions).await;
        }
    }
}
