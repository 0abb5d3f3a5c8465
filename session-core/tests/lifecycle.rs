//! The request lifecycle (`session_core::request`) against a store that
//! counts, and can refuse, calls: the rules of `finish` and the bad-input
//! promises.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use session_conformance::fixtures;
use session_store_memory::MemoryStore;
use time::Duration;

use session_core::{
    CookieConfig, Expiry, ExpiryRules, KeyRing, Record, SessionError, SessionId, SessionManager,
    SessionStore, StoreError,
};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OLD_SECRET: &[u8] = b"an older secret that still verifies";

type CountingStore = session_conformance::counting::CountingStore<MemoryStore>;

fn counting() -> CountingStore {
    CountingStore::new(MemoryStore::new())
}

fn setup() -> (SessionManager, CountingStore) {
    setup_with(ExpiryRules::default())
}

fn setup_with(rules: ExpiryRules) -> (SessionManager, CountingStore) {
    let store = counting();
    let manager = SessionManager::builder(store.clone(), KeyRing::new(SECRET).unwrap())
        .expiry(rules)
        .build()
        .unwrap();
    (manager, store)
}

/// Creates a session holding `user_id = 1`; returns its `name=value` cookie.
async fn logged_in(manager: &SessionManager) -> String {
    session_conformance::fixtures::new_session(manager, "user_id", 1)
        .await
        .0
}

/// The session a request carrying `cookie` loads.
async fn opened(manager: &SessionManager, cookie: &str) -> session_core::Session {
    manager.request([cookie]).load().await.unwrap()
}

fn signed(ring: &KeyRing, id: &str) -> String {
    format!("session={id}.{}", ring.sign("session", id))
}

#[tokio::test]
async fn a_request_that_never_loads_costs_nothing() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let (loads, writes) = (store.loads(), store.writes());
    let request = manager.request([cookie.as_str()]);
    let response = request.finish(200).await.unwrap();
    assert_eq!(
        response,
        Default::default(),
        "no headers for an untouched session"
    );
    assert_eq!((store.loads(), store.writes()), (loads, writes));
}

#[tokio::test]
async fn responses_never_show_the_cookie_value_in_debug_output() {
    let (manager, _) = setup();
    let request = manager.request(None);
    request.load().await.unwrap().insert("user_id", 1).unwrap();
    let response = request.finish(200).await.unwrap();
    let pair = response.cookie_pair().unwrap();
    let value = pair.strip_prefix("session=").unwrap();
    let shown = format!("{response:?}");
    assert!(!shown.contains(value), "{shown}");
    assert!(shown.contains("session=[redacted]; "), "{shown}");

    // The removal cookie carries no value: shown as it is.
    let request = manager.request([pair]);
    request.load().await.unwrap().flush();
    let response = request.finish(200).await.unwrap();
    let removal = response.set_cookie.clone().unwrap();
    assert!(format!("{response:?}").contains(&format!("{removal:?}")));
}

#[tokio::test]
async fn bad_cookies_give_a_fresh_session_without_asking_the_store() {
    let (manager, store) = setup();
    let good = logged_in(&manager).await;
    let value = good.strip_prefix("session=").unwrap();
    let (id, tag) = value.split_once('.').unwrap();
    let ring = KeyRing::new(SECRET).unwrap();
    let other_ring = KeyRing::new(b"somebody else's secret, 32 bytes!").unwrap();
    let mut flipped_tag = tag.to_owned();
    flipped_tag.replace_range(5..6, if &tag[5..6] == "A" { "B" } else { "A" });
    let mut flipped_id = id.to_owned();
    flipped_id.replace_range(3..4, if &id[3..4] == "A" { "B" } else { "A" });
    let huge = format!("session={}", "A".repeat(5000));
    let cases: Vec<(&str, String)> = vec![
        ("forged tag", format!("session={id}.{flipped_tag}")),
        ("tampered id", format!("session={flipped_id}.{tag}")),
        ("truncated", good[..good.len() - 3].to_owned()),
        ("no tag", format!("session={id}")),
        ("empty", "session=".to_owned()),
        ("other key", signed(&other_ring, id)),
        ("oversized", huge),
        ("non-ascii", format!("session={id}.{}é", &tag[..42])),
        ("duplicated", format!("{good}; {good}")),
        ("signed but too short an id", signed(&ring, "abc")),
        ("signed but not base64url", signed(&ring, &"*".repeat(43))),
        (
            "signed but a non-canonical id",
            signed(
                &ring,
                &format!("{}B", &URL_SAFE_NO_PAD.encode([0u8; 32])[..42]),
            ),
        ),
        ("garbage", "session=\u{0}\u{1}; ;;=;".to_owned()),
    ];
    for (name, cookie) in cases {
        let loads = store.loads();
        let request = manager.request([cookie.as_str()]);
        let session = request.load().await.unwrap();
        assert!(session.is_empty(), "{name}: the session must be fresh");
        assert_eq!(store.loads(), loads, "{name}: the store must not be asked");
        let writes = store.writes();
        let response = request.finish(200).await.unwrap();
        assert_eq!(store.writes(), writes, "{name}: nothing may be written");
        // The client did send a session cookie, so it is told to drop it.
        assert!(response.set_cookie.unwrap().contains("Max-Age=0"), "{name}");
    }
}

#[tokio::test]
async fn an_unknown_id_is_never_adopted() {
    let (manager, store) = setup();
    let ring = KeyRing::new(SECRET).unwrap();
    let planted = SessionId::generate();
    let cookie = signed(&ring, planted.expose());
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    assert!(session.is_empty());
    assert_eq!(store.loads(), 1);
    session.insert("user_id", 7).unwrap();
    let response = request.finish(200).await.unwrap();
    let issued = response.cookie_pair().unwrap().to_owned();
    assert!(
        !issued.contains(planted.expose()),
        "the planted ID was adopted"
    );
    assert!(
        store
            .inner()
            .load(&planted.store_key())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn loading_never_writes_and_empty_sessions_are_never_saved() {
    let (manager, store) = setup();
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    let _ = session.get::<u32>("anything").unwrap();
    let response = request.finish(200).await.unwrap();
    assert_eq!(store.writes(), 0);
    assert_eq!(response.set_cookie, None);
    assert!(
        response.vary_cookie,
        "a loaded session makes the response vary on Cookie"
    );

    // Inserting then removing leaves it empty: still not saved.
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("a", 1).unwrap();
    session.remove("a");
    assert_eq!(request.finish(200).await.unwrap().set_cookie, None);
    assert_eq!(store.writes(), 0);
}

#[tokio::test]
async fn read_only_requests_send_no_cookie() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let writes = store.writes();
    let request = manager.request([cookie.as_str()]);
    assert_eq!(
        request.load().await.unwrap().get::<u32>("user_id").unwrap(),
        Some(1)
    );
    let response = request.finish(200).await.unwrap();
    assert_eq!(response.set_cookie, None);
    assert!(response.vary_cookie);
    assert_eq!((store.writes(), store.touches()), (writes, 0));
}

#[tokio::test]
async fn server_errors_save_nothing() {
    let (manager, store) = setup();
    let request = manager.request(None);
    request.load().await.unwrap().insert("a", 1).unwrap();
    let response = request.finish(503).await.unwrap();
    assert_eq!(response.set_cookie, None);
    assert_eq!(store.writes(), 0);

    let cookie = logged_in(&manager).await;
    let writes = store.writes();
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().end();
    assert_eq!(request.finish(500).await.unwrap().set_cookie, None);
    assert_eq!(
        store.writes(),
        writes,
        "a failed request must not even delete"
    );
}

#[tokio::test]
async fn a_session_that_becomes_empty_is_deleted_with_its_cookie() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    let key = session.store_key().unwrap();
    session.remove("user_id");
    let response = request.finish(200).await.unwrap();
    let removal = response.set_cookie.unwrap();
    assert!(
        removal.starts_with("session=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    assert!(store.inner().load(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn flush_deletes_the_record_and_later_data_gets_a_new_id() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    let old_key = session.store_key().unwrap();
    session.flush();
    session.insert("fresh", true).unwrap();
    let response = request.finish(200).await.unwrap();
    let new_cookie = response.cookie_pair().unwrap().to_owned();
    assert_ne!(new_cookie, cookie);
    assert!(store.inner().load(&old_key).await.unwrap().is_none());
    let session = opened(&manager, &new_cookie).await;
    assert_eq!(session.keys(), ["fresh"]);
}

#[tokio::test]
async fn a_cookie_signed_with_an_older_key_works_and_is_resigned() {
    let old_store = counting();
    let old = SessionManager::new(old_store.clone(), KeyRing::new(OLD_SECRET).unwrap());
    let cookie = logged_in(&old).await;
    let rotated = SessionManager::new(
        old_store,
        KeyRing::with_fallbacks(SECRET, [OLD_SECRET]).unwrap(),
    );
    let request = rotated.request([cookie.as_str()]);
    assert_eq!(
        request.load().await.unwrap().get::<u32>("user_id").unwrap(),
        Some(1)
    );
    let response = request.finish(200).await.unwrap();
    let resigned = response
        .cookie_pair()
        .map(str::to_owned)
        .expect("re-signed with the current key");
    assert_ne!(resigned, cookie);
    assert_eq!(
        resigned.split_once('.').unwrap().0,
        cookie.split_once('.').unwrap().0,
        "same ID"
    );
    let current_only = SessionManager::new(rotated.store().clone(), KeyRing::new(SECRET).unwrap());
    let session = opened(&current_only, &resigned).await;
    assert_eq!(session.get::<u32>("user_id").unwrap(), Some(1));
    // Without the fallback, the old cookie no longer verifies.
    assert!(opened(&current_only, &cookie).await.is_empty());
}

/// Every cookie a write sets is what the newest key signs for the ID it
/// carries, whether the request's cookie was signed by an older key or
/// named an ID that was rotated; a cookie the newest key signed, on a save
/// that leaves the expiry where it was, is not sent again.
#[tokio::test]
async fn written_cookies_are_always_signed_by_the_newest_key() {
    let newest = KeyRing::new(SECRET).unwrap();
    let store = counting();
    let old = SessionManager::new(store.clone(), KeyRing::new(OLD_SECRET).unwrap());
    let rotated = SessionManager::new(
        store,
        KeyRing::with_fallbacks(SECRET, [OLD_SECRET]).unwrap(),
    );
    let expected = |pair: &str| {
        let id = pair
            .strip_prefix("session=")
            .unwrap()
            .split_once('.')
            .unwrap()
            .0;
        signed(&newest, id)
    };
    let write = |cookie: String, cycle: bool| {
        let rotated = rotated.clone();
        async move {
            let request = rotated.request([cookie.as_str()]);
            let session = request.load().await.unwrap();
            assert_eq!(session.get::<u32>("user_id").unwrap(), Some(1));
            session.insert("n", 2).unwrap();
            if cycle {
                session.cycle_id();
            }
            let response = request.finish(200).await.unwrap();
            response.cookie_pair().map(str::to_owned)
        }
    };

    let by_old = logged_in(&old).await;
    let resigned = write(by_old.clone(), false).await.expect("a cookie");
    assert_ne!(resigned, by_old, "an older key's cookie must be re-signed");
    assert_eq!(resigned, expected(&by_old));

    let by_newest = logged_in(&rotated).await;
    assert_eq!(by_newest, expected(&by_newest));
    // Signed by the newest key and with an expiry that did not move: the
    // browser's cookie already says what a new one would.
    assert_eq!(write(by_newest.clone(), false).await, None);

    let cycled = write(by_newest.clone(), true).await.expect("a cookie");
    assert_ne!(
        cycled.split_once('.'),
        by_newest.split_once('.'),
        "a new ID"
    );
    assert_eq!(cycled, expected(&cycled));
    let session = opened(&rotated, &cycled).await;
    assert_eq!(session.get::<u32>("n").unwrap(), Some(2));
    assert!(
        opened(&rotated, &by_newest).await.is_empty(),
        "the old ID is retired"
    );
}

#[tokio::test]
async fn undecodable_data_is_no_session_and_is_not_overwritten_on_load() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let key = opened(&manager, &cookie).await.store_key().unwrap();
    let mut record = store.inner().load(&key).await.unwrap().unwrap();
    record.data = b"\xff not json".to_vec();
    store
        .inner()
        .update(
            &Record {
                version: 2,
                ..record.clone()
            },
            1,
        )
        .await
        .unwrap();
    let writes = store.writes();
    let request = manager.request([cookie.as_str()]);
    assert!(request.load().await.unwrap().is_empty());
    request.finish(200).await.unwrap();
    assert_eq!(store.writes(), writes);
    assert_eq!(
        store.inner().load(&key).await.unwrap().unwrap().data,
        record.data
    );
}

#[tokio::test]
async fn store_failures_are_errors_not_empty_sessions() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    store.set_down(true);
    let request = manager.request([cookie.as_str()]);
    let err = request.load().await.unwrap_err();
    assert_eq!(err.status_code(), 503);
    store.set_down(false);
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("b", 2).unwrap();
    store.set_down(true);
    let err = request.finish(200).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Store(StoreError::Unavailable(_))),
        "{err}"
    );
    store.set_down(false);
    let session = opened(&manager, &cookie).await;
    assert_eq!(
        session.get::<u32>("user_id").unwrap(),
        Some(1),
        "the session survived the outage"
    );
}

#[tokio::test]
async fn reads_extend_the_expiry_through_touch_once_per_interval() {
    let (manager, store) = setup_with(ExpiryRules::default().touch_interval(Duration::ZERO));
    let cookie = logged_in(&manager).await;
    let key = opened(&manager, &cookie).await.store_key().unwrap();
    let before = store.inner().load(&key).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let writes = store.writes();
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap();
    let response = request.finish(200).await.unwrap();
    assert_eq!(store.touches(), 1, "a read extends the expiry");
    assert_eq!(store.writes(), writes, "through touch, not a save");
    assert!(response.set_cookie.unwrap().contains("Max-Age=1209600"));
    let after = store.inner().load(&key).await.unwrap().unwrap();
    assert!(after.expires_at > before.expires_at);
    assert_eq!((after.version, after.data), (before.version, before.data));

    // With the default interval (a minute) the same read does not touch.
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap();
    assert_eq!(request.finish(200).await.unwrap().set_cookie, None);
    assert_eq!(store.touches(), 0);
}

#[tokio::test]
async fn expiry_overrides_reach_the_cookie_and_the_record() {
    let (manager, store) = setup();
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("a", 1).unwrap();
    session.set_expiry(Expiry::BrowserClose);
    let header = request.finish(200).await.unwrap().set_cookie.unwrap();
    assert!(
        !header.contains("Max-Age") && !header.contains("Expires"),
        "{header}"
    );
    let key = session.store_key().unwrap();
    let record = store.inner().load(&key).await.unwrap().unwrap();
    assert_eq!(
        record.expires_at - record.created_at,
        Duration::days(14),
        "the server still expires it"
    );

    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("a", 1).unwrap();
    session.set_expiry(Expiry::AfterIdle(Duration::seconds(300)));
    let header = request.finish(200).await.unwrap().set_cookie.unwrap();
    assert!(header.contains("Max-Age=300"), "{header}");
    let record = store
        .inner()
        .load(&session.store_key().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.expires_at - record.created_at,
        Duration::seconds(300)
    );
}

#[tokio::test]
async fn the_absolute_lifetime_caps_every_extension() {
    let rules = ExpiryRules::default()
        .absolute_lifetime(Duration::hours(1))
        .touch_interval(Duration::ZERO);
    let (manager, store) = setup_with(rules);
    let cookie = logged_in(&manager).await;
    let key = opened(&manager, &cookie).await.store_key().unwrap();
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("more", 1).unwrap();
    request.finish(200).await.unwrap();
    let record = store.inner().load(&key).await.unwrap().unwrap();
    assert_eq!(record.expires_at, record.created_at + Duration::hours(1));
}

#[tokio::test]
async fn expired_sessions_are_not_loaded() {
    let (manager, _store) = setup();
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("a", 1).unwrap();
    session.set_expiry(Expiry::AfterIdle(Duration::seconds(1)));
    let cookie = fixtures::finish(&request).await;
    assert!(!opened(&manager, &cookie).await.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let request = manager.request([cookie.as_str()]);
    assert!(request.load().await.unwrap().is_empty());
    assert!(
        request
            .finish(200)
            .await
            .unwrap()
            .set_cookie
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn the_user_index_ends_other_devices() {
    let (manager, _store) = setup();
    let mut cookies = Vec::new();
    for _ in 0..3 {
        let request = manager.request(None);
        let session = request.load().await.unwrap();
        session.set_user("alice").unwrap();
        cookies.push(fixtures::finish(&request).await);
    }
    let this = manager.request([cookies[0].as_str()]).load().await.unwrap();
    assert_eq!(manager.sessions_of("alice").await.unwrap().len(), 3);
    let ended = manager
        .end_sessions_of("alice", this.store_key().as_ref())
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(this.user().as_deref(), Some("alice"));
    for other in &cookies[1..] {
        assert!(opened(&manager, other).await.is_empty());
    }
}

#[tokio::test]
async fn cookie_attributes_follow_the_config() {
    let store = counting();
    let manager = SessionManager::builder(store, KeyRing::new(SECRET).unwrap())
        .cookie(CookieConfig::new("__Host-sid"))
        .build()
        .unwrap();
    let request = manager.request(None);
    request.load().await.unwrap().insert("a", 1).unwrap();
    let header = request.finish(200).await.unwrap().set_cookie.unwrap();
    assert!(header.starts_with("__Host-sid="), "{header}");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attr), "{attr} missing: {header}");
    }
    let bad = SessionManager::builder(counting(), KeyRing::new(SECRET).unwrap())
        .cookie(CookieConfig::new("__Host-sid").secure(false))
        .build();
    assert!(bad.is_err());
}

#[tokio::test]
async fn an_ended_session_deletes_its_cookie_and_record() {
    let (manager, store) = setup();
    let cookie = logged_in(&manager).await;
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    let key = session.store_key().unwrap();
    session.end();
    let response = request.finish(200).await.unwrap();
    assert!(response.set_cookie.unwrap().contains("Max-Age=0"));
    assert!(!response.ended_concurrently);
    assert!(store.inner().load(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn contention_beyond_the_retry_bound_is_an_error() {
    let store = counting();
    let manager = SessionManager::builder(store.clone(), KeyRing::new(SECRET).unwrap())
        .max_conflict_retries(0)
        .build()
        .unwrap();
    let cookie = logged_in(&manager).await;
    let a = manager.request([cookie.as_str()]);
    let b = manager.request([cookie.as_str()]);
    a.load().await.unwrap().insert("a", 1).unwrap();
    b.load().await.unwrap().insert("b", 1).unwrap();
    a.finish(200).await.unwrap();
    let err = b.finish(200).await.unwrap_err();
    assert!(matches!(err, SessionError::Contention(0)), "{err}");
    assert_eq!(err.status_code(), 503);
}

/// A store without a user index: the memory store with its index hidden.
#[derive(Clone)]
struct NoIndex(MemoryStore);

#[session_core::async_trait]
impl SessionStore for NoIndex {
    async fn load(&self, key: &session_core::StoreKey) -> Result<Option<Record>, StoreError> {
        self.0.load(key).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.0.create(record).await
    }
    async fn update(&self, record: &Record, expected_version: u64) -> Result<(), StoreError> {
        self.0.update(record, expected_version).await
    }
    async fn delete(&self, key: &session_core::StoreKey) -> Result<(), StoreError> {
        self.0.delete(key).await
    }
    async fn touch(
        &self,
        key: &session_core::StoreKey,
        expires_at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.0.touch(key, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.0.delete_expired().await
    }
}

/// Logs `user` in with one other key; the stored record and the cookie.
async fn bound_record(manager: &SessionManager, store: &dyn SessionStore) -> (Record, String) {
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("theme", "dark").unwrap();
    session.set_user("alice").unwrap();
    let cookie = fixtures::finish(&request).await;
    let key = session.store_key().unwrap();
    (store.load(&key).await.unwrap().unwrap(), cookie)
}

/// With a user index, the binding is kept once, in `Record::user`: the
/// encoded data leaves it out and loading puts it back. Without one, the
/// data keeps it. Either way the session reads the same.
#[tokio::test]
async fn a_bound_session_stores_its_user_once_where_the_store_keeps_it() {
    let data = |r: &Record| serde_json::from_slice::<serde_json::Value>(&r.data).unwrap();
    let (manager, store) = setup();
    let (record, cookie) = bound_record(&manager, &store).await;
    assert_eq!(record.user.as_deref(), Some("alice"));
    assert_eq!(data(&record), serde_json::json!({"theme": "dark"}));
    let session = opened(&manager, &cookie).await;
    assert_eq!(session.user().as_deref(), Some("alice"));
    assert_eq!(
        session.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
    // Saved again (a change beside the binding), then unbound.
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("n", 1).unwrap();
    request.finish(200).await.unwrap();
    assert_eq!(
        opened(&manager, &cookie).await.user().as_deref(),
        Some("alice")
    );
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().clear_user();
    request.finish(200).await.unwrap();
    assert_eq!(opened(&manager, &cookie).await.user(), None);
    let record = store.load(&record.key).await.unwrap().unwrap();
    assert_eq!(
        (record.user.as_deref(), data(&record)),
        (None, serde_json::json!({"theme": "dark", "n": 1}))
    );

    // Bound with nothing else: the data is empty, the session is not.
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.set_user("bob").unwrap();
    let cookie = fixtures::finish(&request).await;
    let key = session.store_key().unwrap();
    assert_eq!(
        data(&store.load(&key).await.unwrap().unwrap()),
        serde_json::json!({})
    );
    assert_eq!(
        opened(&manager, &cookie).await.user().as_deref(),
        Some("bob")
    );

    // A record that carries the binding in its data too loads the same.
    let mut old = store.load(&key).await.unwrap().unwrap();
    old.data = br#"{"_session_user":"bob","k":2}"#.to_vec();
    old.version += 1;
    store.update(&old, old.version - 1).await.unwrap();
    let session = opened(&manager, &cookie).await;
    assert_eq!(
        (session.user().as_deref(), session.get::<u32>("k").unwrap()),
        (Some("bob"), Some(2))
    );

    // Without a user index.
    let store = NoIndex(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), KeyRing::new(SECRET).unwrap());
    let (record, cookie) = bound_record(&manager, &store).await;
    assert_eq!(
        data(&record),
        serde_json::json!({"theme": "dark", "_session_user": "alice"})
    );
    assert_eq!(
        opened(&manager, &cookie).await.user().as_deref(),
        Some("alice")
    );
}

/// A save sets the cookie again only when the browser's would say
/// something else: the expiry moved, the request changed how the session
/// expires, or an older key signed the cookie. Otherwise the response
/// carries no `Set-Cookie` (the browser keeps what it has).
#[tokio::test]
async fn a_save_sets_the_cookie_only_when_it_would_change() {
    let (manager, _) = setup();
    let cookie = logged_in(&manager).await;
    let save = async |change: &dyn Fn(&session_core::Session)| {
        let request = manager.request([cookie.as_str()]);
        change(&request.load().await.unwrap());
        request.finish(200).await.unwrap().set_cookie
    };

    // The expiry stays (it moves about once a touch interval, as reads move it).
    assert_eq!(save(&|s| s.insert("n", 1).unwrap()).await, None);
    // Stored, all the same.
    assert_eq!(
        opened(&manager, &cookie).await.get::<u32>("n").unwrap(),
        Some(1)
    );

    let shorter = save(&|s| s.set_expiry(Expiry::AfterIdle(Duration::hours(1))))
        .await
        .expect("a new expiry is the cookie's too");
    assert!(shorter.contains("Max-Age=3600"), "{shorter}");
    let closing = save(&|s| s.set_expiry(Expiry::BrowserClose))
        .await
        .expect("a browser-session cookie replaces the persistent one");
    assert!(
        !closing.contains("Max-Age") && !closing.contains("Expires"),
        "{closing}"
    );
    assert_eq!(save(&|s| s.insert("n", 2).unwrap()).await, None);

    // With no touch interval, a save in a later second moves the expiry.
    let (eager, _) = setup_with(ExpiryRules::default().touch_interval(Duration::ZERO));
    let cookie = logged_in(&eager).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let request = eager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("n", 1).unwrap();
    let moved = request.finish(200).await.unwrap().set_cookie;
    assert!(moved.is_some_and(|c| c.contains("Max-Age=1209600")));
}
