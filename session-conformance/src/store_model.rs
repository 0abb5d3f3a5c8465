//! The store contract as a model: random sequences of operations, each
//! answer checked against what a plain map would say.
//!
//! The one-promise cases in [`store`](crate::store) each try a situation
//! someone thought of; this case tries the orders nobody did (an update
//! after a touch after a failed create, a user's sessions listed after one
//! of them changed user, …). Every run prints nothing unless the store
//! breaks the contract; the panic then names the seed, which
//! `SESSION_TEST_SEED=N` replays, and the operations that led there.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{Record, SessionId, SessionStore, StoreError, StoreKey, now};

/// Sequences per run, and operations per sequence.
const SEQUENCES: usize = 8;
const STEPS: usize = 40;
/// Keys and users each sequence works on: few, so that operations meet.
const KEYS: usize = 3;
const USERS: usize = 2;

/// One operation of a sequence, on key (and user) number `k` (`u`).
#[derive(Debug, Clone)]
enum Op {
    Load(usize),
    Create(usize, Fields),
    /// Update with the version the model holds, or (`stale`) another one.
    Update(usize, Fields, bool),
    Delete(usize),
    Touch(usize, i64),
    SessionsOf(usize),
    DeleteSessionsOf(usize, Option<usize>),
}

/// What an operation writes: data, expiry (seconds from now), user.
#[derive(Debug, Clone)]
struct Fields {
    data: Vec<u8>,
    expires_in: i64,
    user: Option<usize>,
}

fn fields(rng: &mut StdRng) -> Fields {
    let len = rng.random_range(0..48);
    Fields {
        data: (0..len).map(|_| rng.random()).collect(),
        expires_in: rng.random_range(60..1_000_000),
        user: rng.random_bool(0.6).then(|| rng.random_range(0..USERS)),
    }
}

fn op(rng: &mut StdRng, user_index: bool) -> Op {
    let k = rng.random_range(0..KEYS);
    match rng.random_range(0..if user_index { 9 } else { 7 }) {
        0 => Op::Load(k),
        1 | 2 => Op::Create(k, fields(rng)),
        3 | 4 => Op::Update(k, fields(rng), rng.random_bool(0.2)),
        5 => Op::Delete(k),
        6 => Op::Touch(k, rng.random_range(60..1_000_000)),
        7 => Op::SessionsOf(rng.random_range(0..USERS)),
        _ => Op::DeleteSessionsOf(
            rng.random_range(0..USERS),
            rng.random_bool(0.5).then(|| rng.random_range(0..KEYS)),
        ),
    }
}

/// One sequence: its keys, users, the model, and what happened so far.
struct Sequence {
    keys: Vec<StoreKey>,
    users: Vec<String>,
    model: BTreeMap<usize, Record>,
    now: OffsetDateTime,
    log: String,
}

impl Sequence {
    fn record(&self, k: usize, version: u64, created_at: OffsetDateTime, f: &Fields) -> Record {
        Record {
            key: self.keys[k].clone(),
            data: f.data.clone(),
            version,
            created_at,
            expires_at: self.now + Duration::seconds(f.expires_in),
            user: f.user.map(|u| self.users[u].clone()),
        }
    }

    /// The live sessions of user `u` in the model, as the store lists them.
    fn sessions_of(&self, u: usize) -> Vec<(StoreKey, OffsetDateTime, OffsetDateTime)> {
        let mut sessions: Vec<_> = self
            .model
            .values()
            .filter(|r| r.user.as_deref() == Some(self.users[u].as_str()))
            .map(|r| (r.key.clone(), r.created_at, r.expires_at))
            .collect();
        sessions.sort();
        sessions
    }

    fn fail(&self, seed: u64, what: impl std::fmt::Display) -> ! {
        crate::replay_failure(
            format_args!("the store broke the contract: {what}"),
            seed,
            "operations",
            &self.log,
        )
    }

    /// Runs `op` on the store and checks the answer against the model.
    async fn step<S: SessionStore>(&mut self, store: &S, op: Op, seed: u64) {
        let _ = writeln!(self.log, "  {op:?}");
        match op {
            Op::Load(k) => self.check_load(store, k, seed).await,
            Op::Create(k, f) => {
                let record = self.record(k, 1, self.now - Duration::seconds(5), &f);
                let got = store.create(&record).await;
                match (self.model.contains_key(&k), got) {
                    (true, Err(StoreError::Duplicate)) => {}
                    (false, Ok(())) => {
                        self.model.insert(k, record);
                    }
                    (live, got) => self.fail(
                        seed,
                        format!("create with a live record: {live}, answered {got:?}"),
                    ),
                }
                self.check_load(store, k, seed).await;
            }
            Op::Update(k, f, stale) => {
                let held = self.model.get(&k).map(|r| (r.version, r.created_at));
                let (version, created_at) = held.unwrap_or((1, self.now));
                let expected = if stale { version + 1 } else { version };
                let record = self.record(k, expected + 1, created_at, &f);
                let got = store.update(&record, expected).await;
                match (held, stale, got) {
                    (None, _, Err(StoreError::NotFound)) => {}
                    (Some(_), true, Err(StoreError::Conflict)) => {}
                    (Some(_), false, Ok(())) => {
                        self.model.insert(k, record);
                    }
                    (held, stale, got) => self.fail(
                        seed,
                        format!(
                            "update (live: {}, stale: {stale}) answered {got:?}",
                            held.is_some()
                        ),
                    ),
                }
                self.check_load(store, k, seed).await;
            }
            Op::Delete(k) => {
                if let Err(e) = store.delete(&self.keys[k]).await {
                    self.fail(seed, format!("delete failed: {e}"));
                }
                self.model.remove(&k);
                self.check_load(store, k, seed).await;
            }
            Op::Touch(k, expires_in) => {
                let expires_at = self.now + Duration::seconds(expires_in);
                let live = self.model.contains_key(&k);
                match (live, store.touch(&self.keys[k], expires_at).await) {
                    (true, Ok(())) => {
                        if let Some(record) = self.model.get_mut(&k) {
                            record.expires_at = expires_at;
                        }
                    }
                    (false, Err(StoreError::NotFound)) => {}
                    (live, got) => {
                        self.fail(seed, format!("touch (live: {live}) answered {got:?}"))
                    }
                }
                self.check_load(store, k, seed).await;
            }
            Op::SessionsOf(u) => {
                let mut listed: Vec<_> = match crate::index(store).sessions_of(&self.users[u]).await
                {
                    Ok(listed) => listed
                        .into_iter()
                        .map(|s| (s.key, s.created_at, s.expires_at))
                        .collect(),
                    Err(e) => self.fail(seed, format!("sessions_of failed: {e}")),
                };
                listed.sort();
                if listed != self.sessions_of(u) {
                    self.fail(
                        seed,
                        format!(
                            "sessions_of listed {listed:?}, not {:?}",
                            self.sessions_of(u)
                        ),
                    );
                }
            }
            Op::DeleteSessionsOf(u, keep) => {
                let keep_key = keep.map(|k| self.keys[k].clone());
                let ended: Vec<usize> = self
                    .model
                    .iter()
                    .filter(|(k, r)| {
                        r.user.as_deref() == Some(self.users[u].as_str()) && Some(**k) != keep
                    })
                    .map(|(k, _)| *k)
                    .collect();
                match crate::index(store)
                    .delete_sessions_of(&self.users[u], keep_key.as_ref())
                    .await
                {
                    Ok(n) if n == ended.len() as u64 => {}
                    got => self.fail(
                        seed,
                        format!(
                            "delete_sessions_of answered {got:?}, not {} ended",
                            ended.len()
                        ),
                    ),
                }
                for k in ended {
                    self.model.remove(&k);
                }
                for k in 0..KEYS {
                    self.check_load(store, k, seed).await;
                }
            }
        }
    }

    async fn check_load<S: SessionStore>(&self, store: &S, k: usize, seed: u64) {
        match store.load(&self.keys[k]).await {
            Ok(got) if got.as_ref() == self.model.get(&k) => {}
            got => self.fail(
                seed,
                match got {
                    Ok(got) => format!(
                        "load of key {k} gave {}, not {}",
                        crate::store::shown(got.as_ref()),
                        crate::store::shown(self.model.get(&k))
                    ),
                    Err(e) => format!("load of key {k} failed: {e}"),
                },
            ),
        }
    }
}

/// Random sequences of `load`, `create`, `update` (with the right version
/// and with a stale one), `delete`, `touch` and, where the store has a user
/// index, `sessions_of` and `delete_sessions_of`, on a few keys: every
/// answer (`Duplicate`, `NotFound`, `Conflict` included) and every record
/// loaded after each step must be what the contract says.
///
/// ```no_run
/// // In your store's tests (or through `store_tests!`, which runs every case):
/// session_conformance::block_on(session_conformance::store_model::random_operations_follow_the_contract(
///     session_store_memory::MemoryStore::new(),
/// ));
/// ```
pub async fn random_operations_follow_the_contract<S: SessionStore>(store: S) {
    let seed = crate::seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let user_index = store.user_index().is_some();
    for _ in 0..SEQUENCES {
        let tag = SessionId::generate().store_key();
        let mut sequence = Sequence {
            keys: (0..KEYS)
                .map(|_| SessionId::generate().store_key())
                .collect(),
            // The second user's name has quotes, a backslash, a space,
            // braces, glob characters and non-ASCII letters, for engines
            // that quote, escape or hash-tag names.
            users: (0..USERS)
                .map(|u| match u {
                    0 => format!("model-{}-{u}", &tag.as_str()[..12]),
                    _ => format!("model-{}-'\"\\ {{*?[]:}} ü😀{u}", &tag.as_str()[..12]),
                })
                .collect(),
            model: BTreeMap::new(),
            now: now(),
            log: String::new(),
        };
        for _ in 0..STEPS {
            let op = op(&mut rng, user_index);
            sequence.step(&store, op, seed).await;
        }
        for key in &sequence.keys {
            store.delete(key).await.expect("clean-up delete");
        }
    }
}
