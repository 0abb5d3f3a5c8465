//! Sessions shared with a real Django (installed with pip by this test when
//! missing): Django writes and Rust reads, Rust writes and Django reads, on
//! Django's own table in SQLite and PostgreSQL, with key rotation, expiry,
//! non-ASCII data and a logout racing a Rust write.

use std::time::Duration;

use serde_json::{Value, json};
use session_conformance::{fixtures, services};
use session_core::django::signing::DjangoSigner;
use session_core::{Expiry, KeyRing, SessionManager};
use session_store_sql::DjangoSqlStore;

const SECRET: &str = "django-insecure-shared-secret-for-the-round-trip-tests";
const OLD: &str = "django-insecure-the-secret-before-rotation";
fn django(db: &str, secret: &str, fallbacks: &str, args: &[&str]) -> String {
    let env = [
        ("DJANGO_DB", db),
        ("DJANGO_SECRET", secret),
        ("DJANGO_FALLBACKS", fallbacks),
    ];
    services::run_django(&env, args)
}

fn manager(store: DjangoSqlStore, secret: &str, fallbacks: &[&str]) -> SessionManager {
    SessionManager::builder(store, KeyRing::new([1u8; 32]).unwrap())
        .django(DjangoSigner::new(secret, fallbacks.to_vec()).unwrap())
        .build()
        .unwrap()
}

async fn rust_read(manager: &SessionManager, key: &str) -> Value {
    let request = manager.request([format!("sessionid={key}").as_str()]);
    let session = request.load().await.unwrap();
    request.finish(200).await.unwrap();
    session.to_json()
}

async fn shared_sessions(db: &str) {
    django(db, SECRET, "", &["migrate"]);
    let store = DjangoSqlStore::connect(db).await.expect("the Django table");
    let rust = manager(store.clone(), SECRET, &[]);

    // Django writes, Rust reads (non-ASCII, floats, nesting).
    let data = json!({"user_id": 123, "name": "Zoë 😀 “quotes”", "pi": 3.25, "nested": {"a": [1, 2.5, null]}});
    let key = django(db, SECRET, "", &["write", &data.to_string()]);
    assert_eq!(key.len(), 32);
    assert_eq!(
        rust_read(&rust, &key).await,
        data,
        "Rust read Django's session differently"
    );

    // Rust writes into Django's session; Django reads both.
    let request = rust.request([format!("sessionid={key}").as_str()]);
    request
        .load()
        .await
        .unwrap()
        .insert("from_rust", json!(["ü€😀", 1.5, 1e16]))
        .unwrap();
    let response = request.finish(200).await.unwrap();
    // Django mode keeps Django's key: the browser's cookie stands (a save
    // that leaves the expiry where it was sends none) or is set again
    // with the same key.
    let same_key = format!("sessionid={key}");
    assert!(
        response.cookie_pair().is_none_or(|c| c == same_key),
        "Django mode keeps Django's key: {:?}",
        response.cookie_pair()
    );
    let seen: Value = serde_json::from_str(&django(db, SECRET, "", &["read", &key])).unwrap();
    assert_eq!(seen["name"], data["name"]);
    assert_eq!(
        seen["from_rust"],
        json!(["ü€😀", 1.5, 1e16]),
        "Django read Rust's write differently"
    );

    // A session Rust creates is a Django session.
    let (cookie, _) = fixtures::new_session(&rust, "made_in", "rust").await;
    let new_key = cookie.strip_prefix("sessionid=").unwrap();
    assert_eq!(
        django(db, SECRET, "", &["read", new_key]),
        r#"{"made_in": "rust"}"#
    );

    // Key rotation: Django signed with the old secret; Rust has it as a fallback.
    let old_key = django(db, OLD, "", &["write", r#"{"era": "before"}"#]);
    let rotated = manager(store.clone(), SECRET, &[OLD]);
    assert_eq!(
        rust_read(&rotated, &old_key).await,
        json!({"era": "before"})
    );
    assert_eq!(
        rust_read(&rust, &old_key).await,
        json!({}),
        "without the fallback the old session is empty"
    );
    let request = rotated.request([format!("sessionid={old_key}").as_str()]);
    request
        .load()
        .await
        .unwrap()
        .insert("era", "after")
        .unwrap();
    request.finish(200).await.unwrap();
    assert_eq!(
        django(db, SECRET, OLD, &["read", &old_key]),
        r#"{"era": "after"}"#
    );

    // Expiry, seen alike on both sides.
    let request = rust.request(None);
    let session = request.load().await.unwrap();
    session.insert("short", true).unwrap();
    session.set_expiry(Expiry::AfterIdle(session_core::time::Duration::seconds(3)));
    let cookie = fixtures::finish(&request).await;
    let short = cookie.strip_prefix("sessionid=").unwrap().to_owned();
    let stored: Value = serde_json::from_str(&django(db, SECRET, "", &["read", &short])).unwrap();
    assert_eq!(
        stored["_session_expiry"], 3,
        "set_expiry is stored the way Django stores it"
    );
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert_eq!(django(db, SECRET, "", &["read", &short]), "{}");
    assert_eq!(rust_read(&rust, &short).await, json!({}));

    // Django logs out while a Rust request is writing: the session stays gone.
    let key = django(db, SECRET, "", &["write", r#"{"user_id": 7}"#]);
    let slow = rust.request([format!("sessionid={key}").as_str()]);
    slow.load().await.unwrap().insert("late", 1).unwrap();
    django(db, SECRET, "", &["delete", &key]);
    let response = slow.finish(200).await.unwrap();
    assert!(
        response.ended_concurrently,
        "the Rust write must learn of the logout"
    );
    assert_eq!(
        django(db, SECRET, "", &["exists", &key]),
        "false",
        "a Rust write resurrected a Django logout"
    );

    // Django's login hash: Rust computes what Django computes, and checks
    // a session the way Django's get_user does (fallback secrets included).
    let password = "pbkdf2_sha256$870000$somesalt$c29tZWhhc2g=";
    let expected = django(db, SECRET, "", &["authhash", password]);
    let signer = DjangoSigner::new(SECRET, [OLD]).unwrap();
    assert_eq!(
        session_core::django::auth::session_auth_hash(&signer, password),
        expected
    );
    let old_hash = django(db, OLD, "", &["authhash", password]);
    let login = json!({"_auth_user_id": "7", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": old_hash});
    let key = django(db, OLD, "", &["write", &login.to_string()]);
    let request = rotated.request([format!("sessionid={key}").as_str()]);
    let session = request.load().await.unwrap();
    let user = session_core::django::auth::logged_in_user(&session).expect("a Django login");
    assert_eq!(user.id, "7");
    assert!(session_core::django::auth::session_is_valid_for(
        &signer, &session, password
    ));
    assert!(!session_core::django::auth::session_is_valid_for(
        &signer,
        &session,
        "pbkdf2_sha256$870000$other$x="
    ));

    // Concurrent Rust writers on one Django session all land.
    let key = django(db, SECRET, "", &["write", r#"{"seed": 0}"#]);
    let cookie = format!("sessionid={key}");
    session_conformance::fixtures::write_concurrently(&rust, &cookie, 16).await;
    let seen: Value = serde_json::from_str(&django(db, SECRET, "", &["read", &key])).unwrap();
    assert!(
        (0..16).all(|i| seen[format!("k{i}")] == i),
        "lost writes: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_with_django_on_sqlite() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let dir = std::env::temp_dir().join(services::unique_name("django-sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    shared_sessions(&format!("sqlite:{}", dir.join("db.sqlite3").display())).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_with_django_on_postgres() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let url = services::url(
        "SESSION_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    if let Err(e) = DjangoSqlStore::connect(&url).await {
        return services::unavailable::<()>("PostgreSQL", e).unwrap_or(());
    }
    shared_sessions(&url).await;
}

/// Django's table on MySQL/MariaDB, created with the DDL Django's migration
/// emits there (Django itself is not needed: its encoding is checked above).
#[tokio::test(flavor = "multi_thread")]
async fn djangos_table_on_mysql() {
    let url = services::url("SESSION_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
    let sql = match session_store_sql::SqlStore::connect(&url).await {
        Ok(s) => s,
        Err(e) => return services::unavailable::<()>("MySQL/MariaDB", e).unwrap_or(()),
    };
    let table = services::unique_name("django_session");
    let session_store_sql::Pool::MySql(pool) = sql.pool().clone() else {
        unreachable!()
    };
    sqlx::query(&format!(
        "CREATE TABLE {table} (session_key varchar(40) NOT NULL PRIMARY KEY, session_data longtext NOT NULL, \
         expire_date datetime(6) NOT NULL, INDEX {table}_expire_date (expire_date))"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let store = DjangoSqlStore::with_table(pool.clone(), &table).unwrap();
    let rust = manager(store.clone(), SECRET, &[]);

    let request = rust.request(None);
    request.load().await.unwrap().insert("name", "Zoë").unwrap();
    let cookie = fixtures::finish(&request).await;
    let key = cookie.strip_prefix("sessionid=").unwrap().to_owned();
    // Stored the way Django stores it: signed text, a UTC datetime.
    let (data, expires): (String, i64) =
        sqlx::query_as(&format!("SELECT session_data, CAST(UNIX_TIMESTAMP(expire_date) AS SIGNED) FROM {table} WHERE session_key = ?"))
            .bind(&key)
            .fetch_one(&pool)
            .await
            .unwrap();
    let signer = DjangoSigner::new(SECRET, Vec::<&str>::new()).unwrap();
    let decoded = signer
        .unsign_object(
            session_core::django::SESSION_SALT,
            &data,
            None,
            session_core::now().unix_timestamp(),
        )
        .unwrap();
    assert_eq!(decoded, json!({"name": "Zoë"}));
    let age = expires - session_core::now().unix_timestamp();
    assert!(
        (1_209_590..=1_209_600).contains(&age),
        "expire_date is 14 days ahead in UTC ({age} s)"
    );

    // Updates compare and swap; a deleted row stays deleted.
    assert_eq!(rust_read(&rust, &key).await, json!({"name": "Zoë"}));
    let slow = rust.request([cookie.as_str()]);
    slow.load().await.unwrap().insert("late", 1).unwrap();
    sqlx::query(&format!("DELETE FROM {table} WHERE session_key = ?"))
        .bind(&key)
        .execute(&pool)
        .await
        .unwrap();
    assert!(slow.finish(200).await.unwrap().ended_concurrently);
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "a deleted Django session came back");

    // A table another client keeps locked: unavailable (503) once the
    // store's timeout has passed, not a request that waits for the lock.
    let impatient = manager(store.with_timeout(Duration::from_millis(500)), SECRET, &[]);
    let mut other = <sqlx::MySqlConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(&format!("LOCK TABLES {table} WRITE"))
        .execute(&mut other)
        .await
        .unwrap();
    fixtures::load_is_unavailable(&impatient, &cookie, Duration::from_secs(3)).await;
    drop(other);

    let _ = sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await;
}
