//! The crate's example app, run as a process and driven over HTTP.

use session_conformance::example::{ExampleServer, counter_tour};

#[tokio::test]
async fn the_counter_example_runs_and_behaves() {
    let server = ExampleServer::start("session-axum", "axum_counter");
    counter_tour(&server.base).await;
}
