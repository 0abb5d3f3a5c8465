//! Walking every key of the store's prefix, on one node or on every
//! primary of a cluster (`SCAN`; never `KEYS`).

use session_core::StoreError;

use crate::conn::{Conn, store_error};
use crate::store::RedisStore;

impl RedisStore {
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
        match self.conn.clone() {
            Conn::Single(mut c) => {
                let mut cursor = 0u64;
                loop {
                    let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                        .map_err(store_error)?;
                    keys.extend(batch);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            // SCAN answers for one node: walk every primary.
            Conn::Cluster(mut c) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut c)
                    .await
                    .map_err(store_error)?;
                for (host, port) in primaries(&nodes) {
                    let mut cursor = 0u64;
                    loop {
                        let mut scan = redis::cmd("SCAN");
                        scan.arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000);
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let reply = c.route_command(scan, route).await.map_err(store_error)?;
                        let (next, batch): (u64, Vec<String>) = redis::from_redis_value(reply)
                            .map_err(|e| {
                                StoreError::backend(format!("unexpected SCAN reply: {e}"))
                            })?;
                        keys.extend(batch);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
        }
        Ok(keys)
    }
}

/// The `host:port` of each healthy primary in a `CLUSTER NODES` reply.
pub(crate) fn primaries(nodes: &str) -> Vec<(String, u16)> {
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
