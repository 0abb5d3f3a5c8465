//! The demo's page in a real browser: headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them when missing), on each framework: log in, reload, change
//! the expiry, see a second device, end it, log out. Skipped (and said
//! why) when Chromium is not installed, unless engines are required.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use session_conformance::services;
use session_demo::{Framework, spawn};
use sessions::{KeyRing, MemoryStore, SessionManager};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a free port and waits until it answers.
fn driver() -> Option<Driver> {
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !std::path::Path::new(path).exists() {
            return services::unavailable("Chromium", format!("{path} is not installed"));
        }
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not start listening on port {port}");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// The page's text as the browser shows it.
async fn text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .expect("a body")
        .text()
        .await
        .expect("its text")
}

/// Clicks the button `css` finds and waits for the page it leads to (the
/// old page's body goes stale when the new page replaces it).
async fn click(client: &Client, css: &str) {
    let old = client.find(Locator::Css("body")).await.expect("a body");
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .expect("a click");
    for _ in 0..200 {
        if old.text().await.is_err() {
            client
                .wait()
                .for_element(Locator::Css("h1"))
                .await
                .expect("the next page");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("clicking {css} led to no new page");
}

/// Logs `user` in from another device (an HTTP client of its own);
/// returns its session cookie (`name=value`).
async fn log_in_elsewhere(base: &str, user: u64) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&json!({"user_id": user, "username": "ada on her phone"}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(answer.status(), 200);
    let set_cookie = answer.headers()["set-cookie"].to_str().expect("ASCII");
    set_cookie.split(';').next().expect("name=value").to_owned()
}

async fn walk_through(client: &Client, base: &str, framework: Framework) {
    client.goto(&format!("{base}/")).await.expect("the page");
    let page = text(client).await;
    assert!(page.contains("Not logged in."), "{framework:?}: {page}");
    assert!(page.contains("visited this page 1 time in"), "{page}");

    // Log in with the form.
    let id = client
        .find(Locator::Css("form[action='/login'] input[name='user_id']"))
        .await
        .expect("the login form");
    id.clear().await.expect("cleared");
    id.send_keys("42").await.expect("typed");
    let name = client
        .find(Locator::Css("form[action='/login'] input[name='username']"))
        .await
        .expect("the name field");
    name.clear().await.expect("cleared");
    name.send_keys("ada").await.expect("typed");
    click(client, "form[action='/login'] button").await;
    let page = text(client).await;
    assert!(page.contains("Logged in as ada."), "{framework:?}: {page}");
    assert!(page.contains("Welcome, ada."), "{page}");
    assert!(page.contains("You have 1 session."), "{page}");
    assert!(
        client
            .find(Locator::Css("form[action='/login']"))
            .await
            .is_err(),
        "only the form that fits"
    );

    // Reload: still logged in, one more visit.
    client.refresh().await.expect("a reload");
    let page = text(client).await;
    assert!(page.contains("Logged in as ada."), "{page}");
    assert!(page.contains("visited this page 3 times"), "{page}");

    // Change the expiry.
    assert!(page.contains("expires in 14 days"), "{page}");
    click(client, "button[value='browser']").await;
    assert!(
        text(client)
            .await
            .contains("expires when you close the browser")
    );
    click(client, "button[value='hour']").await;
    assert!(text(client).await.contains("expires in 1 hour"));

    // A second device appears, and is ended from here.
    let phone = log_in_elsewhere(base, 42).await;
    client.refresh().await.expect("a reload");
    let page = text(client).await;
    assert!(
        page.contains("You have 2 sessions."),
        "{framework:?}: {page}"
    );
    assert!(page.contains("another device"), "{page}");
    click(client, "form[action='/sessions/end-others'] button").await;
    let page = text(client).await;
    assert!(page.contains("Ended 1 other session."), "{page}");
    assert!(page.contains("You have 1 session."), "{page}");
    let seen = reqwest::Client::new()
        .get(format!("{base}/api/session"))
        .header("cookie", phone)
        .send()
        .await
        .expect("an answer")
        .json::<serde_json::Value>()
        .await
        .expect("JSON");
    assert_eq!(seen, json!({}), "the other device is logged out");

    // Log out.
    click(client, "form[action='/logout'] button").await;
    let page = text(client).await;
    assert!(page.contains("Not logged in."), "{framework:?}: {page}");
}

#[test]
fn the_page_works_in_a_real_browser_on_every_framework() {
    let Some(driver) = driver() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = browser(&driver).await;
        for framework in [Framework::Axum, Framework::Actix, Framework::Rocket] {
            let server = spawn(framework, "127.0.0.1:0".parse().unwrap(), || async {
                let keys = KeyRing::new([23u8; 32]).map_err(|e| e.to_string())?;
                Ok(SessionManager::new(MemoryStore::new(), keys))
            })
            .expect("the demo starts");
            let base = format!("http://127.0.0.1:{}", server.addr().port());
            // Cookies belong to the host, whatever the port: start afresh.
            client
                .goto(&format!("{base}/health"))
                .await
                .expect("a page");
            client.delete_all_cookies().await.expect("cookies cleared");
            walk_through(&client, &base, framework).await;
            server.stop();
        }
        client.close().await.expect("the session closes");
    });
}
