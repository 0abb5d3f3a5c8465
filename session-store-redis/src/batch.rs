//! Batching on a single node: loads that arrive while others run share one
//! `MGET`, and saves one call of [`UPDATE_MANY`](crate::scripts::UPDATE_MANY),
//! which makes each save as the one-save script would, in turn, and
//! answers each. Redis then parses one command (and on a save, starts one
//! script) for a batch instead of one for each operation.
//!
//! A batch takes only operations already waiting when it starts, so a load
//! sees every save answered before the load was asked for. If a batch
//! fails as a whole (a lost connection), none of its operations is
//! answered from it: each runs again alone, with the store's usual errors.
//! A cluster is not batched: one command cannot span its slots.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use session_core::store::{TaskQueue, in_batches};
use session_core::{StoreError, now};
use tokio::sync::{mpsc, oneshot};

use crate::conn::Conn;
use crate::scripts::{Lua, UPDATE_MANY};

/// The most operations one batch holds.
const MAX_BATCH: usize = 64;

/// How many batches of loads may be in flight at once.
const LOADS_IN_FLIGHT: usize = 4;

/// How many batches of saves may be in flight at once: one, so that saves
/// queue while it runs and the next batch is larger (Redis starts one
/// script per batch; the server's CPU per save is what batching saves).
const SAVES_IN_FLIGHT: usize = 1;

/// The loads and saves of one store waiting for a batch.
pub(crate) struct Batches {
    conn: Conn,
    update_many: Arc<Lua>,
    index: Arc<ForIndex>,
    loads: TaskQueue<Load>,
    saves: TaskQueue<Queued>,
}

/// What a batch's saves need for the store's user index, besides each
/// save's entry.
struct ForIndex {
    /// The salt a new index takes.
    salt: Vec<u8>,
    /// The index's key.
    key: String,
}

/// One load: a Redis key's value.
struct Load {
    key: String,
    reply: oneshot::Sender<Option<Vec<u8>>>,
}

/// One save: its session key; for a session bound to a user, the
/// session's member in the user index and the user; and the update
/// script's first three arguments (the version's prefix, the value, the
/// expiry).
pub(crate) struct Save {
    pub(crate) key: String,
    pub(crate) entry: Option<[Vec<u8>; 2]>,
    pub(crate) args: Vec<Vec<u8>>,
}

/// A save with where its answer goes.
struct Queued {
    save: Save,
    reply: oneshot::Sender<Option<i64>>,
}

impl Batches {
    /// Batches on `conn` when it is a single node; `salt` is what a new
    /// user index takes, `index_key` the index's key.
    pub(crate) fn for_conn(
        conn: &Conn,
        functions: &Arc<AtomicBool>,
        salt: &[u8],
        index_key: String,
    ) -> Option<Batches> {
        match conn {
            Conn::Single(_) => Some(Batches {
                conn: conn.clone(),
                update_many: Arc::new(Lua::new(&UPDATE_MANY, functions)),
                index: Arc::new(ForIndex {
                    salt: salt.to_vec(),
                    key: index_key,
                }),
                loads: TaskQueue::new(),
                saves: TaskQueue::new(),
            }),
            Conn::Cluster(_) => None,
        }
    }

    /// The value under `key`, loaded with the loads waiting; `None` when
    /// the load is to run alone (as it does when there is no string under
    /// `key`, so that a key of another type is still reported).
    pub(crate) async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let load = |reply| Load {
            key: key.to_owned(),
            reply,
        };
        let conn = self.conn.clone();
        self.loads
            .ask(load, |loads| read(conn, loads))
            .await
            .flatten()
    }

    /// The update script's answer for `save`, made with the saves waiting;
    /// `None` when the save is to run alone.
    pub(crate) async fn update(&self, save: Save) -> Option<i64> {
        let (conn, lua) = (self.conn.clone(), Arc::clone(&self.update_many));
        let index = Arc::clone(&self.index);
        let queued = |reply| Queued { save, reply };
        self.saves
            .ask(queued, |saves| write(conn, lua, index, saves))
            .await
            .flatten()
    }
}

/// The readers: an `MGET` of the loads waiting, up to [`LOADS_IN_FLIGHT`]
/// at once.
async fn read(conn: Conn, loads: mpsc::UnboundedReceiver<Load>) {
    in_batches(loads, MAX_BATCH, LOADS_IN_FLIGHT, move |batch| {
        let conn = conn.clone();
        async move { load(&conn, batch).await }
    })
    .await;
}

/// Loads `batch` with one `MGET` and answers each load.
async fn load(conn: &Conn, batch: Vec<Load>) {
    let mut mget = redis::cmd("MGET");
    for load in &batch {
        mget.arg(&load.key);
    }
    let values: Result<Vec<Option<Vec<u8>>>, StoreError> = conn.query(&mget).await;
    match values {
        Ok(values) if values.len() == batch.len() => {
            // `MGET` answers nothing both for no key and for a key of
            // another type, which a `GET` alone reports.
            for (load, value) in batch.into_iter().zip(values) {
                let _ = load.reply.send(value);
            }
        }
        other => {
            if let Err(e) = other {
                tracing::debug!(target: "session_store_redis", error = %e, "a batch of loads failed; each runs alone");
            }
            for load in batch {
                let _ = load.reply.send(None);
            }
        }
    }
}

/// The writer: a call of the many-saves script with the saves waiting,
/// [`SAVES_IN_FLIGHT`] at a time.
async fn write(
    conn: Conn,
    lua: Arc<Lua>,
    index: Arc<ForIndex>,
    saves: mpsc::UnboundedReceiver<Queued>,
) {
    in_batches(saves, MAX_BATCH, SAVES_IN_FLIGHT, move |batch| {
        let (conn, lua, index) = (conn.clone(), Arc::clone(&lua), Arc::clone(&index));
        async move { save(&conn, &lua, &index, batch).await }
    })
    .await;
}

/// Makes `batch` in one call of the many-saves script and answers each.
async fn save(conn: &Conn, lua: &Lua, index: &ForIndex, batch: Vec<Queued>) {
    let mut keys = Vec::with_capacity(batch.len() + 1);
    let mut flags = Vec::with_capacity(batch.len());
    let mut args = Vec::with_capacity(3 + batch.len() * 5);
    args.extend([
        Vec::new(),
        now().unix_timestamp().to_string().into_bytes(),
        index.salt.clone(),
    ]);
    let mut replies = Vec::with_capacity(batch.len());
    for Queued { save, reply } in batch {
        keys.push(save.key);
        args.extend(save.args);
        match save.entry {
            Some(member_and_user) => {
                flags.push(b'i');
                args.extend(member_and_user);
            }
            None => flags.push(b'n'),
        }
        replies.push(reply);
    }
    if flags.contains(&b'i') {
        keys.push(index.key.clone());
    }
    args[0] = flags;
    match conn.eval::<Vec<i64>>(lua, &keys, &args).await {
        Ok(answers) if answers.len() == replies.len() => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Some(answer));
            }
        }
        other => {
            if let Err(e) = other {
                tracing::debug!(target: "session_store_redis", error = %e, "a batch of saves failed; each runs alone");
            }
            for reply in replies {
                let _ = reply.send(None);
            }
        }
    }
}
