//! Walking every node (the single one, or every primary of a cluster),
//! every key of the store's prefix on them (`SCAN`; never `KEYS`), and
//! the live sessions among those keys.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisError, Value};
use session_core::time::OffsetDateTime;
use session_core::{StoreError, StoreKey};

use crate::conn::{Conn, store_error};
use crate::store::RedisStore;

/// A live session a walk found.
pub(crate) struct Live {
    pub(crate) redis_key: String,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) user: Option<String>,
    /// Stored in the layout of the 0.1 releases.
    pub(crate) legacy: bool,
}

/// A node a walk visits: `None` for the single node, else a cluster
/// primary's host and port.
pub(crate) type Node = Option<(String, u16)>;

impl RedisStore {
    /// The nodes that hold the store's keys: the single node, or every
    /// healthy primary of a cluster (commands such as `SCAN` and
    /// `FUNCTION LIST` answer for one node only).
    pub(crate) async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        match self.conn.clone() {
            Conn::Single(_) => Ok(vec![None]),
            Conn::Cluster(mut c) => {
                let listing: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut c)
                    .await
                    .map_err(store_error)?;
                Ok(primaries(&listing).into_iter().map(Some).collect())
            }
        }
    }

    /// Runs `cmd` on `node` (one of [`nodes`](Self::nodes)).
    pub(crate) async fn on_node(&self, cmd: Cmd, node: &Node) -> Result<Value, RedisError> {
        match (self.conn.clone(), node) {
            (Conn::Cluster(mut c), Some((host, port))) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                c.route_command(cmd, route).await
            }
            _ => self.conn.run(&cmd).await,
        }
    }

    pub(crate) async fn scan_prefix(&self) -> Result<Vec<String>, StoreError> {
        // Every glob character escaped, the escape character first.
        let pattern = format!(
            "{}*",
            self.inner
                .prefix
                .replace('\\', "\\\\")
                .replace('*', "\\*")
                .replace('?', "\\?")
                .replace('[', "\\[")
        );
        let mut keys = Vec::new();
        for node in self.nodes().await? {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000);
                let reply = self.on_node(scan, &node).await.map_err(store_error)?;
                let (next, batch): (u64, Vec<String>) = redis::from_redis_value(reply)
                    .map_err(|e| StoreError::backend(format!("unexpected SCAN reply: {e}")))?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys)
    }

    /// Every session of the prefix live at `now`, in either layout (a
    /// corrupt one is skipped).
    pub(crate) async fn live_sessions(&self, now: OffsetDateTime) -> Result<Vec<Live>, StoreError> {
        let mut live = Vec::new();
        for redis_key in self.scan_prefix().await? {
            let Some(tag) = self.tag_of(&redis_key) else {
                continue; // a user index
            };
            let legacy = crate::legacy::is_legacy_tag(tag);
            let found = if legacy {
                self.read_legacy(&redis_key, StoreKey::new(tag))
                    .await
                    .map(|r| r.map(|r| (r.expires_at, r.user)))
            } else {
                self.get(&redis_key, |s| (s.expires_at, s.user.map(str::to_owned)))
                    .await
            };
            match found {
                Ok(Some((expires_at, user))) if expires_at > now => live.push(Live {
                    redis_key,
                    expires_at,
                    user,
                    legacy,
                }),
                Ok(_) | Err(StoreError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(live)
    }
}

/// The `host:port` of each healthy primary in a `CLUSTER NODES` reply.
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                return None;
            }
            let (host, port) = address.split('@').next()?.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn primaries_are_read_from_cluster_nodes() {
        let nodes = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922\n\
                     c3 127.0.0.1:7003@17003 slave a1 0 0 1 connected\n\
                     d4 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected\n";
        assert_eq!(
            super::primaries(nodes),
            [
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001)
            ]
        );
    }
}
