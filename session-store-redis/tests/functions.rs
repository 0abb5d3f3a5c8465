//! The Redis function library the store's scripts run as: the libraries
//! of other releases are removed, this release's is kept (and loaded
//! again by any store that finds it gone).

mod common;

use common::{OLD_LIBRARY, libraries, listed, load_old_library, store_and_conn};
use session_conformance::fixtures::record;
use session_core::SessionStore;
use session_core::time::Duration;

#[tokio::test]
async fn libraries_of_other_releases_are_removed() {
    let Some((store, mut c)) = store_and_conn("libraries").await else {
        return;
    };
    // A bound session: its create runs a script, so this release's
    // library is there.
    let r = record(Duration::hours(1), Some("ann"));
    store.create(&r).await.unwrap();
    // Whatever earlier builds left on this server goes first.
    store.remove_old_libraries().await.unwrap();
    let ours = libraries(&mut c).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    // An older release's library.
    load_old_library(&mut c).await;
    assert!(libraries(&mut c).await.contains(&OLD_LIBRARY.to_owned()));
    assert_eq!(libraries(&mut c).await.len(), 2);

    assert_eq!(store.remove_old_libraries().await.unwrap(), 1);
    assert_eq!(libraries(&mut c).await, ours);
    assert_eq!(store.remove_old_libraries().await.unwrap(), 0);
    // The store goes on with its own.
    let mut next = r.clone();
    next.version += 1;
    store.update(&next, r.version).await.unwrap();
    assert_eq!(listed(&store, "ann").await, std::slice::from_ref(&r.key));
}
