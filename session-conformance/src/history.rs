//! The concurrent-history checker: browsers with several tabs, and an
//! operator who revokes users' sessions, send random requests through the
//! real [`SessionManager`] at once, while the store under test is wrapped
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

const BROWSERS: usize = 4;
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

/// The store under test, pausing before and after operations as the seed
/// says, and recording every write it accepted.
struct Shaken<S> {
    inner: Arc<S>,
    start: Instant,
    rng: Mutex<StdRng>,
    writes: Mutex<Vec<Write>>,
}

impl<S: SessionStore> Shaken<S> {
    async fn pause(&self) {
        let micros = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            rng.random_bool(0.3).then(|| rng.random_range(50..1500))
        };
        if let Some(micros) = micros {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
    }

    async fn write<F: Future<Output = Result<(), StoreError>>>(
        &self,
        op: &'static str,
        record: &Record,
        run: F,
    ) -> Result<(), StoreError> {
        self.pause().await;
        let begun = self.start.elapsed();
        let result = run.await;
        let done = self.start.elapsed();
        self.pause().await;
        if result.is_ok() && record.expires_at > OffsetDateTime::UNIX_EPOCH {
            let decoded = JsonCodec.decode(&record.data).unwrap_or_default();
            let data = decoded
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            self.writes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Write {
                    op,
                    key: record.key.clone(),
                    at: (begun, done),
                    data,
                    raw_empty: decoded.is_empty(),
                });
        }
        result
    }

    async fn around<T, F: Future<Output = T>>(&self, run: F) -> T {
        self.pause().await;
        let result = run.await;
        self.pause().await;
        result
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for Shaken<S> {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.around(self.inner.load(key)).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.write("create", record, self.inner.create(record))
            .await
    }
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.write(
            "update",
            record,
            self.inner.update(record, expected_version),
        )
        .await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.around(self.inner.delete(key)).await
    }
    async fn rotate(
        &self,
        old: &Record,
        expected_version: u64,
        new: &Record,
    ) -> Result<(), StoreError> {
        self.write("rotate", new, self.inner.rotate(old, expected_version, new))
            .await
    }
    async fn touch(&self, key: &StoreKey, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.around(self.inner.touch(key, expires_at)).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.around(self.inner.delete_expired()).await
    }
    fn expires_natively(&self) -> bool {
        self.inner.expires_natively()
    }
    fn user_index(&self) -> Option<&dyn UserIndex> {
        // Through this wrapper, so its calls are seen too.
        self.inner.user_index().map(|_| self as &dyn UserIndex)
    }
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        // Through this wrapper, so its calls are seen too.
        self.inner.maintenance().map(|_| self as &dyn Maintenance)
    }
}

#[async_trait]
impl<S: SessionStore> Maintenance for Shaken<S> {
    async fn stats(&self, top_users: usize) -> Result<StoreStats, StoreError> {
        session_core::store::maintenance_of(&self.inner)?
            .stats(top_users)
            .await
    }
    async fn delete_expired_batch(&self, max: u64) -> Result<u64, StoreError> {
        session_core::store::maintenance_of(&self.inner)?
            .delete_expired_batch(max)
            .await
    }
}

#[async_trait]
impl<S: SessionStore> UserIndex for Shaken<S> {
    async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.around(session_core::store::user_index_of(&self.inner)?.sessions_of(user))
            .await
    }
    async fn delete_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.around(session_core::store::user_index_of(&self.inner)?.delete_sessions_of(user, keep))
            .await
    }
}

/// A recorded history.
struct History {
    requests: Vec<Request>,
    revokes: Vec<Revoke>,
    writes: Vec<Write>,
    /// Each browser's cookie at the end.
    jars: Vec<Option<String>>,
    manager: SessionManager,
}

async fn run<S: SessionStore>(store: Arc<S>, seed: u64) -> History {
    let start = Instant::now();
    let shaken = Arc::new(Shaken {
        inner: store,
        start,
        rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed)),
        writes: Mutex::new(Vec::new()),
    });
    let manager = manager(shaken.clone());
    let jars: Vec<Arc<Mutex<Option<String>>>> =
        (0..BROWSERS).map(|_| Arc::new(Mutex::new(None))).collect();
    let counter = Arc::new(AtomicU64::new(0));
    let browsing = Arc::new(std::sync::atomic::AtomicUsize::new(BROWSERS));
    let mut tasks = JoinSet::new();
    for (browser, jar) in jars.iter().enumerate() {
        let (manager, jar, counter, browsing) = (
            manager.clone(),
            jar.clone(),
            counter.clone(),
            browsing.clone(),
        );
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(browser as u64));
        tasks.spawn(async move {
            let mut done = Vec::new();
            for _ in 0..ROUNDS {
                let tabs = if rng.random_bool(0.6) { TABS } else { 1 };
                let barrier = tokio::sync::Barrier::new(tabs);
                let mut plans: Vec<Plan> = (0..tabs)
                    .map(|tab| Plan::draw(&mut rng, browser, tab))
                    .collect();
                // Half the duels are the pairs where races hide.
                if tabs == 2 && rng.random_bool(0.5) {
                    let (a, b) = DUELS[rng.random_range(0..DUELS.len())];
                    (plans[0].act, plans[1].act) = (a, b);
                }
                let requests = plans
                    .iter()
                    .map(|plan| tab_request(&manager, &jar, &counter, &barrier, start, plan));
                done.extend(futures_join_all(requests).await);
            }
            browsing.fetch_sub(1, Ordering::SeqCst);
            (done, Vec::new())
        });
    }
    if manager.store().user_index().is_some() {
        // A user keeps their devices page open: listings all along, which
        // tidy the index while sessions are being created and bound.
        let manager = manager.clone();
        let mut rng = StdRng::seed_from_u64(seed ^ 0xd1ce);
        tasks.spawn(async move {
            while browsing.load(Ordering::SeqCst) > 0 {
                let user = user_of(rng.random_range(0..BROWSERS));
                manager.sessions_of(user).await.expect("sessions_of");
                tokio::time::sleep(Duration::from_micros(rng.random_range(20..200))).await;
            }
            (Vec::new(), Vec::new())
        });
    }
    {
        let manager = manager.clone();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0be7);
        tasks.spawn(async move {
            let mut revokes = Vec::new();
            for _ in 0..REVOKES {
                // Meanwhile, users look at their devices: listings, which
                // tidy the index while sessions are being bound.
                let until = start.elapsed() + Duration::from_micros(rng.random_range(500..6000));
                while start.elapsed() < until {
                    if manager.store().user_index().is_some() {
                        let user = user_of(rng.random_range(0..BROWSERS));
                        manager.sessions_of(user).await.expect("sessions_of");
                    }
                    tokio::time::sleep(Duration::from_micros(rng.random_range(50..400))).await;
                }
                let user = user_of(rng.random_range(0..BROWSERS));
                let begun = start.elapsed();
                if manager.store().user_index().is_some() {
                    manager.end_sessions_of(user, None).await.expect("revoke");
                } else {
                    manager
                        .store()
                        .delete_expired()
                        .await
                        .expect("delete_expired");
                    continue;
                }
                revokes.push(Revoke {
                    user,
                    at: (begun, start.elapsed()),
                });
            }
            (Vec::new(), revokes)
        });
    }
    let (mut requests, mut revokes) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (r, v) = done.expect("a browser tab or the operator panicked");
        requests.extend(r);
        revokes.extend(v);
    }
    requests.sort_by_key(|r| r.load.0);
    let writes = std::mem::take(&mut *shaken.writes.lock().unwrap_or_else(|p| p.into_inner()));
    History {
        requests,
        revokes,
        writes,
        jars: jars
            .iter()
            .map(|j| j.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect(),
        manager,
    }
}

/// Runs the futures at once and gives their outputs in order.
async fn futures_join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    match futures.len() {
        0 => Vec::new(),
        1 => vec![futures.remove(0).await],
        _ => {
            let (a, b) = {
                let b = futures.remove(1);
                let a = futures.remove(0);
                (a, b)
            };
            let (a, b) = tokio::join!(a, b);
            let mut out = vec![a, b];
            for rest in futures {
                out.push(rest.await);
            }
            out
        }
    }
}

/// Pairs of acts that, at once on one session, reach the interleavings
/// the promises are about: two removals emptying the session, a login
/// (rotation) against a logout or a save, two saves.
const DUELS: [(Act, Act); 6] = [
    (Act::Remove, Act::Remove),
    (Act::Remove, Act::Remove),
    (Act::Login, Act::Logout),
    (Act::Logout, Act::Login),
    (Act::Login, Act::Write),
    (Act::Write, Act::Write),
];

/// What one tab's request will do, drawn from the seed.
struct Plan {
    browser: usize,
    tab: usize,
    act: Act,
    /// Which of the tab's two keys a write goes to.
    slot: u8,
    /// How long the handler works between loading and saving.
    think: Duration,
}

impl Plan {
    fn draw(rng: &mut StdRng, browser: usize, tab: usize) -> Plan {
        let act = match rng.random_range(0..20) {
            0..=2 => Act::Read,
            3..=10 => Act::Write,
            11..=14 => Act::Remove,
            15..=17 => Act::Login,
            _ => Act::Logout,
        };
        Plan {
            browser,
            tab,
            act,
            slot: rng.random_range(0..2),
            think: Duration::from_micros(rng.random_range(0..1500)),
        }
    }
}

async fn tab_request(
    manager: &SessionManager,
    jar: &Mutex<Option<String>>,
    counter: &AtomicU64,
    barrier: &tokio::sync::Barrier,
    start: Instant,
    plan: &Plan,
) -> Request {
    let &Plan {
        browser,
        tab,
        act,
        slot,
        think,
    } = plan;
    let cookie = jar.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let request = manager.request(cookie.as_deref());
    let load_begun = start.elapsed();
    let session = request.load().await.expect("load");
    let load = (load_begun, start.elapsed());
    let loaded: BTreeMap<String, String> = session
        .keys()
        .into_iter()
        .map(|k| {
            let v = session.get::<String>(&k).ok().flatten().unwrap_or_default();
            (k, v)
        })
        .collect();
    let lineage = loaded.values().next().map_or_else(
        || format!("b{browser}~{}", counter.fetch_add(1, Ordering::Relaxed)),
        |v| lineage_of(v).to_owned(),
    );
    let own: Vec<&String> = loaded
        .keys()
        .filter(|k| k.starts_with(&format!("b{browser}.t{tab}.")))
        .collect();
    let (mut keys, mut value) = (Vec::new(), None);
    // Every tab of the round has loaded before any works and saves.
    barrier.wait().await;
    tokio::time::sleep(think).await;
    match act {
        Act::Read => {}
        Act::Write => {
            let k = format!("b{browser}.t{tab}.k{slot}");
            let v = format!("{lineage}|{}", counter.fetch_add(1, Ordering::Relaxed));
            session.insert(&k, &v).expect("insert");
            (keys, value) = (vec![k], Some(v));
        }
        Act::Remove => {
            // All the tab's keys, so that the session becomes empty when
            // the other tab removes its own at the same time.
            for k in own {
                session.remove(k);
                keys.push(k.clone());
            }
        }
        Act::Login => {
            session.cycle_id();
            session.set_user(user_of(browser)).expect("set_user");
        }
        Act::Logout => session.destroy(),
    }
    let finish_begun = start.elapsed();
    let response = request.finish(200).await.expect("finish");
    let finish = (finish_begun, start.elapsed());
    // The browser keeps what the response set: a new cookie, or none.
    let removed = response.set_cookie.is_some() && response.cookie_pair().is_none();
    if response.set_cookie.is_some() {
        *jar.lock().unwrap_or_else(|p| p.into_inner()) = response.cookie_pair().map(str::to_owned);
    }
    Request {
        browser,
        tab,
        act,
        keys,
        value,
        lineage,
        loaded,
        load,
        finish,
        saved: !response.ended_concurrently,
        ended: response.ended_concurrently || removed,
    }
}

impl History {
    /// The lineages that must never be written again, with the instant
    /// from which on.
    fn ended_lineages(&self) -> Vec<(String, At, String)> {
        let mut ended = Vec::new();
        for r in &self.requests {
            if r.act == Act::Logout && !r.loaded.is_empty() && r.saved {
                ended.push((r.lineage.clone(), r.finish.1, format!("{r:?}")));
            }
        }
        for revoke in &self.revokes {
            for browser in (0..BROWSERS).filter(|b| user_of(*b) == revoke.user) {
                let mine = || self.requests.iter().filter(move |r| r.browser == browser);
                // A request of the browser saving during the revoke may
                // move the session where the revoke does not look: both
                // outcomes are right, so the browser is not judged here.
                if mine().any(|r| r.finish.0 < revoke.at.1 && r.finish.1 > revoke.at.0) {
                    continue;
                }
                // The browser's session at the revoke: its last saved
                // request before it; ended by it if that was a login.
                let last = mine()
                    .filter(|r| r.finish.1 < revoke.at.0 && (r.saved || r.ended))
                    .max_by_key(|r| r.finish.1);
                if let Some(r) = last.filter(|r| r.act == Act::Login && r.saved && !r.ended) {
                    ended.push((
                        r.lineage.clone(),
                        revoke.at.1,
                        format!("{revoke:?} after {r:?}"),
                    ));
                }
            }
        }
        ended
    }

    async fn check<S: SessionStore>(&self, store: &S) -> Result<(), Failure> {
        // No empty session is stored.
        if let Some(w) = self.writes.iter().find(|w| w.raw_empty) {
            return fail("an empty session was stored", format!("{w:?}"));
        }
        // Nobody sees data they should not.
        let written: HashMap<&str, &str> = self
            .requests
            .iter()
            .filter_map(|r| Some((r.value.as_deref()?, r.keys.first()?.as_str())))
            .collect();
        for r in &self.requests {
            for (k, v) in &r.loaded {
                if !k.starts_with(&format!("b{}.", r.browser))
                    || written.get(v.as_str()) != Some(&k.as_str())
                {
                    return fail(
                        format!("a request saw {k} = {v}, which nobody of its browser wrote there"),
                        format!("{r:?}"),
                    );
                }
            }
        }
        // An ended session stays ended.
        for (lineage, from, why) in self.ended_lineages() {
            let again = self
                .writes
                .iter()
                .find(|w| w.at.0 > from && w.data.values().any(|v| lineage_of(v) == lineage));
            if let Some(w) = again {
                let mut shown =
                    format!("ended by: {why}\nwritten again: {w:?}\nthe lineage's requests:\n");
                for r in self.requests.iter().filter(|r| r.lineage == lineage) {
                    let _ = writeln!(shown, "  {r:?}");
                }
                return fail(format!("session {lineage} came back after it ended"), shown);
            }
        }
        // Writes land.
        let manager = &self.manager;
        for (browser, jar) in self.jars.iter().enumerate() {
            let session = manager
                .request(jar.as_deref())
                .load()
                .await
                .expect("final load");
            let Some(lineage) = session
                .keys()
                .first()
                .and_then(|k| session.get::<String>(k).ok().flatten())
                .map(|v| lineage_of(&v).to_owned())
            else {
                continue;
            };
            let mut last: BTreeMap<&str, &Request> = BTreeMap::new();
            for r in self
                .requests
                .iter()
                .filter(|r| r.browser == browser && r.saved && !r.ended)
            {
                for k in &r.keys {
                    last.insert(k, r);
                }
            }
            for (k, r) in last {
                if r.lineage != lineage {
                    continue;
                }
                let now = session.get::<String>(k).ok().flatten();
                if now != r.value {
                    return fail(
                        format!(
                            "the last write of {k} in session {lineage} was lost (now {now:?})"
                        ),
                        format!("{r:?}"),
                    );
                }
            }
        }
        // The user index is the truth.
        if store.user_index().is_some() {
            let keys: BTreeSet<&StoreKey> = self.writes.iter().map(|w| &w.key).collect();
            for user in ["ana", "ben"] {
                let mut truth = BTreeSet::new();
                for key in &keys {
                    if let Ok(Some(r)) = store.load(key).await
                        && r.user.as_deref() == Some(user)
                    {
                        truth.insert((*key).clone());
                    }
                }
                let listed: BTreeSet<StoreKey> = crate::index(store)
                    .sessions_of(user)
                    .await
                    .expect("sessions_of")
                    .into_iter()
                    .map(|s| s.key)
                    .collect();
                if listed != truth {
                    return fail(
                        format!("the user index of {user} is not the truth"),
                        format!("listed: {listed:?}\nlive and bound: {truth:?}"),
                    );
                }
            }
            // Leave nothing for the next history's users.
            for user in ["ana", "ben"] {
                crate::index(store)
                    .delete_sessions_of(user, None)
                    .await
                    .expect("cleanup");
            }
        }
        Ok(())
    }
}
