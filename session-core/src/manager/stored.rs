//! What a manager does with stored sessions outside a request: list a
//! user's, inspect one, end one or all of a user's.

use super::SessionManager;
use crate::cookie_value::Rejection;
use crate::mode::Mode;
use crate::{Record, SessionError, SessionId, SessionInfo, StoreError, StoreKey};

impl SessionManager {
    /// The live sessions bound to `user` (see [`Session::set_user`](crate::Session::set_user)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] if the store has no user index, or the store's failure.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// log_in(&manager).await?;
    /// log_in(&manager).await?; // a second device
    /// assert_eq!(manager.sessions_of("alice").await?.len(), 2);
    /// assert!(manager.sessions_of("bob").await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn sessions_of(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        crate::store::user_index_of(&*self.inner.store)?
            .sessions_of(user)
            .await
    }

    /// Ends every session of `user` except `keep` (for "log out my other
    /// devices", pass the current session's [`store_key`](crate::Session::store_key)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] if the store has no user index, or the store's failure.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let phone = log_in(&manager).await?;
    /// let laptop = log_in(&manager).await?;
    /// // On the laptop: "log out my other devices".
    /// let request = manager.request([laptop.as_str()]);
    /// let here = request.load().await?.store_key();
    /// assert_eq!(manager.end_sessions_of("alice", here.as_ref()).await?, 1);
    /// assert!(manager.request([phone.as_str()]).load().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn end_sessions_of(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let ended = crate::store::user_index_of(&*self.inner.store)?
            .delete_sessions_of(user, keep)
            .await?;
        crate::observe::count(crate::observe::ENDED, ended);
        tracing::info!(target: "session_core", ended, "ended a user's sessions");
        Ok(ended)
    }

    /// The session ID in a session cookie's value (`<id>.<tag>`, with or
    /// without a leading `name=`), once its signature verifies with this
    /// manager's keys. For operators' tools; requests go through
    /// [`request`](Self::request).
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # let manager = SessionManager::new(session_store_memory::MemoryStore::new(), KeyRing::new([7u8; 32]).unwrap());
    /// assert!(manager.verify_cookie("session=forged.value").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A [`Rejection`] saying why the value is not a valid session cookie.
    pub fn verify_cookie(&self, value: &str) -> Result<SessionId, Rejection> {
        let value = value.trim();
        let prefix = format!("{}=", self.inner.cookie.name());
        let value = value.strip_prefix(&prefix).unwrap_or(value);
        match &self.inner.mode {
            Mode::Stored(values) => values.decode(value).map(|(id, _)| id),
            // No ID: the cookie is the session.
            Mode::InCookie(..) => Err(Rejection::Malformed),
        }
    }

    /// The stored record of `id` and its decoded data, without touching it
    /// (no expiry extension, nothing written). `None` when there is no live
    /// session.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let cookie = log_in(&manager).await?;
    /// let id = manager.verify_cookie(&cookie)?;
    /// let seen = manager.inspect(&id).await?.expect("a live session");
    /// assert_eq!(seen.record.user.as_deref(), Some("alice"));
    /// assert_eq!(seen.record.version, 1);
    /// # Ok(()) }
    /// ```
    pub async fn inspect(&self, id: &SessionId) -> Result<Option<Inspection>, SessionError> {
        self.inspect_key(&id.store_key()).await
    }

    /// As [`inspect`](Self::inspect), by the key the session is stored
    /// under (the digest operators' listings show, which is no live ID).
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store fails.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.set_user("alice")?;
    /// request.finish(200).await?;
    /// let listed = manager.sessions_of("alice").await?.pop().expect("one session");
    /// let seen = manager.inspect_key(&listed.key).await?.expect("a live session");
    /// assert_eq!(seen.record.user.as_deref(), Some("alice"));
    /// # Ok(()) }
    /// ```
    pub async fn inspect_key(&self, key: &StoreKey) -> Result<Option<Inspection>, SessionError> {
        let Some(record) = self.inner.store.load(key).await? else {
            return Ok(None);
        };
        if !record.is_live_at(crate::now()) {
            return Ok(None);
        }
        let data = self.inner.decode_data(&record);
        // A rotated-out ID's forward is no session.
        if data
            .as_ref()
            .is_ok_and(|d| crate::rotation::moved_to(d).is_some())
        {
            return Ok(None);
        }
        Ok(Some(Inspection { record, data }))
    }

    /// Ends one session on the server (as a logout would).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    ///
    /// ```
    /// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
    /// #     let request = manager.request(None);
    /// #     request.load().await?.set_user("alice")?;
    /// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
    /// # }
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let cookie = log_in(&manager).await?;
    /// let id = manager.verify_cookie(&cookie)?;
    /// manager.end(&id).await?;
    /// assert!(manager.inspect(&id).await?.is_none());
    /// manager.end(&id).await?; // ending it again is not an error
    /// # Ok(()) }
    /// ```
    pub async fn end(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = id.store_key();
        let end = crate::rotation::end_following(&*self.inner.store, &*self.inner.codec, &key);
        crate::observe::store_op("delete", id, end).await?;
        self.inner.decoded.forget(&key);
        crate::observe::count(crate::observe::ENDED, 1);
        tracing::info!(target: "session_core", session = %id.log_key(), "ended a session");
        Ok(())
    }

    /// As [`end`](Self::end), by the key the session is stored under (the
    /// digest operators' listings show).
    ///
    /// # Errors
    ///
    /// When the store fails.
    ///
    /// ```
    /// # use session_core::{KeyRing, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
    /// let request = manager.request(None);
    /// request.load().await?.set_user("alice")?;
    /// request.finish(200).await?;
    /// let listed = manager.sessions_of("alice").await?.pop().expect("one session");
    /// manager.end_key(&listed.key).await?;
    /// assert!(manager.sessions_of("alice").await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn end_key(&self, key: &StoreKey) -> Result<(), StoreError> {
        crate::rotation::end_following(&*self.inner.store, &*self.inner.codec, key).await?;
        self.inner.decoded.forget(key);
        crate::observe::count(crate::observe::ENDED, 1);
        tracing::info!(target: "session_core", "ended a session by its store key");
        Ok(())
    }
}

/// One stored session as [`SessionManager::inspect`] sees it.
///
/// ```
/// # async fn log_in(manager: &SessionManager) -> Result<String, Box<dyn std::error::Error>> {
/// #     let request = manager.request(None);
/// #     request.load().await?.set_user("alice")?;
/// #     Ok(request.finish(200).await?.cookie_pair().unwrap().to_owned())
/// # }
/// # use session_core::{KeyRing, SessionManager};
/// # use session_store_memory::MemoryStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionManager::new(MemoryStore::new(), KeyRing::new([7u8; 32])?);
/// let id = manager.verify_cookie(&log_in(&manager).await?)?;
/// let seen = manager.inspect(&id).await?.expect("a live session");
/// assert!(seen.data.is_ok());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Inspection {
    /// The stored record.
    pub record: Record,
    /// Its data, decoded (or why it would not decode).
    pub data: Result<crate::Data, crate::CodecError>,
}
