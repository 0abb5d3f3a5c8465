//! Django's signed-cookie backend: the session in the cookie, read and
//! written by real Django (pip-installed when missing) and by the manager.
#![cfg(feature = "django")]

use serde_json::{Value, json};
use session_conformance::{fixtures, services};
use session_core::django::signing::DjangoSigner;
use session_core::time::Duration;
use session_core::{ExpiryRules, KeyRing, SessionManager};
use session_store_memory::MemoryStore;

const SECRET: &str = "test-secret";

fn manager(
    idle: Duration,
) -> (
    SessionManager,
    session_conformance::counting::CountingStore<MemoryStore>,
) {
    let store = session_conformance::counting::CountingStore::new(MemoryStore::new());
    let manager = SessionManager::builder(store.clone(), KeyRing::new([4u8; 32]).unwrap())
        .expiry(ExpiryRules::default().idle_timeout(idle))
        .django_signed_cookies(DjangoSigner::new(SECRET, Vec::<&str>::new()).unwrap())
        .build()
        .unwrap();
    (manager, store)
}

#[tokio::test]
async fn the_shared_vector_loads_until_its_max_age() {
    let vectors: Value = serde_json::from_str(include_str!("vectors/django-signing.json")).unwrap();
    let v = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "signed_cookie")
        .unwrap()
        .clone();
    let cookie = format!("sessionid={}", v["encoded"].as_str().unwrap());
    // Signed in 2023 with a 14-day age: expired now, so empty.
    let (fresh, store) = manager(Duration::days(14));
    assert!(
        fresh
            .request([cookie.as_str()])
            .load()
            .await
            .unwrap()
            .is_empty()
    );
    // With an age that still covers it, it reads as Django wrote it.
    let (lenient, _) = manager(Duration::days(3650 * 3));
    assert_eq!(
        lenient
            .request([cookie.as_str()])
            .load()
            .await
            .unwrap()
            .to_json(),
        v["data"]
    );
    assert_eq!(
        (store.loads(), store.writes()),
        (0, 0),
        "the signed-cookie backend never touches a store"
    );
}

#[tokio::test]
async fn sessions_live_in_the_cookie() {
    let (manager, store) = manager(Duration::days(14));
    let request = manager.request(None);
    request
        .load()
        .await
        .unwrap()
        .insert("cart", json!(["é"]))
        .unwrap();
    let response = request.finish(200).await.unwrap();
    let cookie = response.cookie_pair().unwrap().to_owned();
    assert!(response.set_cookie.unwrap().contains("Max-Age=1209600"));
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(session.to_json(), json!({"cart": ["é"]}));
    assert_eq!(
        request.finish(200).await.unwrap().set_cookie,
        None,
        "an unchanged session sets no cookie"
    );
    // Tampered: empty. Ended: the cookie is deleted.
    let tampered = format!("{}x", &cookie[..cookie.len() - 1]);
    assert!(
        manager
            .request([tampered.as_str()])
            .load()
            .await
            .unwrap()
            .is_empty()
    );
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().end();
    assert!(
        request
            .finish(200)
            .await
            .unwrap()
            .set_cookie
            .unwrap()
            .contains("Max-Age=0")
    );
    // Too large for a cookie: an error, not a truncated cookie.
    let request = manager.request(None);
    // Random text does not compress below the cookie limit.
    let noise: String = (0..150)
        .map(|_| session_core::SessionId::generate().expose().to_owned())
        .collect();
    request.load().await.unwrap().insert("big", noise).unwrap();
    assert!(request.finish(200).await.is_err());
    assert_eq!((store.loads(), store.writes()), (0, 0));
}

#[tokio::test]
async fn real_django_reads_and_writes_the_same_cookies() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let dir = std::env::temp_dir().join(services::unique_name("django-cookies"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite:{}", dir.join("db.sqlite3").display());
    let env = [
        ("DJANGO_DB", db.as_str()),
        ("DJANGO_SECRET", SECRET),
        ("DJANGO_SESSION_ENGINE", "signed_cookies"),
    ];
    let django = |args: &[&str]| services::run_django(&env, args);
    let (manager, _) = manager(Duration::days(14));
    // Django writes the cookie; Rust reads it.
    let data = json!({"user_id": 123, "name": "Zoë 😀", "pi": 3.5});
    let value = django(&["write", &data.to_string()]);
    let cookie = format!("sessionid={value}");
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(session.to_json(), data);
    // Rust changes it; Django reads the new cookie.
    session.insert("from_rust", "ü").unwrap();
    let written = fixtures::finish(&request).await;
    let seen: Value = serde_json::from_str(&django(&[
        "read",
        written.strip_prefix("sessionid=").unwrap(),
    ]))
    .unwrap();
    assert_eq!(
        (seen["name"].as_str(), seen["from_rust"].as_str()),
        (Some("Zoë 😀"), Some("ü"))
    );
    let _ = std::fs::remove_dir_all(dir);
}
