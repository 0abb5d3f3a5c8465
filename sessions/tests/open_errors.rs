//! Engines that cannot be reached fail to open with an error that never
//! shows the URL's password, in either its display or its debug form.

#![cfg(all(feature = "postgres", feature = "mysql", feature = "redis"))]

#[tokio::test]
async fn unreachable_engines_fail_without_echoing_the_password() {
    // Port 1 on loopback: nothing listens there.
    for url in [
        "postgres://app:hunter2@127.0.0.1:1/app",
        "mysql://app:hunter2@127.0.0.1:1/app",
        "redis://:hunter2@127.0.0.1:1",
        "redis+cluster://u:hunter2@127.0.0.1:1,127.0.0.1:2",
        "postgres://app:hunter2@db:port/app",
    ] {
        let e = sessions::open_store(url).await.expect_err(url);
        let shown = format!("{e} / {e:?}");
        assert!(!shown.contains("hunter2"), "{url}: {shown}");
        assert!(shown.len() > 30, "{url}: a clear error, not {shown:?}");
    }
}
