//! Opening what a command works on: the store, the secret and key ring,
//! the manager, and the session a command names.

use std::sync::Arc;

use sessions::django::signing::DjangoSigner;
use sessions::{
    AnyStore, CookieConfig, DjangoSqlStore, IdFormat, KeyRing, SessionId, SessionManager,
    SessionStore, StoreKey, open_store,
};

use crate::Cli;
use crate::failure::{Failure, from_store};

/// The store's counts and sweeps, or the failure a store without them gives.
pub(super) fn tools(store: &dyn SessionStore) -> Result<&dyn sessions::Maintenance, Failure> {
    sessions::store::maintenance_of(store).map_err(from_store)
}

/// The store's user index, or the failure a store without one gives.
pub(super) fn user_index(store: &dyn SessionStore) -> Result<&dyn sessions::UserIndex, Failure> {
    sessions::store::user_index_of(store).map_err(from_store)
}

/// Opens the store: any engine by URL, or Django's table with `--django`
/// (then there is no `AnyStore` to migrate).
pub(super) async fn open(cli: &Cli) -> Result<(Arc<dyn SessionStore>, Option<AnyStore>), Failure> {
    if cli.django {
        let store = DjangoSqlStore::connect(store_url(cli)?)
            .await
            .map_err(Failure::store)?;
        return Ok((Arc::new(store), None));
    }
    let store = open_store(store_url(cli)?).await.map_err(|e| match e {
        sessions::OpenError::Unsupported(_) => Failure::usage(e.to_string()),
        other => Failure::store(other),
    })?;
    Ok((Arc::new(store.clone()), Some(store)))
}

/// The store's URL, from `--store` or `SESSION_STORE`.
pub(super) fn store_url(cli: &Cli) -> Result<&str, Failure> {
    cli.store
        .as_deref()
        .ok_or_else(|| Failure::usage("give the store: --store URL, or SESSION_STORE"))
}

/// Reads the secret: `--secret-file`, else `SESSION_SECRET`.
pub(super) fn secret(cli: &Cli) -> Result<Option<String>, Failure> {
    if let Some(path) = &cli.secret_file {
        return std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| {
                Failure::usage(format!(
                    "cannot read the secret file {}: {e}",
                    path.display()
                ))
            });
    }
    Ok(std::env::var("SESSION_SECRET")
        .ok()
        .filter(|s| !s.is_empty()))
}

/// The older secrets in `SESSION_SECRET_FALLBACKS` (comma-separated).
pub(super) fn fallbacks() -> Vec<String> {
    std::env::var("SESSION_SECRET_FALLBACKS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn key_ring(cli: &Cli) -> Result<Option<KeyRing>, Failure> {
    let Some(secret) = secret(cli)? else {
        return Ok(None);
    };
    let fallbacks = fallbacks();
    KeyRing::with_fallbacks(secret, fallbacks)
        .map(Some)
        .map_err(|e| Failure::usage(e.to_string()))
}

/// A manager for reading single sessions. Without a secret a throwaway key
/// is used: raw IDs still work, signed cookies are refused.
pub(super) fn manager(cli: &Cli, store: Arc<dyn SessionStore>) -> Result<SessionManager, Failure> {
    if cli.django {
        // Django's SECRET_KEY may be of any length; without one, keys still
        // find sessions but their data does not decode.
        let secret = secret(cli)?.unwrap_or_else(|| SessionId::generate().expose().to_owned());
        let fallbacks = fallbacks();
        let signer =
            DjangoSigner::new(secret, fallbacks).map_err(|e| Failure::usage(e.to_string()))?;
        let unused = KeyRing::new(SessionId::generate().expose())
            .map_err(|e| Failure::usage(e.to_string()))?;
        return SessionManager::builder(store, unused)
            .django(signer)
            .build()
            .map_err(|e| Failure::usage(e.to_string()));
    }
    let keys = match key_ring(cli)? {
        Some(keys) => keys,
        // 256 random bits, never written anywhere: verifies nothing.
        None => KeyRing::new(SessionId::generate().expose())
            .map_err(|e| Failure::usage(e.to_string()))?,
    };
    SessionManager::builder(store, keys)
        .cookie(CookieConfig::new(cli.cookie_name.clone()))
        .build()
        .map_err(|e| Failure::usage(e.to_string()))
}

/// The session a command works on, and how to name it in output.
pub(super) struct Chosen {
    pub(super) key: StoreKey,
    /// What the output calls it: the store key, a digest of the ID
    /// (never a live ID: in Django mode the store key *is* the ID, so a
    /// digest of it is shown instead).
    pub(super) shown: String,
}

/// The session given by `--key`, or else read from standard input.
pub(super) fn chosen(
    cli: &Cli,
    manager: &SessionManager,
    key: Option<&str>,
) -> Result<Chosen, Failure> {
    if let Some(key) = key {
        if cli.django {
            return Err(Failure::usage(
                "Django keys are live session IDs: give the cookie or ID on standard input instead",
            ));
        }
        let key = key.trim();
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::usage(
                "a key is 64 hex digits, as `list` prints it",
            ));
        }
        return Ok(Chosen {
            key: StoreKey::new(key.to_ascii_lowercase()),
            shown: key.to_ascii_lowercase(),
        });
    }
    let mut input = String::new();
    std::io::stdin()
        .read_line(&mut input)
        .map_err(|e| Failure::usage(format!("cannot read standard input: {e}")))?;
    if input.trim().is_empty() {
        return Err(Failure::usage(
            "give --key KEY, or the session's cookie value or ID on standard input",
        ));
    }
    let id = session_id(cli, manager, &input)?;
    let shown = if cli.django {
        id.log_key()
    } else {
        id.store_key().as_str().to_owned()
    };
    Ok(Chosen {
        key: id.store_key(),
        shown,
    })
}

/// The session ID in `input`: a signed cookie value (verified) or a raw ID.
pub(super) fn session_id(
    cli: &Cli,
    manager: &SessionManager,
    input: &str,
) -> Result<SessionId, Failure> {
    let input = input.trim();
    let prefix = format!("{}=", manager.cookie().name());
    let input = input.strip_prefix(&prefix).unwrap_or(input);
    if input.contains('.') {
        if secret(cli)?.is_none() {
            return Err(Failure::usage(
                "a cookie value needs the secret: set SESSION_SECRET or --secret-file",
            ));
        }
        return manager
            .verify_cookie(input)
            .map_err(|e| Failure::usage(format!("not a valid session cookie: {e}")));
    }
    SessionId::parse_in(manager.id_format(), input)
        .or_else(|| SessionId::parse_in(IdFormat::Django, input))
        .ok_or_else(|| Failure::usage("not a session ID or cookie value"))
}
