//! The conformance kit and engine tests against a real Redis server
//! (`SESSION_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) and a
//! three-node Redis Cluster that the tests start on free loopback ports
//! and stop afterwards.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_conformance::proxy::TcpProxy;
use session_conformance::{fixtures, services};
use session_core::{
    KeyRing, Record, SessionId, SessionManager, SessionStore, StoreError, StoreKey,
};
use session_store_redis::RedisStore;

mod common;

/// A store on the single server, with a prefix of its own; the prefix has
/// the characters `SCAN` patterns treat specially, which the store must
/// escape when it walks its keys.
async fn single() -> Option<RedisStore> {
    let prefix = format!("{}:[*?\\]:", services::unique_name("conf"));
    match RedisStore::builder()
        .prefix(prefix)
        .connect(&common::url())
        .await
    {
        Ok(store) => Some(store),
        Err(e) => services::unavailable("Redis", e),
    }
}

session_conformance::store_tests!(match single().await {
    Some(store) => store,
    None => return,
});

async fn raw(cmd: &mut redis::Cmd) {
    let client = redis::Client::open(common::url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async::<()>(&mut c).await.unwrap();
}

fn manager(store: &RedisStore) -> SessionManager {
    SessionManager::new(store.clone(), KeyRing::new([12u8; 32]).unwrap())
}

/// Keys written by hand with garbage: a value of the wrong type, a hash
/// with nonsense fields. The store reports them as corrupt, the visitor
/// gets a fresh session, nothing panics.
#[tokio::test]
async fn garbage_keys_are_no_session() {
    let Some(store) = single().await else { return };
    let manager = manager(&store);
    type Writer = fn(String) -> redis::Cmd;
    let cases: [(&str, Writer); 3] = [
        ("a plain string", |k| {
            let mut c = redis::cmd("SET");
            c.arg(k).arg("garbage").arg("EX").arg(60);
            c
        }),
        ("a hash of nonsense", |k| {
            let mut c = redis::cmd("HSET");
            c.arg(k)
                .arg("d")
                .arg("x")
                .arg("v")
                .arg("seven")
                .arg("e")
                .arg("later");
            c
        }),
        ("a hash without data", |k| {
            let mut c = redis::cmd("HSET");
            c.arg(k)
                .arg("v")
                .arg("1")
                .arg("c")
                .arg("1")
                .arg("e")
                .arg("99999999999");
            c
        }),
    ];
    for (name, write) in cases {
        let (cookie, key) =
            session_conformance::fixtures::new_session(&manager, "user_id", 1).await;
        raw(redis::cmd("DEL").arg(store.session_key(&key))).await;
        raw(&mut write(store.session_key(&key))).await;
        match store.load(&key).await {
            Err(StoreError::Corrupt(why)) => assert!(
                !why.contains(key.as_str()),
                "{name}: the store key is logged with the error: {why}"
            ),
            other => panic!("{name}: must be reported as corrupt, got {other:?}"),
        }
        let request = manager.request([cookie.as_str()]);
        assert!(
            request.load().await.unwrap().is_empty(),
            "{name}: garbage became a session"
        );
        request.finish(200).await.unwrap();
    }
}

/// A session stored through a proxy in front of Redis, by a store that
/// gives up on Redis after 500 ms; `None` (skip) when Redis is unreachable.
async fn session_through_proxy(name: &str) -> Option<(TcpProxy, SessionManager, String)> {
    drop(single().await?);
    let target = session_conformance::proxy::engine_addr(&common::url())
        .await
        .unwrap();
    let proxy = TcpProxy::start(target).await.unwrap();
    let store = RedisStore::builder()
        .prefix(format!("{}:", services::unique_name(name)))
        .timeout(Duration::from_millis(500))
        .connect(&format!("redis://{}", proxy.addr()))
        .await
        .unwrap();
    let manager = manager(&store);
    let (cookie, _) = session_conformance::fixtures::new_session(&manager, "user_id", 1).await;
    Some((proxy, manager, cookie))
}

/// The session `cookie` carries loads again, data and all, once Redis is back.
async fn loads_again(manager: &SessionManager, cookie: &str) {
    let session = session_conformance::fixtures::load_once_recovered(manager, cookie)
        .await
        .unwrap_or_else(|e| panic!("the store did not recover once Redis was back: {e}"));
    assert_eq!(session.get::<u32>("user_id").unwrap(), Some(1));
}

/// Redis goes away mid-traffic: errors (503), no panic; the store
/// reconnects by itself once Redis is back.
#[tokio::test]
async fn redis_outage_is_an_error_then_recovers() {
    let Some((proxy, manager, cookie)) = session_through_proxy("outage").await else {
        return;
    };
    proxy.cut().await;
    let err = manager
        .request([cookie.as_str()])
        .load()
        .await
        .expect_err("load while Redis is gone");
    assert_eq!(err.status_code(), 503, "{err}");

    proxy.restore().await.unwrap();
    loads_again(&manager, &cookie).await;
}

/// Redis stops answering with its connections left open (a network
/// partition, a frozen server): the store's timeout turns the wait into a
/// 503, and the store works again once Redis answers.
#[tokio::test]
async fn stalled_redis_is_an_error_within_the_timeout() {
    let Some((proxy, manager, cookie)) = session_through_proxy("stall").await else {
        return;
    };
    proxy.stall();
    fixtures::load_is_unavailable(&manager, &cookie, Duration::from_secs(3)).await;

    proxy.resume();
    loads_again(&manager, &cookie).await;
}

/// Sessions carry Redis TTLs that match their expiry.
#[tokio::test]
async fn sessions_expire_through_redis_ttls() {
    let Some(store) = single().await else { return };
    let manager = manager(&store);
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("a", 1).unwrap();
    session.set_user("alice").unwrap();
    request.finish(200).await.unwrap();
    let key: StoreKey = session.store_key().unwrap();
    let client = redis::Client::open(common::url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(store.session_key(&key))
        .query_async(&mut c)
        .await
        .unwrap();
    let idle = 14 * 24 * 3600;
    assert!((idle - 5..=idle).contains(&ttl), "session TTL {ttl}");
    // The user's entry in the index (one bucket while the index is this
    // small) is kept until its session's expiry rounded up to the hour:
    // its score is that hour times 256 plus the last byte of the user's
    // hash.
    let entries: Vec<(Vec<u8>, i64)> = redis::cmd("ZRANGE")
        .arg(format!("{}:0", store.index_key()))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let hour = entries[0].1 / 256;
    let expires = session_core::now().unix_timestamp() + idle;
    assert!(
        (expires - 5..=expires + 3600).contains(&(hour * 3600)),
        "index entry until hour {hour}, session until {expires}"
    );
}

/// A three-node Redis Cluster on loopback, stopped on drop.
struct Cluster {
    ports: Vec<u16>,
    dir: PathBuf,
    nodes: Vec<Child>,
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let base = free_base_port().ok_or("no free ports for a cluster")?;
        let dir = std::env::temp_dir().join(services::unique_name("redis-cluster"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut cluster = Cluster {
            ports: (base..base + 3).collect(),
            dir,
            nodes: Vec::new(),
        };
        for &port in &cluster.ports {
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                ])
                .args([
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("redis-server: {e}"))?;
            cluster.nodes.push(child);
        }
        for &port in &cluster.ports {
            wait_for_port(port)?;
        }
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if !status.success() {
            return Err("redis-cli --cluster create failed".into());
        }
        for _ in 0..100 {
            if cluster
                .ports
                .iter()
                .all(|p| cluster.info(*p).contains("cluster_state:ok"))
            {
                return Ok(cluster);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the cluster did not become ready".into())
    }

    fn info(&self, port: u16) -> String {
        Command::new("redis-cli")
            .args(["-p", &port.to_string(), "cluster", "info"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three consecutive ports, and their cluster-bus ports (+10000), all free.
fn free_base_port() -> Option<u16> {
    let seed = std::process::id() as u16;
    (0..200u16)
        .map(|i| 20000 + (seed.wrapping_add(i * 37)) % 9000)
        .find(|&base| {
            (base..base + 3).all(|p| {
                TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
            })
        })
}

fn wait_for_port(port: u16) -> Result<(), String> {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("redis-server did not listen on {port}"))
}

#[test]
fn redis_cluster_passes_the_conformance_kit() {
    let cluster = match Cluster::start() {
        Ok(cluster) => cluster,
        Err(e) => return services::unavailable::<()>("a local Redis Cluster", e).unwrap_or(()),
    };
    assert!(
        cluster.info(cluster.ports[0]).contains("cluster_size:3"),
        "{}",
        cluster.info(cluster.ports[0])
    );
    let urls = cluster.urls();
    session_conformance::block_on(async {
        session_conformance::run_all(|| async {
            RedisStore::builder()
                .prefix(format!("{}:", services::unique_name("cluster")))
                .connect_cluster(&urls)
                .await
                .expect("connect to the cluster")
        })
        .await;
        let prefix = format!("{}:", services::unique_name("cluster-legacy"));
        let store = RedisStore::builder()
            .prefix(&prefix)
            .connect_cluster(&urls)
            .await
            .unwrap();
        let client = redis::cluster::ClusterClient::new(urls.clone()).unwrap();
        let mut c = client.get_async_connection().await.unwrap();
        old_layout_sessions_are_read_and_moved(&store, &prefix, &mut c).await;
        format_1_values_work_as_format_2_ones(&store, &mut c).await;
        let check = store.check_index().await.unwrap();
        assert!(check.bound > 0 && check.unlisted == 0, "{check:?}");
        // An older release's function library, on every primary, goes
        // from each.
        common::load_old_library(&mut c).await;
        assert_eq!(store.remove_old_libraries().await.unwrap(), 3);
        assert_eq!(store.remove_old_libraries().await.unwrap(), 0);
        // The sessions really are spread over the nodes.
        let store = RedisStore::connect_cluster(&urls).await.unwrap();
        let manager = manager(&store);
        for _ in 0..30 {
            let request = manager.request(None);
            request.load().await.unwrap().insert("n", 1).unwrap();
            request.finish(200).await.unwrap();
        }
    });
    let holding: Vec<u16> = cluster
        .ports
        .iter()
        .copied()
        .filter(|p| {
            let out = Command::new("redis-cli")
                .args(["-p", &p.to_string(), "dbsize"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
                > 0
        })
        .collect();
    assert_eq!(
        holding.len(),
        3,
        "every node should hold sessions, only {holding:?} do"
    );
}

/// Flushes Redis's functions and scripts, as a restart without
/// persistence loses them.
async fn flush_scripts() {
    raw(redis::cmd("FUNCTION").arg("FLUSH")).await;
    raw(redis::cmd("SCRIPT").arg("FLUSH")).await;
}

/// After `FUNCTION FLUSH` and `SCRIPT FLUSH` (or a Redis restart without
/// persistence) the scripts are sent again, as the library of functions
/// they run as.
#[tokio::test]
async fn scripts_are_reloaded_after_a_flush() {
    let Some(store) = single().await else { return };
    let manager = manager(&store);
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert("a", 1).unwrap();
    session.set_user("alice").unwrap();
    let cookie = fixtures::finish(&request).await;
    flush_scripts().await;
    let request = manager.request([cookie.as_str()]);
    request.load().await.unwrap().insert("b", 2).unwrap();
    request.finish(200).await.expect("a save after the flush");
    let mut c = redis::Client::open(common::url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    assert_eq!(
        common::libraries(&mut c).await.len(),
        1,
        "the scripts run as functions"
    );
    flush_scripts().await;
    let request = manager.request([cookie.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(
        (
            session.get::<u32>("a").unwrap(),
            session.get::<u32>("b").unwrap()
        ),
        (Some(1), Some(2))
    );
    session.remove("a");
    request
        .finish(200)
        .await
        .expect("a save without a user after the flush");
}

/// A Redis user whose ACL denies functions (as some hosted Redis and
/// proxies do) gets the same store through `EVALSHA`: the whole
/// conformance kit passes.
#[test]
fn a_redis_without_functions_runs_the_scripts_with_evalsha() {
    let user = services::unique_name("nofn");
    let acl = |args: &[&str]| {
        let mut cmd = redis::cmd("ACL");
        for arg in args {
            cmd.arg(*arg);
        }
        session_conformance::block_on(raw(&mut cmd));
    };
    if let Err(e) = redis::Client::open(common::url()).and_then(|c| c.get_connection()) {
        return services::unavailable::<()>("Redis", e).unwrap_or(());
    }
    acl(&[
        "SETUSER",
        &user,
        "on",
        ">pw",
        "~*",
        "&*",
        "+@all",
        "-fcall",
        "-fcall_ro",
        "-function",
    ]);
    let url = common::url().replacen("redis://", &format!("redis://{user}:pw@"), 1);
    session_conformance::block_on(async {
        let connect = || async {
            RedisStore::builder()
                .prefix(format!("{}:", services::unique_name("nofn")))
                .connect(&url)
                .await
                .expect("connect as the user without functions")
        };
        let store = connect().await;
        let mut c = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let refused = redis::cmd("FCALL")
            .arg("x")
            .arg(0)
            .query_async::<()>(&mut c)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Some("NOPERM"), "{refused}");
        let manager = manager(&store);
        let (cookie, _) = stored(&manager, Some("ann"), "a").await;
        let request = manager.request([cookie.as_str()]);
        assert_eq!(
            request.load().await.unwrap().get::<u32>("a").unwrap(),
            Some(1)
        );
        assert_eq!(manager.sessions_of("ann").await.unwrap().len(), 1);
        session_conformance::run_all(connect).await;
    });
    acl(&["DELUSER", &user]);
}

/// Rewrites a stored session in the layout of the 0.1 releases (a hash
/// under the whole store key, listed in a set per user), as an instance of
/// the old release would have left it.
async fn write_old_layout<C: redis::aio::ConnectionLike + Send>(
    store: &RedisStore,
    prefix: &str,
    key: &StoreKey,
    c: &mut C,
) {
    let record = store.load(key).await.unwrap().expect("stored");
    let old_key = format!("{prefix}{{{}}}", key.as_str());
    let mut hset = redis::cmd("HSET");
    hset.arg(&old_key)
        .arg("d")
        .arg(&record.data)
        .arg("v")
        .arg(record.version)
        .arg("c")
        .arg(record.created_at.unix_timestamp())
        .arg("e")
        .arg(record.expires_at.unix_timestamp());
    if let Some(user) = &record.user {
        hset.arg("u").arg(user);
    }
    let steps: Vec<redis::Cmd> = [
        redis::cmd("DEL").arg(store.session_key(key)).clone(),
        hset,
        redis::cmd("EXPIREAT")
            .arg(&old_key)
            .arg(record.expires_at.unix_timestamp())
            .clone(),
    ]
    .into_iter()
    .chain(record.user.iter().flat_map(|user| {
        let set = format!("{prefix}user:{{{user}}}");
        [
            redis::cmd("DEL").arg(store.user_key(user)).clone(),
            redis::cmd("SADD").arg(&set).arg(&old_key).clone(),
            redis::cmd("EXPIRE").arg(&set).arg(3600).clone(),
        ]
    }))
    .collect();
    for step in steps {
        step.query_async::<()>(c).await.unwrap();
    }
}

async fn exists<C: redis::aio::ConnectionLike + Send>(key: &str, c: &mut C) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(c)
        .await
        .unwrap()
        == 1
}

/// A session stored for `user` (if any) with `name = value`.
async fn stored(manager: &SessionManager, user: Option<&str>, name: &str) -> (String, StoreKey) {
    let request = manager.request(None);
    let session = request.load().await.unwrap();
    session.insert(name, 1).unwrap();
    if let Some(user) = user {
        session.set_user(user).unwrap();
    }
    let cookie = fixtures::finish(&request).await;
    (cookie, session.store_key().unwrap())
}

/// Sessions written in the old layout load (moved to the new one on the
/// way), save, are listed and ended by user, and `migrate` moves the rest.
async fn old_layout_sessions_are_read_and_moved<C: redis::aio::ConnectionLike + Send>(
    store: &RedisStore,
    prefix: &str,
    c: &mut C,
) {
    let manager = manager(store);
    let (cookie_a, key_a) = stored(&manager, Some("ann"), "a").await;
    let (cookie_b, key_b) = stored(&manager, Some("ann"), "b").await;
    let (cookie_c, key_c) = stored(&manager, None, "c").await;
    let (cookie_d, key_d) = stored(&manager, Some("bob"), "d").await;
    for key in [&key_a, &key_b, &key_c, &key_d] {
        write_old_layout(store, prefix, key, c).await;
        assert!(!exists(&store.session_key(key), c).await);
    }
    let old_key = |key: &StoreKey| format!("{prefix}{{{}}}", key.as_str());

    // Loaded: the data is there, the session moves, and saves go on.
    let request = manager.request([cookie_a.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(session.get::<u32>("a").unwrap(), Some(1));
    assert!(!exists(&old_key(&key_a), c).await && exists(&store.session_key(&key_a), c).await);
    session.insert("a2", 2).unwrap();
    request.finish(200).await.expect("save of a moved session");

    // Listed by user, including a session not loaded since.
    let listed: Vec<StoreKey> = manager
        .sessions_of("ann")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    let mut expected = vec![key_a.clone(), key_b.clone()];
    expected.sort_by_key(|k| listed.iter().position(|l| l == k));
    assert_eq!(listed, expected);
    assert!(!exists(&format!("{prefix}user:{{ann}}"), c).await);

    // Ended by user before ever being loaded.
    assert_eq!(manager.end_sessions_of("bob", None).await.unwrap(), 1);
    let request = manager.request([cookie_d.as_str()]);
    assert!(request.load().await.unwrap().is_empty());

    // The rest moves at once.
    assert_eq!(store.migrate().await.unwrap(), 1);
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert!(!exists(&old_key(&key_c), c).await);
    let request = manager.request([cookie_c.as_str()]);
    assert_eq!(
        request.load().await.unwrap().get::<u32>("c").unwrap(),
        Some(1)
    );
    let request = manager.request([cookie_b.as_str()]);
    assert_eq!(
        request.load().await.unwrap().get::<u32>("b").unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn old_layout_sessions_are_read_and_moved_on_a_single_node() {
    let prefix = format!("{}:", services::unique_name("legacy"));
    let store = match RedisStore::builder()
        .prefix(&prefix)
        .connect(&common::url())
        .await
    {
        Ok(store) => store,
        Err(e) => return services::unavailable::<()>("Redis", e).unwrap_or(()),
    };
    let client = redis::Client::open(common::url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    old_layout_sessions_are_read_and_moved(&store, &prefix, &mut c).await;
}

/// Rewrites a stored session's value in format 1 (an eight-byte version),
/// as the release before format 2 wrote it.
async fn write_format_1<C: redis::aio::ConnectionLike + Send>(
    store: &RedisStore,
    key: &StoreKey,
    c: &mut C,
) -> Vec<u8> {
    let record = store.load(key).await.unwrap().expect("stored");
    let user = record.user.as_deref().unwrap_or("").as_bytes();
    let mut value = vec![1];
    value.extend_from_slice(&record.version.to_be_bytes());
    value.extend_from_slice(&record.created_at.unix_timestamp().to_be_bytes()[3..]);
    value.extend_from_slice(&record.expires_at.unix_timestamp().to_be_bytes()[3..]);
    value.extend_from_slice(&u16::try_from(user.len()).unwrap().to_be_bytes());
    value.extend_from_slice(user);
    value.extend_from_slice(&record.data);
    redis::cmd("SET")
        .arg(store.session_key(key))
        .arg(&value)
        .arg("EXAT")
        .arg(record.expires_at.unix_timestamp())
        .query_async::<()>(c)
        .await
        .unwrap();
    value
}

async fn get<C: redis::aio::ConnectionLike + Send>(key: &str, c: &mut C) -> Vec<u8> {
    redis::cmd("GET").arg(key).query_async(c).await.unwrap()
}

/// Values in format 1 (eight-byte versions: written by the release before
/// format 2, or past four billion saves) load, save, conflict, touch,
/// rotate, list and end as format 2 ones do; a save of one writes format 2.
async fn format_1_values_work_as_format_2_ones<C: redis::aio::ConnectionLike + Send>(
    store: &RedisStore,
    c: &mut C,
) {
    let manager = manager(store);
    let (cookie_a, key_a) = stored(&manager, Some("fay"), "a").await;
    let (_, key_b) = stored(&manager, Some("fay"), "b").await;
    let (cookie_c, key_c) = stored(&manager, None, "c").await;
    let mut old = Vec::new();
    for key in [&key_a, &key_b, &key_c] {
        assert_eq!(get(&store.session_key(key), c).await[0], 2);
        old.push(write_format_1(store, key, c).await);
    }

    // Loaded and saved through the manager: the data is there, the save's
    // compare-and-swap matches, and the value is format 2 after it.
    let request = manager.request([cookie_a.as_str()]);
    let session = request.load().await.unwrap();
    assert_eq!(session.get::<u32>("a").unwrap(), Some(1));
    session.insert("a2", 2).unwrap();
    request
        .finish(200)
        .await
        .expect("save of a format 1 session");
    let saved = get(&store.session_key(&key_a), c).await;
    assert_eq!(saved[0], 2);
    // A one-byte version and length where format 1 has eight and two.
    assert_eq!(saved.len(), old[0].len() - 8 + br#","a2":2"#.len());
    let request = manager.request([cookie_a.as_str()]);
    assert_eq!(
        request.load().await.unwrap().get::<u32>("a2").unwrap(),
        Some(2)
    );

    // A stale version conflicts and leaves the value as it was.
    let b = store.load(&key_b).await.unwrap().unwrap();
    let mut next = b.clone();
    next.version += 1;
    assert!(matches!(
        store.update(&next, b.version + 1).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(get(&store.session_key(&key_b), c).await, old[1]);

    // Touched: the expiry moves in place, in format 1.
    let c_record = store.load(&key_c).await.unwrap().unwrap();
    let later = c_record.expires_at + session_core::time::Duration::hours(5);
    store.touch(&key_c, later).await.unwrap();
    let touched = get(&store.session_key(&key_c), c).await;
    assert_eq!(touched[0], 1);
    assert_eq!(store.load(&key_c).await.unwrap().unwrap().expires_at, later);

    // Rotated (the unbound one, which one script rotates).
    let request = manager.request([cookie_c.as_str()]);
    let session = request.load().await.unwrap();
    session.cycle_id();
    let rotated = fixtures::finish(&request).await;
    let request = manager.request([rotated.as_str()]);
    assert_eq!(
        request.load().await.unwrap().get::<u32>("c").unwrap(),
        Some(1)
    );

    // Listed and ended by user: one session in each format.
    assert_eq!(get(&store.session_key(&key_b), c).await[0], 1);
    let mut listed: Vec<StoreKey> = manager
        .sessions_of("fay")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    listed.sort();
    let mut expected = vec![key_a.clone(), key_b.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(manager.end_sessions_of("fay", None).await.unwrap(), 2);
    assert!(!exists(&store.session_key(&key_b), c).await);

    // Long versions take as many bytes as they need, and compare whole: a
    // version that agrees only in its low bytes conflicts.
    // Whole seconds, as the layout keeps them.
    let now = session_core::time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let wide = Record {
        key: SessionId::generate().store_key(),
        data: b"{}".to_vec(),
        version: (1 << 32) + 5,
        created_at: now,
        expires_at: now + session_core::time::Duration::hours(1),
        user: None,
    };
    store.create(&wide).await.unwrap();
    assert_eq!(get(&store.session_key(&wide.key), c).await[..2], [2, 0x85]);
    let next = Record {
        version: wide.version + 1,
        ..wide.clone()
    };
    assert!(matches!(
        store.update(&next, 5).await,
        Err(StoreError::Conflict)
    ));
    store.update(&next, wide.version).await.unwrap();
    assert_eq!(store.load(&wide.key).await.unwrap(), Some(next.clone()));
    // Likewise in format 1, where the script compares the numbers.
    write_format_1(store, &wide.key, c).await;
    assert!(matches!(
        store.update(&next_of(&next), 6).await,
        Err(StoreError::Conflict)
    ));
    store.update(&next_of(&next), next.version).await.unwrap();
    assert_eq!(get(&store.session_key(&wide.key), c).await[0], 2);
    let narrow = Record {
        key: SessionId::generate().store_key(),
        version: 5,
        ..wide.clone()
    };
    store.create(&narrow).await.unwrap();
    assert!(matches!(
        store.update(&next_of(&narrow), (1 << 32) + 5).await,
        Err(StoreError::Conflict)
    ));
    store.update(&next_of(&narrow), 5).await.unwrap();
}

fn next_of(record: &Record) -> Record {
    Record {
        version: record.version + 1,
        ..record.clone()
    }
}

#[tokio::test]
async fn format_1_values_work_as_format_2_ones_on_a_single_node() {
    let Some(store) = single().await else { return };
    let client = redis::Client::open(common::url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    format_1_values_work_as_format_2_ones(&store, &mut c).await;
}
