//! The server under test and the hooks into its store.

use std::sync::Arc;

type Probe = Arc<dyn Fn() -> usize + Send + Sync>;

type Switch = Arc<dyn Fn(bool) + Send + Sync>;

/// The server under test, and optional hooks into its store.
///
/// ```no_run
/// use session_conformance::counting::CountingStore;
/// use session_conformance::http::{Target, run_all};
/// let store = CountingStore::new(session_store_memory::MemoryStore::new());
/// // … serve the demo's routes on 127.0.0.1:8000 with `store.clone()` …
/// let (loads, writes, down) = (store.clone(), store.clone(), store.clone());
/// let target = Target::new("http://127.0.0.1:8000")
///     .loads(move || loads.loads())
///     .writes(move || writes.writes())
///     .set_down(move |d| down.set_down(d));
/// session_conformance::block_on(run_all(&target));
/// ```
#[derive(Clone)]
pub struct Target {
    pub(super) base: String,
    pub(super) writes: Option<Probe>,
    pub(super) loads: Option<Probe>,
    pub(super) set_down: Option<Switch>,
    pub(super) drops_non_utf8_headers: bool,
    pub(super) session_header: Option<String>,
    pub(super) partitioned: bool,
}

impl Target {
    /// A server at `base` (for example `http://127.0.0.1:8000`).
    ///
    /// ```no_run
    /// # session_conformance::block_on(async {
    /// use session_conformance::http::{Browser, Target};
    /// let target = Target::new("http://127.0.0.1:8000");
    /// let mut browser = Browser::new(&target);
    /// assert_eq!(browser.get("/api/session").await.status, 200);
    /// # });
    /// ```
    pub fn new(base: impl Into<String>) -> Self {
        Target {
            base: base.into().trim_end_matches('/').to_owned(),
            writes: None,
            loads: None,
            set_down: None,
            drops_non_utf8_headers: false,
            session_header: None,
            partitioned: false,
        }
    }

    /// Says that the server's session cookie is `Partitioned`
    /// (`CookieConfig::partitioned`), which the suite then checks.
    ///
    /// ```no_run
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000").partitioned();
    /// ```
    pub fn partitioned(mut self) -> Self {
        self.partitioned = true;
        self
    }

    /// Says that the server also takes sessions in the request header
    /// `name` (`SessionManagerBuilder::session_header`), so the suite
    /// checks sessions carried that way too.
    ///
    /// ```no_run
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .session_header("x-session-token");
    /// ```
    pub fn session_header(mut self, name: impl Into<String>) -> Self {
        self.session_header = Some(name.into());
        self
    }

    /// Says that the framework drops a header whose bytes are not UTF-8
    /// before the session layer sees it (Rocket 0.5 does), so a `Cookie`
    /// header with such a byte cannot carry the session there; the suite
    /// then skips those cases and checks all the others.
    ///
    /// ```no_run
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .drops_non_utf8_headers();
    /// ```
    pub fn drops_non_utf8_headers(mut self) -> Self {
        self.drops_non_utf8_headers = true;
        self
    }

    /// Counts the loads that reach the server's store, so the suite can
    /// check that routes which never take the session never ask the store.
    ///
    /// ```no_run
    /// use session_conformance::counting::CountingStore;
    /// let store = CountingStore::new(session_store_memory::MemoryStore::new());
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .loads(move || store.loads());
    /// ```
    pub fn loads(mut self, probe: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.loads = Some(Arc::new(probe));
        self
    }

    /// Counts the writes that reach the server's store, so the suite can
    /// check that forged cookies and failed requests write nothing.
    ///
    /// ```no_run
    /// use session_conformance::counting::CountingStore;
    /// let store = CountingStore::new(session_store_memory::MemoryStore::new());
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .writes(move || store.writes());
    /// ```
    pub fn writes(mut self, probe: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.writes = Some(Arc::new(probe));
        self
    }

    /// Takes the server's store down and up, so the suite can check the 503.
    ///
    /// ```no_run
    /// use session_conformance::counting::CountingStore;
    /// let store = CountingStore::new(session_store_memory::MemoryStore::new());
    /// let target = session_conformance::http::Target::new("http://127.0.0.1:8000")
    ///     .set_down(move |down| store.set_down(down));
    /// ```
    pub fn set_down(mut self, switch: impl Fn(bool) + Send + Sync + 'static) -> Self {
        self.set_down = Some(Arc::new(switch));
        self
    }
}

pub(super) fn writes(target: &Target) -> Option<usize> {
    target.writes.as_ref().map(|w| w())
}

pub(super) fn loads(target: &Target) -> Option<usize> {
    target.loads.as_ref().map(|l| l())
}
