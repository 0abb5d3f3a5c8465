//! The connection (one node or a cluster), commands and scripts on it, and
//! how Redis errors map onto the store contract's.

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError};
use session_core::StoreError;

use crate::index::Index;
use crate::scripts::Lua;
use crate::store::RedisStore;

#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisStore {
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let result = match self.conn.clone() {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        };
        result.map_err(store_error)
    }

    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, RedisError> {
        match self.conn.clone() {
            Conn::Single(mut c) => pipe.query_async(&mut c).await,
            Conn::Cluster(mut c) => pipe.query_async(&mut c).await,
        }
    }

    /// Runs a script on `keys` (Redis keys). A write that binds a session
    /// to a user adds its index entry before the script and again after it:
    /// before, so the session is never bound unlisted; after, so an entry
    /// pruned while the script ran (the session not yet there) is back
    /// when the write returns.
    pub(crate) async fn run_script<T: FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: &[Vec<u8>],
        index: Option<Index<'_>>,
    ) -> Result<T, StoreError> {
        let call = |verb: &str, script_arg: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(script_arg).arg(keys.len());
            for key in keys {
                cmd.arg(key);
            }
            for arg in args {
                cmd.arg(arg.as_slice());
            }
            cmd
        };
        let evalsha = call("EVALSHA", lua.script.get_hash());
        let result = match (self.conn.clone(), index) {
            (Conn::Single(mut c), Some(index)) => {
                let mut pipe = redis::pipe();
                self.index_commands(&mut pipe, index);
                pipe.add_command(evalsha);
                self.index_commands(&mut pipe, index);
                pipe.query_async::<(T,)>(&mut c).await.map(|(value,)| value)
            }
            (conn, index) => {
                if let Some(index) = index {
                    self.write_index(index).await?;
                }
                let result = match conn {
                    Conn::Single(mut c) => evalsha.query_async(&mut c).await,
                    Conn::Cluster(mut c) => evalsha.query_async(&mut c).await,
                };
                if let (Ok(_), Some(index)) = (&result, index) {
                    self.write_index(index).await?;
                }
                result
            }
        };
        match result {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                // EVAL loads the script; the entry is written again after it.
                let value = self.query(&call("EVAL", lua.source)).await?;
                if let Some(index) = index {
                    self.write_index(index).await?;
                }
                Ok(value)
            }
            other => other.map_err(store_error),
        }
    }

    /// Runs a script on one key (`EVALSHA`, loading it when Redis does not know it).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        key: &str,
        args: &[Vec<u8>],
    ) -> Result<T, StoreError> {
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(arg.as_slice());
        }
        let result = match self.conn.clone() {
            Conn::Single(mut c) => invocation.invoke_async(&mut c).await,
            Conn::Cluster(mut c) => invocation.invoke_async(&mut c).await,
        };
        result.map_err(store_error)
    }
}

pub(crate) fn store_error(e: RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        StoreError::unavailable(e)
    } else if e.code() == Some("WRONGTYPE") || e.to_string().contains("WRONGTYPE") {
        StoreError::Corrupt(format!("a key of the wrong type is in the way: {e}"))
    } else {
        StoreError::backend(e)
    }
}
