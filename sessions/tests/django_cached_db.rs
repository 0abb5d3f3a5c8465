//! Sessions shared with a real Django on its `cached_db` backend (Django's
//! table in SQLite plus its Redis cache); Django installed with pip by the
//! test when missing.
#![cfg(all(feature = "django", feature = "redis", feature = "sqlite"))]

use serde_json::{Value, json};
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
    ];
    let django = |args: &[&str]| services::run_django(&env, args);
    django(&["migrate"]);
    let signer = DjangoSigner::new(SECRET, Vec::<&str>::new()).unwrap();
    let store = DjangoCachedDbStore::new(
        DjangoSqlStore::connect(&db).await.unwrap(),
        DjangoCacheStore::cached_db(redis, "", 1),
        signer.clone(),
    );
    let manager = SessionManager::builder(store, KeyRing::new([3u8; 32]).unwrap())
        .django(signer)
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
    let request = manager.request(None);
    request
        .load()
        .await
        .unwrap()
        .insert("made_in", "rust")
        .unwrap();
    let created = fixtures::finish(&request).await;
    let created = created.strip_prefix("sessionid=").unwrap().to_owned();
    assert_eq!(django(&["read", &created]), r#"{"made_in": "rust"}"#);

    // Rust logs out: gone from Django's cache and table.
    let request = manager.request([format!("sessionid={created}").as_str()]);
    request.load().await.unwrap().destroy();
    request.finish(200).await.unwrap();
    assert_eq!(django(&["read", &created]), "{}");
    assert_eq!(django(&["exists", &created]), "false");

    // Django logs out while Rust writes: the logout stands.
    let slow = manager.request([cookie.as_str()]);
    slow.load().await.unwrap().insert("late", 1).unwrap();
    django(&["delete", &key]);
    assert!(slow.finish(200).await.unwrap().ended_concurrently);
    assert_eq!(django(&["read", &key]), "{}");
    let _ = std::fs::remove_dir_all(dir);
}
