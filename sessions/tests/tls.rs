//! `open_store` reaches TLS-only engines from their URLs alone, as the demo
//! and the CLI do: a PostgreSQL and a Redis the test starts with
//! certificates it generates, accepted with the CA and refused without it.
#![cfg(all(feature = "rustls", feature = "postgres", feature = "redis"))]

use session_conformance::services;
use session_conformance::tls::{Certificates, TlsPostgres, TlsRedis};
use sessions::{SessionStore, open_store};

#[tokio::test(flavor = "multi_thread")]
async fn store_urls_reach_tls_engines_with_their_ca() {
    let certs = Certificates::generate();
    let (postgres, redis) = match (TlsPostgres::start(&certs), TlsRedis::start(&certs)) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => {
            return services::unavailable::<()>("TLS engines the test starts", e).unwrap_or(());
        }
    };
    let ca = postgres.dir.join("ca.pem");
    std::fs::write(&ca, &certs.ca).unwrap();
    let ca = ca.display().to_string();
    let pg = format!("postgres://postgres@127.0.0.1:{}/postgres", postgres.port);
    let rediss = format!("rediss://127.0.0.1:{}", redis.port);

    for url in [
        format!("{pg}?sslmode=verify-full&sslrootcert={ca}&table=tls_sessions"),
        format!("{rediss}?tls_ca={ca}&prefix=tls:"),
    ] {
        let store = open_store(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        store.migrate().await.unwrap();
        let record =
            session_conformance::fixtures::record(sessions::time::Duration::hours(1), None);
        store.create(&record).await.unwrap();
        assert_eq!(
            store.load(&record.key).await.unwrap(),
            Some(record),
            "{url}"
        );
    }
    for url in [format!("{pg}?sslmode=verify-full"), rediss] {
        assert!(
            open_store(&url).await.is_err(),
            "{url}: trusted a server whose CA nobody gave"
        );
    }
}
