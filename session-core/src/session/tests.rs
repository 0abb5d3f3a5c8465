//! The session type's own tests.

use super::*;
use crate::{Codec, Data, Expiry};
use serde_json::json;
use time::Duration;

#[test]
fn typed_access_and_flags() {
    let s = Session::detached();
    assert!(s.is_empty() && !s.modified());
    assert_eq!(s.get::<u32>("missing").unwrap(), None);
    s.insert("n", 5).unwrap();
    assert_eq!(s.get::<u32>("n").unwrap(), Some(5));
    assert!(matches!(
        s.get::<String>("n"),
        Err(SessionError::Deserialize { .. })
    ));
    assert!(s.contains_key("n") && s.modified());
    assert_eq!(s.remove("n"), Some(json!(5)));
    assert_eq!(s.remove("n"), None);
    assert!(s.is_empty());
}

/// A value whose arrays nest `depth` deep (`[]` is 1).
fn nested(depth: usize) -> Value {
    (1..depth).fold(json!([]), |inner, _| json!([inner]))
}

#[test]
fn values_nest_only_as_deep_as_every_codec_reads_back() {
    let s = Session::detached();
    s.insert("deepest", nested(MAX_VALUE_DEPTH)).unwrap();
    let objects = (0..MAX_VALUE_DEPTH).fold(json!(1), |inner, _| json!({ "o": inner }));
    s.insert("objects", objects).unwrap();
    for refused in [
        s.insert("deeper", nested(MAX_VALUE_DEPTH + 1)),
        s.insert("much deeper", nested(300)),
        s.flash("deeper", nested(MAX_VALUE_DEPTH + 1)),
    ] {
        let err = refused.expect_err("a value too deep to load again");
        assert!(matches!(err, SessionError::Serialize { .. }), "{err}");
        assert!(err.to_string().contains("deeper than 126"), "{err}");
    }
    assert_eq!(s.keys(), ["deepest", "objects"]);

    // What insert accepts, each codec reads back; one level more, the
    // JSON codec cannot (the limit is the decoder's, not a guess).
    let data = (*s.lock().data).clone();
    let json = crate::JsonCodec;
    assert_eq!(json.decode(&json.encode(&data).unwrap()).unwrap(), data);
    let mut deeper = data.clone();
    deeper.insert("deeper".into(), nested(MAX_VALUE_DEPTH + 1));
    assert!(json.decode(&json.encode(&deeper).unwrap()).is_err());
    #[cfg(feature = "django")]
    {
        use crate::django::{DjangoCodec, pickle, signing::DjangoSigner};
        let django = DjangoCodec::new(DjangoSigner::new("s", Vec::<&str>::new()).unwrap());
        assert_eq!(django.decode(&django.encode(&data).unwrap()).unwrap(), data);
        assert!(django.decode(&django.encode(&deeper).unwrap()).is_err());
        let map = Value::Object(data);
        assert_eq!(pickle::loads(&pickle::dumps(&map)).unwrap(), map);
        assert!(pickle::loads(&pickle::dumps(&Value::Object(deeper))).is_err());
    }
}

#[test]
fn user_ids_are_held_to_what_every_store_keeps() {
    let s = Session::detached();
    let longest = "😀".repeat(MAX_USER_LEN);
    s.set_user(longest.as_str()).unwrap();
    assert_eq!(s.user(), Some(longest.clone()));
    for bad in [
        String::new(),
        format!("{longest}x"),
        "a\0b".to_owned(),
        "line\nbreak".to_owned(),
    ] {
        assert!(
            matches!(s.set_user(bad.as_str()), Err(SessionError::InvalidUser(_))),
            "{bad:?} was accepted"
        );
        assert_eq!(
            s.user(),
            Some(longest.clone()),
            "a refused ID replaced the binding"
        );
    }
    // A binding no one could set (stored data edited by hand) is none.
    std::sync::Arc::make_mut(&mut s.lock().data).insert(USER_KEY.into(), json!("a\0b"));
    assert_eq!(s.user(), None);
}

#[test]
fn reserved_keys_are_refused_and_hidden() {
    let s = Session::detached();
    assert!(matches!(
        s.insert("_session_user", 1),
        Err(SessionError::ReservedKey(_))
    ));
    s.set_user("42").unwrap();
    s.set_expiry(Expiry::BrowserClose);
    assert_eq!(s.keys(), Vec::<String>::new());
    assert_eq!(s.len(), 0);
    assert!(!s.is_empty());
    assert_eq!(s.get_value("_session_user"), None);
    assert!(!s.contains_key("_session_expiry"));
    assert_eq!(s.remove("_session_user"), None);
    assert_eq!(s.user().as_deref(), Some("42"));
    assert_eq!(s.to_json(), json!({}));
}

#[test]
fn clones_share_state() {
    let a = Session::detached();
    let b = a.clone();
    a.insert("k", "v").unwrap();
    assert_eq!(b.get::<String>("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn clear_removes_everything_and_records_each_removal() {
    let s = Session::detached();
    s.insert("a", 1).unwrap();
    s.set_user("u").unwrap();
    s.clear();
    assert!(s.is_empty());
    let state = s.lock();
    assert_eq!(state.changes.get("a"), Some(&None));
    assert_eq!(state.changes.get(USER_KEY), Some(&None));
}

#[test]
fn end_refuses_later_writes() {
    let s = Session::detached();
    s.insert("a", 1).unwrap();
    s.end();
    assert!(s.is_empty());
    assert!(matches!(s.insert("b", 2), Err(SessionError::Ended)));
    assert!(matches!(s.set_user("u"), Err(SessionError::Ended)));
}

#[test]
fn flush_allows_a_fresh_start() {
    let s = Session::detached();
    s.insert("a", 1).unwrap();
    s.flush();
    assert!(s.is_empty());
    s.insert("b", 2).unwrap();
    assert_eq!(s.keys(), ["b"]);
}

#[test]
fn expiry_overrides() {
    let s = Session::detached();
    assert_eq!(s.expiry(), Expiry::Default);
    assert_eq!(s.expiry_age(), Duration::days(14));
    assert!(!s.expire_at_browser_close());
    s.set_expiry(Expiry::BrowserClose);
    assert!(s.expire_at_browser_close());
    s.set_expiry(Expiry::AfterIdle(Duration::seconds(90)));
    assert_eq!(s.expiry_age(), Duration::seconds(90));
    let at = crate::now() + Duration::hours(3);
    s.set_expiry(Expiry::At(at));
    assert_eq!(s.expiry_date(), at);
    s.set_expiry(Expiry::Default);
    assert!(s.is_empty(), "the default expiry is not stored");
}

#[test]
fn rebase_applies_own_changes_over_concurrent_data() {
    let s = Session::detached();
    s.insert("mine", 1).unwrap();
    let mut theirs = Data::new();
    theirs.insert("theirs".into(), json!(2));
    theirs.insert("gone".into(), json!(3));
    s.lock().changes.insert("gone".into(), None);
    s.lock().rebase(theirs);
    assert_eq!(s.to_json(), json!({"theirs": 2, "mine": 1}));
}
