//! Sessions shared with a real Django on its `cached_db` backend (Django's
//! table in SQLite plus its Redis cache); Django installed with pip by the
//! test when missing.
#![cfg(all(feature = "django", feature = "redis", feature = "sqlite"))]

use serde_json::{Value, json};
use session_conformance::proxy::TcpProxy;
use session_conformance::{fixtures, services};
use sessions::django::signing::DjangoSigner;
use sessions::django_cache::DjangoCacheStore;
use sessions::{DjangoCachedDbStore, DjangoSqlStore, KeyRing, RedisStore, SessionManager};

const SECRET: &str = "django-insecure-cached-db-secret";

#[tokio::test(flavor = "multi_thread")]
async fn shared_with_djangos_cached_db_backend() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let redis_url = services::url("SESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let redis = match RedisStore::connect(&redis_url).await {
        Ok(r) => r,
        Err(e) => return services::unavailable::<()>("Redis", e).unwrap_or(()),
    };
    let dir = std::env::temp_dir().join(services::unique_name("django-cached-db"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite:{}", dir.join("db.sqlite3").display());
    let env = [
        ("DJANGO_DB", db.as_str()),
        ("DJANGO_SECRET", SECRET),
        ("DJANGO_SESSION_ENGINE", "cached_db"),
        ("DJANGO_REDIS", redis_url.as_str()),
        // A KEY_PREFIX and VERSION, so both sides' keys must agree on more
        // than the defaults.
        ("DJANGO_KEY_PREFIX", "shop"),
        ("DJANGO_CACHE_VERSION", "3"),
    ];
    let django = |args: &[&str]| services::run_django(&env, args);
    django(&["migrate"]);
    let signer = DjangoSigner::new(SECRET, Vec::<&str>::new()).unwrap();
    let store = DjangoCachedDbStore::new(
        DjangoSqlStore::connect(&db).await.unwrap(),
        DjangoCacheStore::cached_db(redis, "shop", 3),
        signer.clone(),
    );
    let manager = SessionManager::builder(store, KeyRing::new([3u8; 32]).unwrap())
        .django(signer.clone())
        .build()
        .unwrap();

    // Django writes (table and cache); Rust reads.
    let data = json!({"user_id": 5, "name": "Zoë"});
    let key = django(&["write", &data.to_string()]);
    let cookie = format!("sessionid={key}");
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(session.to_json(), data);

    // Rust writes; Django, which reads its cache first, sees the new data.
    session.insert("from_rust", "ü").unwrap();
    request.finish(200).await.unwrap();
    let seen: Value = serde_json::from_str(&django(&["read", &key])).unwrap();
    assert_eq!(
        seen["from_rust"], "ü",
        "Django's cache was left stale: {seen}"
    );

    // A session Rust creates is visible to Django.
    let (created, _) = fixtures::new_session(&manager, "made_in", "rust").await;
    let created = created.strip_prefix("sessionid=").unwrap().to_owned();
    assert_eq!(django(&["read", &created]), r#"{"made_in": "rust"}"#);

    // Rust logs out: gone from Django's cache and table.
    let request = manager.request([format!("sessionid={created}").as_str()]);
    request.load().await.unwrap().end();
    request.finish(200).await.unwrap();
    assert_eq!(django(&["read", &created]), "{}");
    assert_eq!(django(&["exists", &created]), "false");

    // Django logs out while Rust writes: the logout stands.
    let slow = manager.request([cookie.as_str()]);
    slow.load().await.unwrap().insert("late", 1).unwrap();
    django(&["delete", &key]);
    assert!(slow.finish(200).await.unwrap().ended_concurrently);
    assert_eq!(django(&["read", &key]), "{}");

    // Django logs out between a Rust save's two writes (the row is saved,
    // the cache write still on its way): the logout stands in the cache,
    // which Django reads first.
    let target = session_conformance::proxy::engine_addr(&redis_url)
        .await
        .unwrap();
    let proxy = TcpProxy::start(target).await.unwrap();
    let slow_redis = RedisStore::builder()
        .timeout(std::time::Duration::from_secs(20))
        .connect(&format!("redis://{}", proxy.addr()))
        .await
        .unwrap();
    let slow_store = DjangoCachedDbStore::new(
        DjangoSqlStore::connect(&db).await.unwrap(),
        DjangoCacheStore::cached_db(slow_redis, "shop", 3),
        signer.clone(),
    );
    let slow_manager = SessionManager::builder(slow_store, KeyRing::new([3u8; 32]).unwrap())
        .django(signer.clone())
        .build()
        .unwrap();
    let key = django(&["write", r#"{"user_id": 7}"#]);
    let cookie = format!("sessionid={key}");
    let request = slow_manager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("late", 1).unwrap();
    proxy.stall();
    let saving = tokio::spawn(async move { request.finish(200).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    django(&["delete", &key]);
    proxy.resume();
    saving.await.unwrap().unwrap();
    assert_eq!(
        django(&["exists", &key]),
        "false",
        "a save racing Django's logout put the session back in the cache"
    );
    let _ = std::fs::remove_dir_all(dir);
}
