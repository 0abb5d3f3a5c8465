//! Sessions shared with a real Django on its `cache` backend over Redis
//! (Django installed with pip by the test when missing).

use serde_json::{Value, json};
use session_conformance::{fixtures, services};
use session_core::django::pickle::PickleCodec;
use session_core::django::signing::DjangoSigner;
use session_core::{KeyRing, SessionManager};
use session_store_redis::{DjangoCacheStore, RedisStore};

const SECRET: &str = "django-insecure-cache-backend-secret";

fn redis_url() -> String {
    services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// The Django app's cache settings: a `KEY_PREFIX` and a `VERSION`, so the
/// keys both sides build must agree on more than the defaults.
const KEY_PREFIX: &str = "shop";
const VERSION: u32 = 3;

fn django(db: &str, args: &[&str]) -> String {
    let redis = redis_url();
    let version = VERSION.to_string();
    let env = [
        ("DJANGO_DB", db),
        ("DJANGO_SECRET", SECRET),
        ("DJANGO_SESSION_ENGINE", "cache"),
        ("DJANGO_REDIS", redis.as_str()),
        ("DJANGO_KEY_PREFIX", KEY_PREFIX),
        ("DJANGO_CACHE_VERSION", version.as_str()),
    ];
    services::run_django(&env, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_with_djangos_cache_backend() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let store = match RedisStore::connect(&redis_url()).await {
        Ok(s) => DjangoCacheStore::with_keys(s, KEY_PREFIX, VERSION),
        Err(e) => return services::unavailable::<()>("Redis", e).unwrap_or(()),
    };
    let dir = std::env::temp_dir().join(services::unique_name("django-cache"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite:{}", dir.join("db.sqlite3").display());
    let manager = SessionManager::builder(store, KeyRing::new([2u8; 32]).unwrap())
        .django(DjangoSigner::new(SECRET, Vec::<&str>::new()).unwrap())
        .codec(PickleCodec)
        .build()
        .unwrap();

    // Django writes, Rust reads.
    let data = json!({"user_id": 123, "name": "Zoë 😀", "cart": [1, 2.5, null, true]});
    let key = django(&db, &["write", &data.to_string()]);
    let cookie = format!("sessionid={key}");
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(session.to_json(), data);

    // One list under two keys: Django pickles it once and refers to it.
    let shared = django(&db, &["write-shared", r#"[1, {"x": "y"}]"#, "a", "b"]);
    let reader = manager.request([format!("sessionid={shared}").as_str()]);
    assert_eq!(
        reader.load().await.unwrap().to_json(),
        json!({"a": [1, {"x": "y"}], "b": [1, {"x": "y"}]})
    );

    // Rust writes into it; Django reads both.
    session.insert("from_rust", "ü").unwrap();
    request.finish(200).await.unwrap();
    let seen: Value = serde_json::from_str(&django(&db, &["read", &key])).unwrap();
    assert_eq!(
        (seen["name"].as_str(), seen["from_rust"].as_str()),
        (Some("Zoë 😀"), Some("ü"))
    );

    // A session Rust creates is a Django cache session.
    let (created, _) = fixtures::new_session(&manager, "made_in", "rust").await;
    assert_eq!(
        django(&db, &["read", created.strip_prefix("sessionid=").unwrap()]),
        r#"{"made_in": "rust"}"#
    );

    // A session past 64 KiB (Python frames pickles in 64 KiB pieces; a
    // frame must not end inside an opcode) reads in Django.
    let big: Vec<String> = (0..30_000).map(|i| format!("v{i}")).collect();
    let request = manager.request(None);
    request.load().await.unwrap().insert("big", &big).unwrap();
    let large = fixtures::finish(&request).await;
    let large = large.strip_prefix("sessionid=").unwrap().to_owned();
    let seen: Value = serde_json::from_str(&django(&db, &["read", &large])).unwrap();
    assert_eq!(seen["big"].as_array().map(Vec::len), Some(big.len()));
    assert_eq!(seen["big"][29_999], "v29999");

    // Django logs out while Rust writes: the logout stands.
    let slow = manager.request([cookie.as_str()]);
    slow.load().await.unwrap().insert("late", 1).unwrap();
    django(&db, &["delete", &key]);
    assert!(slow.finish(200).await.unwrap().ended_concurrently);
    assert_eq!(
        django(&db, &["exists", &key]),
        "false",
        "a Rust write resurrected a Django logout"
    );

    // Concurrent Rust writers on one Django cache session all land.
    let key = django(&db, &["write", r#"{"seed": 0}"#]);
    let cookie = format!("sessionid={key}");
    session_conformance::fixtures::write_concurrently(&manager, &cookie, 16).await;
    let seen: Value = serde_json::from_str(&django(&db, &["read", &key])).unwrap();
    assert!(
        (0..16).all(|i| seen[format!("k{i}")] == i),
        "lost writes: {seen}"
    );
    // Leave nothing in the shared Redis (Django's keys live 14 days).
    for k in [
        key.as_str(),
        shared.as_str(),
        created.strip_prefix("sessionid=").unwrap(),
        large.as_str(),
    ] {
        manager
            .store()
            .delete(&session_core::StoreKey::new(k))
            .await
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(dir);
}
