//! `session-demo --django` next to a real Django app: the demo writes a
//! session into Django's table through HTTP and Django reads it; Django
//! writes one and the demo serves it.

use std::process::{Child, Command};
use std::time::Duration;

use session_conformance::services;

const SECRET: &str = "django-insecure-demo-side-by-side";
fn django(db: &str, args: &[&str]) -> String {
    services::run_django(&[("DJANGO_DB", db), ("DJANGO_SECRET", SECRET)], args)
}

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_and_django_share_sessions() {
    if let Err(e) = services::django() {
        return services::unavailable::<()>("Django", e).unwrap_or(());
    }
    let dir = std::env::temp_dir().join(services::unique_name("demo-django"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite:{}", dir.join("db.sqlite3").display());
    django(&db, &["migrate"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_session-demo"))
            .args([
                "--django",
                "--store",
                &db,
                "--addr",
                &format!("127.0.0.1:{port}"),
            ])
            .env("SESSION_SECRET", SECRET)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(r) = client
            .put(format!("{base}/api/session/greeting"))
            .body(r#""grüß dich""#)
            .send()
            .await
        {
            answer = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.expect("the demo answers");
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    let key = cookie
        .strip_prefix("sessionid=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(key.len(), 32, "a Django session key: {cookie}");
    assert_eq!(
        django(&db, &["read", &key]),
        r#"{"greeting": "gr\u00fc\u00df dich"}"#
    );

    let theirs = django(&db, &["write", r#"{"from": "django"}"#]);
    let body = client
        .get(format!("{base}/api/session"))
        .header("cookie", format!("sessionid={theirs}"))
        .send()
        .await
        .unwrap();
    assert_eq!(body.text().await.unwrap(), r#"{"from":"django"}"#);
    let _ = std::fs::remove_dir_all(dir);
}
