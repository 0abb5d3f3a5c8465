//! The connection (one node or a cluster), commands and scripts on it, and
//! how Redis errors map onto the store contract's.

use std::sync::atomic::Ordering;

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError};
use session_core::StoreError;

use crate::index::Index;
use crate::scripts::{LIBRARY, Lua};
use crate::store::RedisStore;

#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Runs `cmd`.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.run(cmd).await.map_err(store_error)
    }

    /// Runs a script: its library function (`FCALL`, loading the library
    /// where Redis does not have it), or, once Redis refused functions,
    /// `EVALSHA` (and `EVAL` when Redis does not know the script yet).
    pub(crate) async fn eval<T: FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: &[Vec<u8>],
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
        if lua.functions.load(Ordering::Relaxed) {
            let fcall = call("FCALL", &lua.function);
            // Each refusal below comes before the function runs, so
            // running the script another way runs it once.
            match self.run(&fcall).await {
                Err(e) if function_missing(&e) => match self.load_library().await {
                    Ok(()) => match self.run(&fcall).await {
                        Err(e) if function_missing(&e) => {}
                        other => return other.map_err(store_error),
                    },
                    Err(e) if refused(&e) => no_functions(lua, &e),
                    Err(e) => return Err(store_error(e)),
                },
                Err(e) if refused(&e) => no_functions(lua, &e),
                other => return other.map_err(store_error),
            }
        }
        match self.run(&call("EVALSHA", lua.script.get_hash())).await {
            Err(e) if e.code() == Some("NOSCRIPT") => self.query(&call("EVAL", lua.source)).await,
            other => other.map_err(store_error),
        }
    }

    /// Runs `cmd`, answering Redis's own error.
    pub(crate) async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        match self.clone() {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }

    /// Loads [`LIBRARY`] (on a cluster, on every primary); replacing a
    /// library of the same name replaces it with the same code.
    async fn load_library(&self) -> Result<(), RedisError> {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("LOAD").arg("REPLACE").arg(&LIBRARY.code);
        self.run::<redis::Value>(&cmd).await.map(drop)
    }
}

/// Redis has no function of that name (a server that never loaded the
/// library, or lost it: a restart without persistence, `FUNCTION FLUSH`).
fn function_missing(e: &RedisError) -> bool {
    e.to_string().contains("Function not found")
}

/// Redis (or a proxy before it) does not let this client use functions:
/// an unknown command, an ACL that denies it.
pub(crate) fn refused(e: &RedisError) -> bool {
    let text = e.to_string();
    e.code() == Some("NOPERM") || text.contains("unknown command")
}

fn no_functions(lua: &Lua, e: &RedisError) {
    if lua.functions.swap(false, Ordering::Relaxed) {
        tracing::info!(target: "session_store_redis", error = %e, "Redis refuses functions; this store runs its scripts with EVALSHA");
    }
}

impl RedisStore {
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.conn.query(cmd).await
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

    /// Runs a write script on `keys` (Redis keys) with `args`. A write that
    /// binds a session writes its user-index entry: on a single node in
    /// the same step (the index key and the entry go to the script, see
    /// [`crate::scripts`]); on a cluster before the script, so the session
    /// is never bound unlisted, and again after it, so an entry pruned
    /// while the script ran (the session not yet there) is back when the
    /// write returns.
    pub(crate) async fn run_script<T: FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: &[Vec<u8>],
        index: Option<Index<'_>>,
    ) -> Result<T, StoreError> {
        let Some(index) = index else {
            return self.eval(lua, keys, args).await;
        };
        if let Conn::Single(_) = self.conn {
            let mut keys = keys.to_vec();
            keys.push(self.index_key());
            let mut args = args.to_vec();
            args.extend(index.args(&self.inner.salt));
            return self.eval(lua, &keys, &args).await;
        }
        self.write_index(index).await?;
        let value = self.eval(lua, keys, args).await?;
        self.write_index(index).await?;
        Ok(value)
    }

    /// Runs a script (see [`Conn::eval`]).
    pub(crate) async fn eval<T: FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> Result<T, StoreError> {
        self.conn.eval(lua, keys, args).await
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
    } else if e.code() == Some("CORRUPT") || e.to_string().contains("CORRUPT") {
        StoreError::Corrupt(e.to_string())
    } else {
        StoreError::backend(e)
    }
}
