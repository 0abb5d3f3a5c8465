//! Concurrent loads and saves on a single node share commands: fewer
//! `MGET`s and script calls than operations, as Redis's own command
//! counts (`INFO commandstats`) show. (That each save still gets its own
//! compare-and-swap answer is the conformance kit's
//! `concurrent_saves_each_get_their_own_answer`.) A test binary of its
//! own, so that no other test's commands are counted.

use std::collections::HashMap;
use std::sync::Arc;

use session_conformance::fixtures::{load_all_at_once, record, save_all_at_once};
use session_core::SessionStore;

mod common;

use common::store_and_conn;

const OPS: usize = 48;

/// Calls per command so far.
async fn calls(c: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').next()?.strip_prefix("calls=")?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// How many more calls of `commands` `after` counts than `before`.
fn grew(before: &HashMap<String, u64>, after: &HashMap<String, u64>, commands: &[&str]) -> u64 {
    let count = |m: &HashMap<String, u64>| commands.iter().filter_map(|c| m.get(*c)).sum::<u64>();
    count(after) - count(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_and_saves_share_commands() {
    let Some((store, mut c)) = store_and_conn("batch").await else {
        return;
    };
    let store = Arc::new(store);
    let mut records = Vec::new();
    for n in 0..OPS {
        let r = record(
            session_core::time::Duration::hours(1),
            Some(&format!("u{n}")),
        );
        store.create(&r).await.unwrap();
        records.push(r);
    }

    let before = calls(&mut c).await;
    save_all_at_once(&store, &records).await;
    let scripts = grew(&before, &calls(&mut c).await, &["fcall", "evalsha", "eval"]);
    assert!(
        (1..OPS as u64).contains(&scripts),
        "{OPS} saves at once took {scripts} script calls"
    );

    let before = calls(&mut c).await;
    load_all_at_once(&store, &records).await;
    let after = calls(&mut c).await;
    let (mgets, gets) = (
        grew(&before, &after, &["mget"]),
        grew(&before, &after, &["get"]),
    );
    assert!(
        (1..OPS as u64).contains(&mgets) && gets == 0,
        "{OPS} loads at once took {mgets} MGETs and {gets} GETs"
    );
}
