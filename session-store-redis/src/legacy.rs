//! Sessions in the layout of the store's 0.1 releases, read and moved to
//! the current one (see [`crate::value`]).
//!
//! There a session was a hash (`d` data, `v` version, `c` created and `e`
//! expires in Unix seconds, `u` user) under `<prefix>{<store key>}`, and a
//! user's index a set of such keys under `<prefix>user:{<user>}`. A
//! session found only in the old layout is moved when it is loaded, at the
//! version it was read at, so it keeps its data, version and expiry;
//! [`RedisStore::migrate`] moves them all at once.

use session_core::{Record, StoreError, StoreKey, now};

use crate::conn::Conn;
use crate::index::Index;
use crate::store::RedisStore;
use crate::value;

/// Whether the part of a Redis key between the braces is an old-layout
/// session's (a native store key: 64 lowercase hex digits).
pub(crate) fn is_legacy_tag(tag: &str) -> bool {
    tag.len() == 64 && tag.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn int_field(field: &Option<Vec<u8>>, name: &str) -> Result<i64, StoreError> {
    field
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("field {name} is missing or not an integer")))
}

fn time_field(
    field: &Option<Vec<u8>>,
    name: &str,
) -> Result<session_core::time::OffsetDateTime, StoreError> {
    let secs = int_field(field, name)?;
    session_core::time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| StoreError::Corrupt(format!("field {name} out of range")))
}

impl RedisStore {
    fn legacy_session_key(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}", self.inner.prefix, key.as_str())
    }

    fn legacy_user_key(&self, user: &str) -> String {
        format!("{}user:{{{}}}", self.inner.prefix, user)
    }

    /// The old-layout session under `redis_key`, read as it is.
    pub(crate) async fn read_legacy(
        &self,
        redis_key: &str,
        key: StoreKey,
    ) -> Result<Option<Record>, StoreError> {
        let fields: Vec<Option<Vec<u8>>> = self
            .query(
                redis::cmd("HMGET")
                    .arg(redis_key)
                    .arg(&["d", "v", "c", "e", "u"]),
            )
            .await?;
        let [data, version, created, expires, user] = <[Option<Vec<u8>>; 5]>::try_from(fields)
            .map_err(|_| StoreError::Corrupt("unexpected reply to HMGET".to_owned()))?;
        if data.is_none() && version.is_none() && expires.is_none() {
            return Ok(None);
        }
        Ok(Some(Record {
            key,
            data: data.ok_or_else(|| StoreError::Corrupt("no data field".to_owned()))?,
            version: u64::try_from(int_field(&version, "v")?)
                .map_err(|_| StoreError::Corrupt("negative version".to_owned()))?,
            created_at: time_field(&created, "c")?,
            expires_at: time_field(&expires, "e")?,
            user: user
                .map(String::from_utf8)
                .transpose()
                .map_err(|_| StoreError::Corrupt("user is not UTF-8".to_owned()))?,
        }))
    }

    /// The session `key` names, when it is found only in the old layout:
    /// moved to the current one first, so that the writes that follow the
    /// load find it there.
    pub(crate) async fn load_legacy(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let legacy_key = self.legacy_session_key(key);
        // A hash that keeps changing (writers of the old release still
        // running) is retried a few times, then reported.
        for _ in 0..3 {
            let Some(record) = self.read_legacy(&legacy_key, key.clone()).await? else {
                return Ok(None);
            };
            if !record.is_live_at(now()) {
                return Ok(None);
            }
            match self.move_legacy(&legacy_key, &record).await? {
                Moved::Done => return Ok(Some(record)),
                // Moved meanwhile by another request.
                Moved::Taken => {
                    return self
                        .get(&self.session_key(key), |s| s.into_record(key.clone()))
                        .await;
                }
                Moved::Changed => continue,
            }
        }
        Err(StoreError::backend(
            "a session of the old layout kept changing while it was moved",
        ))
    }

    /// Writes `record` (read from `legacy_key` at its version) in the
    /// current layout and deletes the hash, if the hash is still at that
    /// version.
    async fn move_legacy(&self, legacy_key: &str, record: &Record) -> Result<Moved, StoreError> {
        let value = value::encode(record)?;
        let expires = record.expires_at.unix_timestamp().to_string().into_bytes();
        let version = record.version.to_string().into_bytes();
        let new_key = self.session_key(&record.key);
        let index = Index::of(record);
        if let Conn::Single(_) = self.conn {
            let keys = [legacy_key.to_owned(), new_key];
            let args = [version, value, expires];
            let moved: i64 = self
                .run_script(&self.inner.move_legacy, &keys, &args, index)
                .await?;
            return Ok(match moved {
                1 => Moved::Done,
                -2 => Moved::Taken,
                _ => Moved::Changed,
            });
        }
        // A cluster keeps the two keys in different slots: in steps, the
        // new record first, undone if the hash changed meanwhile.
        if let Some(index) = index {
            self.write_index(index).await?;
        }
        let set: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(&new_key)
                    .arg(value)
                    .arg("NX")
                    .arg("EXAT")
                    .arg(expires),
            )
            .await?;
        if set.is_none() {
            return Ok(Moved::Taken);
        }
        let ended: i64 = self
            .run_script(
                &self.inner.end_legacy,
                &[legacy_key.to_owned()],
                &[version],
                None,
            )
            .await?;
        if ended == 0 {
            self.query::<()>(redis::cmd("DEL").arg(&new_key)).await?;
            return Ok(Moved::Changed);
        }
        if let Some(index) = index {
            self.write_index(index).await?;
        }
        Ok(Moved::Done)
    }

    /// Moves the sessions an old-layout index lists for `user` (which
    /// indexes them anew when they are bound), then drops the old index.
    pub(crate) async fn move_legacy_index(&self, user: &str) -> Result<(), StoreError> {
        let legacy_index = self.legacy_user_key(user);
        let members: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(&legacy_index))
            .await?;
        if members.is_empty() {
            return Ok(());
        }
        for member in &members {
            if let Some(tag) = self.tag_of(member) {
                match self.load_legacy(&StoreKey::new(tag)).await {
                    Ok(_) | Err(StoreError::Corrupt(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut remove = redis::cmd("SREM");
        remove.arg(&legacy_index).arg(&members);
        self.query::<()>(&remove).await
    }

    /// Moves every session and user index of the old layouts (sessions
    /// and indexes of the 0.1 releases, and on a single node the per-user
    /// indexes written before the shared buckets) to the current one, and
    /// answers how many sessions it moved. Sessions of the old layout are
    /// also moved one by one when they are loaded, so this is needed only
    /// to be done with the old layout at once; run it after every instance
    /// of the old release has stopped. `session-cli migrate` runs it.
    ///
    /// # Errors
    ///
    /// When Redis fails; what was moved stays moved.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use session_store_redis::RedisStore;
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let moved = store.migrate().await?;
    /// println!("{moved} sessions moved to the current layout");
    /// assert_eq!(store.migrate().await?, 0); // nothing left
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<u64, StoreError> {
        let mut moved = 0;
        let mut users = Vec::new();
        let mut indexes = Vec::new();
        let single = matches!(self.conn, Conn::Single(_));
        for redis_key in self.scan_prefix().await? {
            let user_of = |layout: &str| {
                redis_key
                    .strip_prefix(self.inner.prefix.as_str())
                    .and_then(|rest| rest.strip_prefix(layout))
                    .and_then(|rest| rest.strip_suffix('}'))
                    .map(str::to_owned)
            };
            if let Some(user) = user_of("user:{") {
                users.push(user);
            } else if let Some(user) = user_of("u:{").filter(|_| single) {
                indexes.push(user);
            } else if let Some(tag) = self.tag_of(&redis_key).filter(|tag| is_legacy_tag(tag)) {
                match self.load_legacy(&StoreKey::new(tag)).await {
                    Ok(Some(_)) => moved += 1,
                    Ok(None) | Err(StoreError::Corrupt(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for user in users {
            self.move_legacy_index(&user).await?;
        }
        // A single node's per-user indexes from before the shared buckets:
        // listing the user's sessions moves the index into the buckets.
        for user in indexes {
            self.indexed(&user).await?;
        }
        Ok(moved)
    }
}

/// How moving one session ended.
enum Moved {
    Done,
    /// The current layout already has the session.
    Taken,
    /// The hash changed or went after it was read.
    Changed,
}
