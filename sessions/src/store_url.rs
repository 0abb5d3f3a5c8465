//! Reading a store URL, apart from opening the store it names.

use crate::OpenError;

/// A store URL, read: which engine, and this crate's own parameters
/// (`table=NAME` for SQL, `prefix=P` for Redis) taken out of it. Reading
/// opens nothing and reaches no server, so a configuration can be checked
/// before it is used; [`open_store`](crate::open_store) reads, then opens.
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
    },
    Cluster {
        nodes: Vec<String>,
        prefix: Option<String>,
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
            "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => {
                Target::Sql { url, table }
            }
            "redis" | "rediss" => Target::Redis { url, prefix },
            "redis+cluster" => {
                // Without the `//` a well-formed URL has.
                let nodes: Vec<String> = rest
                    .trim_start_matches("//")
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("redis://{n}"))
                    .collect();
                if nodes.is_empty() {
                    return Err(OpenError::Engine(
                        "redis+cluster: needs at least one node, as in redis+cluster://h1:7000,h2:7000"
                            .into(),
                    ));
                }
                Target::Cluster { nodes, prefix }
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

/// Removes the query parameter `name` from `url`, returning its value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == name => {
                value = Some(v.to_owned());
                false
            }
            _ => !pair.is_empty(),
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
        let Target::Redis { url, prefix } = StoreUrl::parse("redis://h?prefix=p:").unwrap().target
        else {
            panic!("a Redis URL")
        };
        assert_eq!((url.as_str(), prefix.as_deref()), ("redis://h", Some("p:")));
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
    fn the_debug_form_shows_no_password() {
        let url = StoreUrl::parse("postgres://app:hunter2@db/app").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
