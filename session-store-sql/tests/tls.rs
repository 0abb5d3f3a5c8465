//! TLS for real: a PostgreSQL the test starts (`initdb`, `pg_ctl`) with
//! `ssl = on` and a certificate it generates, signed by a CA it also
//! generates. The store connects with `sslmode=verify-full` when the URL
//! names that CA (`sslrootcert`), and is refused without it.
#![cfg(all(feature = "rustls", feature = "postgres"))]

use session_conformance::services;
use session_conformance::tls::{Certificates, TlsPostgres};
use session_core::SessionStore;
use session_store_sql::SqlStore;

#[tokio::test(flavor = "multi_thread")]
async fn postgres_over_tls_is_accepted_with_the_ca_and_refused_without_it() {
    let certs = Certificates::generate();
    let server = match TlsPostgres::start(&certs) {
        Ok(server) => server,
        Err(e) => {
            return services::unavailable::<()>("a PostgreSQL the test starts with TLS", e)
                .unwrap_or(());
        }
    };
    let ca = server.dir.join("ca.pem");
    std::fs::write(&ca, &certs.ca).unwrap();
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);

    let url = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
    let store = SqlStore::connect(&url)
        .await
        .expect("TLS with the test's CA");
    store.migrate().await.unwrap();
    let record =
        session_conformance::fixtures::record(session_core::time::Duration::hours(1), Some("ada"));
    store.create(&record).await.unwrap();
    assert_eq!(store.load(&record.key).await.unwrap(), Some(record));
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(match store.pool() {
                session_store_sql::Pool::Postgres(p) => p,
                _ => unreachable!(),
            })
            .await
            .unwrap();
    assert!(encrypted, "the connection is not encrypted");

    // Verifying without the CA: the system's certificates do not vouch for it.
    let refused = SqlStore::builder(format!("{base}?sslmode=verify-full"))
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect()
        .await;
    assert!(
        refused.is_err(),
        "a server whose CA nobody gave was trusted"
    );
    // Nor with another CA.
    let other = server.dir.join("other-ca.pem");
    std::fs::write(&other, Certificates::generate().ca).unwrap();
    let refused = SqlStore::builder(format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        other.display()
    ))
    .acquire_timeout(std::time::Duration::from_secs(3))
    .connect()
    .await;
    assert!(
        refused.is_err(),
        "a server signed by another CA was trusted"
    );
}
