//! Sessions shared with a real Django on its `cached_db` backend (Django's
//! table in SQLite plus its Redis cache); Django installed with pip by the
//! test when missing.
#![cfg(all(feature = "django", feature = "redis", feature = "sqlite"))]

use std::process::Command;

use serde_json::{Value, json};
use session_conformance::services;
use sessions::django::signing::DjangoSigner;
use sessions::django_cache::DjangoCacheStore;
use sessions::{DjangoCachedDbStore, DjangoSqlStore, KeyRing, RedisStore, SessionManager};

const SECRET: &str = "django-insecure-cached-db-secret";
const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../session-store-sql/tests/django_helper.py"
);

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
    let django = |args: &[&str]| {
        let o = Command::new("python3")
            .arg(HELPER)
            .args(args)
            .env("DJANGO_DB", &db)
            .env("DJANGO_SECRET", SECRET)
            .env("DJANGO_SESSION_ENGINE", "cached_db")
            .env("DJANGO_REDIS", &redis_url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
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
    let created = request
        .finish(200)
        .await
        .unwrap()
        .cookie_pair()
        .unwrap()
        .to_owned();
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
