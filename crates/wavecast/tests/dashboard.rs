//! The dashboard is embedded in the binary and served at `/`, with no npm
//! and no network.

mod common;

#[test]
fn the_binary_serves_the_embedded_dashboard() {
    let srv = common::start(&[]);
    let index = common::http_get(srv.port, "/");
    assert!(index.contains("app.js"), "{index}");
    let js = common::http_get(srv.port, "/app.js");
    let embedded = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/dashboard/app.js"
    ))
    .expect("the committed bundle");
    assert_eq!(js.len(), embedded.len(), "the bundle is served whole");
    assert!(common::http_get(srv.port, "/app.css").contains('{'));
}
