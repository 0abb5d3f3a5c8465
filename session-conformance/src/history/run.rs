//! Running one history: browsers with tabs sending requests at once, with
//! revokes and duels between them, each act recorded.

use super::*;

/// A recorded history.
pub(super) struct History {
    pub(super) requests: Vec<Request>,
    pub(super) revokes: Vec<Revoke>,
    pub(super) writes: Vec<Write>,
    /// Each browser's cookie at the end.
    pub(super) jars: Vec<Option<String>>,
    pub(super) manager: SessionManager,
}

pub(super) async fn run<S: SessionStore>(store: Arc<S>, seed: u64) -> History {
    let start = Instant::now();
    let shaken = Arc::new(Shaken {
        inner: store,
        start,
        rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed)),
        writes: Mutex::new(Vec::new()),
    });
    // Two servers behind one load balancer: each manager keeps decoded
    // data of its own, which the other's saves make stale.
    let servers: Arc<[SessionManager]> = (0..SERVERS).map(|_| manager(shaken.clone())).collect();
    let manager = servers[0].clone();
    let jars: Vec<Arc<Mutex<Option<String>>>> =
        (0..BROWSERS).map(|_| Arc::new(Mutex::new(None))).collect();
    let counter = Arc::new(AtomicU64::new(0));
    let browsing = Arc::new(std::sync::atomic::AtomicUsize::new(BROWSERS));
    let mut tasks = JoinSet::new();
    for (browser, jar) in jars.iter().enumerate() {
        let (servers, jar, counter, browsing) = (
            servers.clone(),
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
                let requests = plans.iter().map(|plan| {
                    let manager = &servers[plan.server];
                    tab_request(manager, &jar, &counter, &barrier, start, plan)
                });
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
pub(super) async fn futures_join_all<F: Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
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
pub(super) const DUELS: [(Act, Act); 6] = [
    (Act::Remove, Act::Remove),
    (Act::Remove, Act::Remove),
    (Act::Login, Act::Logout),
    (Act::Logout, Act::Login),
    (Act::Login, Act::Write),
    (Act::Write, Act::Write),
];

/// What one tab's request will do, drawn from the seed.
pub(super) struct Plan {
    pub(super) browser: usize,
    pub(super) tab: usize,
    pub(super) act: Act,
    /// Which of the tab's two keys a write goes to.
    pub(super) slot: u8,
    /// How long the handler works between loading and saving.
    pub(super) think: Duration,
    /// Which server answers the request.
    pub(super) server: usize,
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
            server: rng.random_range(0..SERVERS),
        }
    }
}

pub(super) async fn tab_request(
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
        ..
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
        Act::Logout => session.end(),
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
