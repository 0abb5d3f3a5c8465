//! Every vector of `tests/vectors/django-signing.json` (a copy of the
//! project's shared known-answer data, produced by running Django) must
//! encode and decode exactly.
#![cfg(feature = "django")]

use serde_json::{Value, json};
use session_core::django::signing::{DjangoSigner, SigningError, base62_encode};
use session_core::django::{DjangoCodec, SESSION_SALT};
use sha2::{Digest, Sha256};

const VECTORS: &str = include_str!("vectors/django-signing.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn vector(name: &str) -> Value {
    vectors()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .cloned()
        .unwrap()
}

fn signer(secret: &str) -> DjangoSigner {
    DjangoSigner::new(secret, Vec::<&str>::new()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_copy_matches_the_shared_vectors() {
    // The workspace sits beside `shared/` in the project's checkout; a
    // clone elsewhere has only the copy.
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors/django-signing.json");
    if let Ok(original) = std::fs::read_to_string(&shared) {
        assert_eq!(
            original,
            VECTORS,
            "tests/vectors/django-signing.json is out of date: copy {}",
            shared.display()
        );
    }
}

#[test]
fn the_timestamp_is_base62() {
    let v = vectors();
    assert_eq!(
        base62_encode(v["timestamp"].as_i64().unwrap()),
        v["timestamp_b62"].as_str().unwrap()
    );
}

#[test]
fn every_vector_with_data_encodes_byte_for_byte_and_decodes() {
    let all = vectors();
    let secret = all["secret_key"].as_str().unwrap();
    let timestamp = all["timestamp"].as_i64().unwrap();
    let mut checked = 0;
    for v in all["vectors"].as_array().unwrap() {
        let (Some(data), Some(salt)) = (v.get("data"), v["salt"].as_str()) else {
            continue;
        };
        if v["name"] == "legacy_pre_3_1_db" {
            continue;
        }
        let secret = v["signed_with_secret"].as_str().unwrap_or(secret);
        let signer = signer(secret);
        let encoded = v["encoded"].as_str().unwrap();
        assert_eq!(
            signer.sign_object(salt, data, true, timestamp),
            encoded,
            "{}",
            v["name"]
        );
        assert_eq!(
            &signer
                .unsign_object(salt, encoded, None, timestamp + 10)
                .unwrap(),
            data,
            "{}",
            v["name"]
        );
        if let Some(json) = v["json"].as_str() {
            assert_eq!(
                session_core::django::json::to_string(data),
                json,
                "{}",
                v["name"]
            );
        }
        if let Some(key) = v["derived_key_hex"].as_str() {
            let derived = Sha256::new()
                .chain_update(format!("{salt}signer"))
                .chain_update(secret)
                .finalize();
            assert_eq!(hex(&derived), key, "{}", v["name"]);
        }
        if let Some(mac) = v["mac_hex"].as_str() {
            let value = encoded.rsplit_once(':').unwrap().0;
            let ours = session_core::django::signing::salted_hmac(
                &format!("{salt}signer"),
                value.as_bytes(),
                secret.as_bytes(),
            );
            assert_eq!(hex(&ours), mac, "{}", v["name"]);
        }
        checked += 1;
    }
    assert_eq!(checked, 5, "every vector with data was checked");
}

#[test]
fn the_compressed_vector_decodes_and_our_compression_round_trips() {
    let v = vector("db_compressed");
    let cart: Vec<Value> = (0..20)
        .map(|i| json!({"sku": format!("SKU-{i:04}"), "qty": 1}))
        .collect();
    let data = json!({"user_id": 123, "cart": cart});
    assert_eq!(
        session_core::django::json::to_string(&data).len() as u64,
        v["json_len"].as_u64().unwrap()
    );
    let signer = signer("test-secret");
    let encoded = v["encoded"].as_str().unwrap();
    assert!(encoded.starts_with('.'));
    assert_eq!(
        signer
            .unsign_object(SESSION_SALT, encoded, None, 1_700_000_010)
            .unwrap(),
        data
    );
    let ours = signer.sign_object(SESSION_SALT, &data, true, 1_700_000_000);
    assert!(ours.starts_with('.'), "this payload compresses");
    assert_eq!(
        signer
            .unsign_object(SESSION_SALT, &ours, None, 1_700_000_010)
            .unwrap(),
        data
    );
}

#[test]
fn a_rotated_key_verifies_only_as_a_fallback() {
    let v = vector("key_rotation_fallback");
    let encoded = v["encoded"].as_str().unwrap();
    let rotated = DjangoSigner::new("test-secret", ["old-secret"]).unwrap();
    assert_eq!(
        rotated
            .unsign_object(SESSION_SALT, encoded, None, 1_700_000_010)
            .unwrap(),
        v["data"]
    );
    assert_eq!(
        signer("test-secret").unsign_object(SESSION_SALT, encoded, None, 1_700_000_010),
        Err(SigningError::BadSignature)
    );
}

#[test]
fn legacy_pre_3_1_data_is_refused_like_django_4() {
    let v = vector("legacy_pre_3_1_db");
    let codec = DjangoCodec::new(signer("test-secret"));
    assert!(
        session_core::Codec::decode(&codec, v["encoded"].as_str().unwrap().as_bytes()).is_err()
    );
}

#[test]
fn signed_cookies_expire_after_their_max_age() {
    let v = vector("signed_cookie");
    let (salt, encoded) = (v["salt"].as_str().unwrap(), v["encoded"].as_str().unwrap());
    let s = signer("test-secret");
    let age = 1_209_600;
    assert_eq!(
        s.unsign_object(salt, encoded, Some(age), 1_700_000_010)
            .unwrap(),
        v["data"]
    );
    assert!(matches!(
        s.unsign_object(salt, encoded, Some(age), 1_700_000_000 + age + 1),
        Err(SigningError::Expired { .. })
    ));
    // The other salt does not verify: a db session is not a signed cookie.
    assert_eq!(
        s.unsign_object(SESSION_SALT, encoded, None, 1_700_000_010),
        Err(SigningError::BadSignature)
    );
}

#[test]
fn tampering_anywhere_is_refused() {
    let v = vector("db_small_uncompressed");
    let encoded = v["encoded"].as_str().unwrap();
    let s = signer("test-secret");
    for i in [0, 10, encoded.len() - 50, encoded.len() - 1] {
        let mut bytes = encoded.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bytes).unwrap();
        assert!(
            s.unsign_object(SESSION_SALT, &bad, None, 1_700_000_010)
                .is_err(),
            "position {i}"
        );
    }
    for garbage in ["", ":", "::", "a:b:c", "x".repeat(5000).as_str()] {
        assert!(s.unsign_object(SESSION_SALT, garbage, None, 0).is_err());
    }
}

#[test]
fn the_cache_backend_pickle_matches_byte_for_byte() {
    let all = vectors();
    let expected =
        all["cache_backend"]["value_for_db_small_uncompressed_data_pickle_protocol5_hex"]
            .as_str()
            .unwrap();
    let ours = session_core::django::pickle::dumps(&vector("db_small_uncompressed")["data"]);
    assert_eq!(hex(&ours), expected);
    let back = session_core::django::pickle::loads(&ours).unwrap();
    assert_eq!(back, vector("db_small_uncompressed")["data"]);
}
