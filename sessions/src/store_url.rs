//! Reading a store URL, apart from opening the store it names.

use crate::OpenError;

/// A store URL, read: which engine, and this crate's own parameters
/// (`table=NAME` for SQL, `prefix=P` and `tls_ca=PEM FILE` for Redis,
/// percent-decoded) taken out of it; the rest goes to the engine's driver as it is (`sqlite:a.db`
/// and `sqlite://a.db` are the relative file `a.db`, as sqlx reads them).
/// On a Redis Cluster URL, credentials given once reach every node:
/// `redis+cluster://:pw@h1:7000,h2:7000`. Reading opens nothing and
/// reaches no server, so a configuration can be checked before it is
/// used; [`open_store`](crate::open_store) reads, then opens.
///
/// ```
/// use sessions::StoreUrl;
/// let url = StoreUrl::parse("postgres://app@db/app?table=web_sessions&sslmode=require")?;
/// assert_eq!(url.scheme(), "postgres");
/// assert!(StoreUrl::parse("file:").is_err(), "a file store needs a directory");
/// assert!(StoreUrl::parse("mongodb://db").is_err());
/// # Ok::<(), sessions::OpenError>(())
/// ```
#[derive(Clone)]
pub struct StoreUrl {
    pub(crate) target: Target,
    scheme: String,
}

/// What a store URL names.
#[derive(Clone)]
#[allow(
    dead_code,
    reason = "each engine's fields are read by open_store when its feature is enabled"
)]
pub(crate) enum Target {
    Memory,
    File(String),
    Sql {
        url: String,
        table: Option<String>,
    },
    Redis {
        url: String,
        prefix: Option<String>,
        tls_ca: Option<String>,
    },
    Cluster {
        nodes: Vec<String>,
        prefix: Option<String>,
        tls_ca: Option<String>,
    },
}

/// Shows the scheme only: the rest may hold a password.
impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreUrl")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl StoreUrl {
    /// Reads `url`.
    ///
    /// # Errors
    ///
    /// [`OpenError::Unsupported`] for a scheme this crate has no store for,
    /// [`OpenError::Engine`] for a URL its engine could never open (a file
    /// store without a directory, a cluster without nodes).
    ///
    /// ```
    /// let url = sessions::StoreUrl::parse("redis+cluster://10.0.0.1:7000,10.0.0.2:7000?prefix=app:")?;
    /// assert_eq!(url.scheme(), "redis+cluster");
    /// # Ok::<(), sessions::OpenError>(())
    /// ```
    pub fn parse(url: &str) -> Result<StoreUrl, OpenError> {
        let (url, table) = take_param(url, "table");
        let (url, prefix) = take_param(&url, "prefix");
        let (url, tls_ca) = take_param(&url, "tls_ca");
        // What follows the scheme's `:` (nothing when there is none).
        let (scheme, rest) = url.split_once(':').unwrap_or((url.as_str(), ""));
        let scheme = scheme.to_ascii_lowercase();
        let target = match scheme.as_str() {
            "memory" => Target::Memory,
            "file" => {
                let dir = rest.trim_start_matches("//");
                if dir.is_empty() {
                    return Err(OpenError::Engine(
                        "file: needs a directory, as in file:/var/lib/app/sessions".into(),
                    ));
                }
                Target::File(dir.to_owned())
            }
            "sqlite" => Target::Sql { url, table },
            "postgres" | "postgresql" | "mysql" | "mariadb" => {
                check(&scheme, &url)?;
                Target::Sql { url, table }
            }
            "redis" | "rediss" => {
                check(&scheme, &url)?;
                Target::Redis {
                    url,
                    prefix,
                    tls_ca,
                }
            }
            "redis+cluster" => {
                // `[//][userinfo@]host:port,host:port[/db]`: the userinfo
                // and the path go to every node.
                let rest = rest.trim_start_matches("//");
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let (userinfo, hosts) = match authority.rsplit_once('@') {
                    Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
                    None => (String::new(), authority),
                };
                let nodes: Vec<String> = hosts
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("redis://{userinfo}{n}{path}"))
                    .collect();
                for node in &nodes {
                    check("redis+cluster", node)?;
                }
                if nodes.is_empty() {
                    return Err(OpenError::Engine(
                        "redis+cluster: needs at least one node, as in redis+cluster://h1:7000,h2:7000"
                            .into(),
                    ));
                }
                Target::Cluster {
                    nodes,
                    prefix,
                    tls_ca,
                }
            }
            _ => return Err(OpenError::Unsupported(scheme)),
        };
        Ok(StoreUrl { target, scheme })
    }

    /// The URL's scheme, in lowercase (`sqlite`, `redis+cluster`, …).
    ///
    /// ```
    /// assert_eq!(sessions::StoreUrl::parse("SQLite:s.db")?.scheme(), "sqlite");
    /// # Ok::<(), sessions::OpenError>(())
    /// ```
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
}

/// Reads a server URL with the `url` crate, so that a malformed one is
/// refused here with the part that is wrong named, and never the URL (it
/// may hold a password).
fn check(scheme: &str, url: &str) -> Result<(), OpenError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| OpenError::Engine(format!("the {scheme} URL is malformed: {e}").into()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(OpenError::Engine(
            format!("the {scheme} URL names no host").into(),
        ));
    }
    Ok(())
}

/// Removes the query parameter `name` from `url`, returning its value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            // One pair, percent-decoded as a form would be.
            match url::form_urlencoded::parse(pair.as_bytes()).next() {
                Some((k, v)) if k == name => {
                    value = Some(v.into_owned());
                    false
                }
                _ => !pair.is_empty(),
            }
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_parameters_are_taken_out_of_the_url() {
        let url = StoreUrl::parse("postgres://u@h/db?sslmode=require&table=t&x=1").unwrap();
        let Target::Sql { url, table } = url.target else {
            panic!("a SQL URL")
        };
        assert_eq!(url, "postgres://u@h/db?sslmode=require&x=1");
        assert_eq!(table.as_deref(), Some("t"));
        let Target::Redis { url, prefix, .. } =
            StoreUrl::parse("redis://h?prefix=p:").unwrap().target
        else {
            panic!("a Redis URL")
        };
        assert_eq!((url.as_str(), prefix.as_deref()), ("redis://h", Some("p:")));
    }

    #[test]
    fn parameters_are_percent_decoded() {
        let Target::Redis { prefix, .. } = StoreUrl::parse("redis://h?prefix=app%3Asess%20")
            .unwrap()
            .target
        else {
            panic!("a Redis URL")
        };
        assert_eq!(prefix.as_deref(), Some("app:sess "));
        let Target::Sql { table, .. } = StoreUrl::parse("sqlite:a.db?table=web%5Fsessions")
            .unwrap()
            .target
        else {
            panic!("a SQL URL")
        };
        assert_eq!(table.as_deref(), Some("web_sessions"));
    }

    #[test]
    fn cluster_credentials_reach_every_node() {
        let url =
            StoreUrl::parse("redis+cluster://app:p%40ss@h1:7000,h2:7001/0?prefix=x:").unwrap();
        let Target::Cluster { nodes, prefix, .. } = url.target else {
            panic!("a cluster URL")
        };
        assert_eq!(
            nodes,
            [
                "redis://app:p%40ss@h1:7000/0",
                "redis://app:p%40ss@h2:7001/0"
            ]
        );
        assert_eq!(prefix.as_deref(), Some("x:"));
        let Target::Cluster { nodes, .. } = StoreUrl::parse("redis+cluster://h1:7000,h2:7001")
            .unwrap()
            .target
        else {
            panic!("a cluster URL")
        };
        assert_eq!(nodes, ["redis://h1:7000", "redis://h2:7001"]);
    }

    #[test]
    fn sqlite_urls_reach_sqlx_as_written() {
        for url in [
            "sqlite:a.db",
            "sqlite://a.db",
            "sqlite:///tmp/a.db?mode=rwc",
        ] {
            let Target::Sql { url: passed, table } = StoreUrl::parse(url).unwrap().target else {
                panic!("a SQL URL")
            };
            assert_eq!((passed.as_str(), table), (url, None));
        }
    }

    #[test]
    fn a_scheme_alone_is_an_error_not_a_panic() {
        // Found by the store_url fuzz target: these sliced past the end.
        for url in ["file", "redis+cluster", "FILE", "redis+cluster?prefix=x"] {
            assert!(StoreUrl::parse(url).is_err(), "{url}");
        }
        assert!(StoreUrl::parse("memory").is_ok());
    }

    #[test]
    fn malformed_server_urls_name_the_bad_part_and_never_the_password() {
        for (url, part) in [
            ("postgres://app:hunter2@db:port/app", "port"),
            ("mysql://app:hunter2@[::1/app", "IPv6"),
            ("redis://:hunter2@:6379", "host"),
            ("rediss://:hunter2@", "host"),
            ("redis+cluster://u:hunter2@h1:7000,h2:x", "port"),
        ] {
            let e = StoreUrl::parse(url).expect_err(url).to_string();
            assert!(e.contains(part), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{url}: {e}");
        }
        for url in [
            "postgres://app:hunter2@db:5432/app?sslmode=require",
            "postgresql://app@db/app",
            "mysql://root:pw@127.0.0.1:3306/test",
            "redis://:pw@127.0.0.1:6379/2",
            "rediss://redis.internal",
            "sqlite://relative.db",
            "sqlite::memory:",
        ] {
            assert!(StoreUrl::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn the_debug_form_shows_no_password() {
        let url = StoreUrl::parse("postgres://app:hunter2@db/app").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
