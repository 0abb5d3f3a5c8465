//! The manager's decoded cache (`SessionManagerBuilder::decoded_cache`):
//! a load served from it sees exactly what decoding the stored bytes
//! gives, it is used only for the very bytes it holds, and it spares the
//! codec's work where it claims to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use session_conformance::fixtures;
use session_core::{
    Codec, CodecError, Data, Expiry, JsonCodec, KeyRing, Session, SessionManager, SessionStore,
};
use session_store_memory::MemoryStore;
use time::Duration;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// JSON that counts its decodes, and says whether it round-trips as told.
#[derive(Clone, Default)]
struct Counting {
    decodes: Arc<AtomicUsize>,
    exact: bool,
}

impl Counting {
    /// A codec that says it round-trips (as JSON does).
    fn exact() -> Self {
        Counting {
            exact: true,
            ..Counting::default()
        }
    }

    fn decodes(&self) -> usize {
        self.decodes.load(Ordering::SeqCst)
    }
}

impl Codec for Counting {
    fn encode(&self, data: &Data) -> Result<Vec<u8>, CodecError> {
        JsonCodec.encode(data)
    }
    fn decode(&self, bytes: &[u8]) -> Result<Data, CodecError> {
        self.decodes.fetch_add(1, Ordering::SeqCst);
        JsonCodec.decode(bytes)
    }
    fn round_trips(&self) -> bool {
        self.exact
    }
}

fn manager(store: &(impl SessionStore + Clone), codec: &Counting, cache: usize) -> SessionManager {
    SessionManager::builder(store.clone(), KeyRing::new(SECRET).unwrap())
        .codec(codec.clone())
        .decoded_cache(cache)
        .build()
        .unwrap()
}

/// Everything a handler can see of a session, nested key order included.
fn view(session: &Session) -> (Vec<String>, String, Option<String>, Expiry) {
    (
        session.keys(),
        serde_json::to_string(&session.to_json()).unwrap(),
        session.user(),
        session.expiry(),
    )
}

async fn seen(
    manager: &SessionManager,
    cookie: &str,
) -> (Vec<String>, String, Option<String>, Expiry) {
    let request = manager.request([cookie]);
    let session = request.load().await.unwrap();
    let seen = view(&session);
    request.finish(200).await.unwrap();
    seen
}

/// Runs `change` on the session of `cookie` through `manager` and saves it.
async fn change(manager: &SessionManager, cookie: &str, change: impl FnOnce(&Session)) {
    let request = manager.request([cookie]);
    change(&request.load().await.unwrap());
    request.finish(200).await.unwrap();
}

#[tokio::test]
async fn loads_through_the_cache_see_what_decoding_sees() {
    // One store (with a user index, so the binding lives in the record),
    // two servers: one keeps decoded data, the other decodes every load.
    let store = MemoryStore::new();
    let codec = Counting::exact();
    let (cached, plain) = (manager(&store, &codec, 64), manager(&store, &codec, 0));

    let request = cached.request(None);
    let session = request.load().await.unwrap();
    session.insert("b", 1).unwrap();
    session.set_user("alice").unwrap();
    session
        .insert(
            "a",
            json!({"z": [1.5, -0.0, 1e300], "y": u64::MAX, "x": -7}),
        )
        .unwrap();
    session.insert("text", "é\u{0}\"\\ \u{1F600}").unwrap();
    let cookie = fixtures::finish(&request).await;

    let same = async |cookie: &str| {
        let (ours, theirs) = (seen(&cached, cookie).await, seen(&plain, cookie).await);
        assert_eq!(ours, theirs);
        ours
    };
    let first = same(&cookie).await;
    assert_eq!(first.0, ["b", "a", "text"]);
    assert_eq!(first.2.as_deref(), Some("alice"));

    change(&cached, &cookie, |s| s.insert("c", 0.1).unwrap()).await;
    assert_eq!(same(&cookie).await.0, ["b", "a", "text", "c"]);
    change(&cached, &cookie, |s| s.set_user("bob").unwrap()).await;
    assert_eq!(same(&cookie).await.2.as_deref(), Some("bob"));
    // Bound to another user elsewhere: the same bytes, another binding.
    change(&plain, &cookie, |s| s.set_user("carol").unwrap()).await;
    assert_eq!(same(&cookie).await.2.as_deref(), Some("carol"));
    change(&cached, &cookie, |s| {
        s.remove("b");
        s.set_expiry(Expiry::AfterIdle(Duration::hours(1)));
    })
    .await;
    assert_eq!(same(&cookie).await.3, Expiry::AfterIdle(Duration::hours(1)));
    // The other server saves: the cache holds older bytes and is not used.
    change(&plain, &cookie, |s| s.insert("b", "again").unwrap()).await;
    let after = same(&cookie).await;
    assert_eq!(after.0, ["a", "text", "c", "b"]);
    change(&cached, &cookie, |s| s.clear_user()).await;
    assert_eq!(same(&cookie).await.2, None);
    // Ended on the other server: gone for both.
    change(&plain, &cookie, |s| s.flush()).await;
    assert!(same(&cookie).await.0.is_empty());
}

#[tokio::test]
async fn the_cache_spares_only_the_decodes_it_can() {
    let store = MemoryStore::new();
    let exact = Counting::exact();
    let cached = manager(&store, &exact, 64);
    let (cookie, _) = fixtures::new_session(&cached, "n", 1).await;
    // What the server saved is what loading gives: no decoding at all.
    seen(&cached, &cookie).await;
    seen(&cached, &cookie).await;
    assert_eq!(exact.decodes(), 0);
    // Saved by another server: decoded once, then kept.
    change(&manager(&store, &exact, 0), &cookie, |s| {
        s.insert("n", 2).unwrap()
    })
    .await;
    assert_eq!(exact.decodes(), 1, "the other server's load");
    seen(&cached, &cookie).await;
    seen(&cached, &cookie).await;
    assert_eq!(exact.decodes(), 2);

    // A codec that does not claim to round-trip: what was saved is
    // decoded on its first load, and kept from then on.
    let inexact = Counting::default();
    let cached = manager(&store, &inexact, 64);
    let (cookie, _) = fixtures::new_session(&cached, "n", 1).await;
    seen(&cached, &cookie).await;
    seen(&cached, &cookie).await;
    assert_eq!(inexact.decodes(), 1);

    // A cache of zero: every load decodes.
    let off = Counting::exact();
    let uncached = manager(&store, &off, 0);
    let (cookie, _) = fixtures::new_session(&uncached, "n", 1).await;
    seen(&uncached, &cookie).await;
    seen(&uncached, &cookie).await;
    assert_eq!(off.decodes(), 2);
}

#[tokio::test]
async fn a_change_does_not_reach_other_requests_before_it_is_saved() {
    let store = MemoryStore::new();
    let codec = Counting::exact();
    let cached = manager(&store, &codec, 64);
    let (cookie, _) = fixtures::new_session(&cached, "n", 1).await;
    // A request that loaded the kept map before another changes it keeps
    // its own view; so does one that loads after the change, before the
    // save. The changing request takes the kept map for itself (the cache
    // lets go of it, so no copy is made), and the later load decodes the
    // stored bytes instead.
    let earlier = cached.request([cookie.as_str()]);
    let earlier_session = earlier.load().await.unwrap();
    let writer = cached.request([cookie.as_str()]);
    writer.load().await.unwrap().insert("n", 2).unwrap();
    assert_eq!(earlier_session.get::<u64>("n").unwrap(), Some(1));
    drop(earlier);
    let decodes = codec.decodes();
    let reader = cached.request([cookie.as_str()]);
    assert_eq!(
        reader.load().await.unwrap().get::<u64>("n").unwrap(),
        Some(1)
    );
    assert_eq!(codec.decodes(), decodes + 1, "the kept map was not let go");
    // A request that failed to save leaves nothing behind either.
    drop(writer);
    assert_eq!(
        cached
            .request([cookie.as_str()])
            .load()
            .await
            .unwrap()
            .get::<u64>("n")
            .unwrap(),
        Some(1)
    );
}
