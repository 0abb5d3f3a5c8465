//! TLS for real: a Redis the test starts with a TLS port and a
//! certificate it generates (signed by a CA it also generates). The store
//! connects when given that CA, and is refused without it.
#![cfg(feature = "rustls")]

use std::time::Duration;

use session_conformance::services;
use session_conformance::tls::{Certificates, TlsRedis};
use session_core::SessionStore;
use session_store_redis::RedisStore;

#[tokio::test(flavor = "multi_thread")]
async fn rediss_is_accepted_with_the_ca_and_refused_without_it() {
    let certs = Certificates::generate();
    let server = match TlsRedis::start(&certs) {
        Ok(server) => server,
        Err(e) => return services::unavailable::<()>("redis-server with TLS", e).unwrap_or(()),
    };
    let url = format!("rediss://127.0.0.1:{}", server.port);

    let store = RedisStore::builder()
        .root_certificate(certs.ca.as_bytes())
        .connect(&url)
        .await
        .expect("TLS with the test's CA");
    let record =
        session_conformance::fixtures::record(session_core::time::Duration::hours(1), Some("ada"));
    store.create(&record).await.unwrap();
    assert_eq!(store.load(&record.key).await.unwrap(), Some(record));

    // The system's certificates do not vouch for the test's CA.
    let refused = RedisStore::builder()
        .timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(
        refused.is_err(),
        "a server whose CA nobody gave was trusted"
    );
    // Nor does another CA.
    let other = Certificates::generate();
    let refused = RedisStore::builder()
        .root_certificate(other.ca.as_bytes())
        .timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(
        refused.is_err(),
        "a server signed by another CA was trusted"
    );
}
