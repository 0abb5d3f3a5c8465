//! The cookie module's own tests.

use super::*;

#[test]
fn defaults_are_safe() {
    let c = SetCookie::new(&CookieConfig::default());
    let header = c.render("abc", Some(Duration::days(14)), OffsetDateTime::UNIX_EPOCH);
    assert!(header.starts_with("session=abc"), "{header}");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=1209600",
        "Expires=Thu, 15 Jan 1970 00:00:00 GMT",
    ] {
        assert!(header.contains(attr), "{attr} missing from {header}");
    }
    assert!(!header.contains("Domain"));
}

/// Every configuration the builder allows, one attribute changed at a time.
fn configurations() -> Vec<CookieConfig> {
    let mut all = vec![
        CookieConfig::default(),
        CookieConfig::new("__Host-sid"),
        CookieConfig::new("__Secure-sid").domain("example.com"),
        CookieConfig::new("s").domain("a.example").path("/app/x"),
        CookieConfig::new("s").secure(false),
        CookieConfig::new("s").http_only(false),
        CookieConfig::new("s").http_only(false).secure(false),
        CookieConfig::new("__Host-sid").partitioned(true),
        CookieConfig::new("sid")
            .same_site(SameSite::None)
            .partitioned(true),
    ];
    for same_site in [SameSite::Strict, SameSite::Lax, SameSite::None] {
        all.push(CookieConfig::new("sid").same_site(same_site));
    }
    all.push(
        CookieConfig::new("sid")
            .same_site(SameSite::Strict)
            .secure(false),
    );
    for c in &all {
        c.validate().expect("a valid configuration");
    }
    all
}

#[test]
fn set_cookie_is_written_as_the_cookie_crate_writes_it() {
    // The epoch, a leap day, today's era, the last second of 9999, and
    // a date the fast formatter does not cover (before 1970).
    let times = [
        0,
        951_782_400,
        1_798_675_199,
        253_402_300_799 - 1_209_600,
        -86_400 * 400,
    ]
    .map(|t| OffsetDateTime::from_unix_timestamp(t).unwrap());
    let ages = [
        None,
        Some(Duration::ZERO),
        Some(Duration::seconds(-30)),
        Some(Duration::seconds(1_209_600)),
        Some(Duration::SECOND),
    ];
    let values = [
        "",
        "v",
        "NJ4RBdugTS_czMFMOpfN9I3MIumV7rUIOP31uu_WGgQ.ozQ6wsZq",
    ];
    for config in configurations() {
        let fast = SetCookie::new(&config);
        for now in times {
            for age in ages {
                for value in values {
                    let mut expected = config.base(value);
                    if let Some(age) = age {
                        let age = age.max(Duration::ZERO);
                        expected.set_max_age(age);
                        expected.set_expires(Expiration::DateTime(now + age));
                    }
                    assert_eq!(
                        fast.render(value, age, now),
                        expected.to_string(),
                        "{config:?} at {now}, {age:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn browser_session_cookies_have_no_max_age() {
    let c = SetCookie::new(&CookieConfig::default());
    let header = c.render("abc", None, OffsetDateTime::UNIX_EPOCH);
    assert_eq!(
        header,
        "session=abc; HttpOnly; SameSite=Lax; Secure; Path=/"
    );
}

#[test]
fn removal_cookie_expires_now() {
    for config in configurations() {
        let mut expected = config.base("");
        expected.set_max_age(Duration::ZERO);
        expected.set_expires(Expiration::DateTime(OffsetDateTime::UNIX_EPOCH));
        assert_eq!(SetCookie::new(&config).removal(), expected.to_string());
    }
    let header = SetCookie::new(&CookieConfig::default().path("/app")).removal();
    assert!(header.starts_with("session=;"), "{header}");
    assert!(
        header.contains("Max-Age=0") && header.contains("Path=/app"),
        "{header}"
    );
    assert!(
        header.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "{header}"
    );
}

#[test]
fn prefixes_and_names_are_validated() {
    assert!(CookieConfig::new("__Host-s").validate().is_ok());
    assert!(
        CookieConfig::new("__Host-s")
            .secure(false)
            .validate()
            .is_err()
    );
    assert!(CookieConfig::new("__Host-s").path("/x").validate().is_err());
    assert!(
        CookieConfig::new("__Secure-s")
            .domain("a.example")
            .validate()
            .is_ok()
    );
    assert!(
        CookieConfig::new("__secure-s")
            .secure(false)
            .validate()
            .is_err()
    );
    assert!(
        CookieConfig::new("s")
            .partitioned(true)
            .secure(false)
            .validate()
            .is_err()
    );
    assert!(CookieConfig::new("").validate().is_err());
    assert!(CookieConfig::new("a b").validate().is_err());
    assert!(CookieConfig::new("a=b").validate().is_err());
    assert!(CookieConfig::new("é").validate().is_err());
    assert!(CookieConfig::new("s").path("x").validate().is_err());
    assert!(CookieConfig::new("s").path("/a;b").validate().is_err());
    assert!(
        CookieConfig::new("s")
            .same_site(SameSite::None)
            .secure(false)
            .validate()
            .is_err()
    );
}

#[test]
fn find_returns_the_one_value_or_a_rejection() {
    let c = CookieConfig::default();
    assert_eq!(
        c.find(["a=1; session=xyz; b=2"]),
        Found::Value("xyz".into())
    );
    assert_eq!(c.find(["a=1", "session=xyz"]), Found::Value("xyz".into()));
    assert_eq!(c.find(["a=1"]), Found::Absent);
    assert_eq!(c.find(Vec::<&str>::new()), Found::Absent);
    assert_eq!(c.find(["sessionx=1; xsession=2"]), Found::Absent);
    assert_eq!(
        c.find(["session=1; session=2"]),
        Found::Rejected(Rejection::Duplicated)
    );
    assert_eq!(
        c.find(["session=1", "session=1"]),
        Found::Rejected(Rejection::Duplicated)
    );
    let big = format!("session={}", "a".repeat(MAX_COOKIE_VALUE_LEN + 1));
    assert_eq!(
        c.find([big.as_str()]),
        Found::Rejected(Rejection::Oversized)
    );
    assert_eq!(
        c.find(["session=héllo"]),
        Found::Rejected(Rejection::Malformed)
    );
}
