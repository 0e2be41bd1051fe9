//! The client commands' exit codes and messages when things go wrong, as a
//! user meets them, against the real binary: a server that requires
//! authentication, a wrong API key, a dead server, a refused channel among
//! good ones, Ctrl-C, a recovery the history cannot serve, tokens with
//! `aud`/`iss`/`nbf`, and options that do not belong to a command.

mod common;

use std::time::{Duration, Instant};

use common::{run, run_env, signal, stderr, wait_metric, Spawned};

const BOUND: Duration = Duration::from_secs(20);

fn auth_server() -> common::ServerProcess {
    common::start(&[
        ("WAVECAST_REQUIRE_AUTH", "true"),
        ("WAVECAST_API_KEYS", "good-key"),
        ("WAVECAST_JWT_SECRET", "cli-secret"),
        // Far longer than the test allows: the answer must come at once.
        ("WAVECAST_AUTH__AUTH_TIMEOUT", "60s"),
    ])
}

#[test]
fn sub_without_credentials_on_an_auth_server_says_so_at_once() {
    let srv = auth_server();
    let started = Instant::now();
    let out = run(&["sub", "news", "--server", &srv.url()], BOUND);
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}: {err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("connected to ws://127.0.0.1:"), "{err}");
    assert!(err.contains("but not authenticated"), "{err}");
    assert!(
        err.contains("auth_required: authenticate with an auth message first"),
        "{err}"
    );
    assert!(
        err.contains("--api-key") && err.contains("--token"),
        "{err}"
    );
    // The probe closed cleanly: the server counts a client close, and no
    // authentication timeout.
    wait_metric(
        srv.port,
        "wavecast_disconnects_total{reason=\"client_close\"}",
        1.0,
    );
    assert_eq!(
        common::metric(
            srv.port,
            "wavecast_disconnects_total{reason=\"auth_timeout\"}"
        ),
        None
    );
}

#[test]
fn a_wrong_api_key_shows_the_servers_reason() {
    let srv = auth_server();
    let out = run(
        &["sub", "news", "--server", &srv.url(), "--api-key", "wrong"],
        BOUND,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        err.contains("invalid_credentials: unknown API key"),
        "{err}"
    );
    // An expired token, too.
    let t = run(
        &[
            "token",
            "--secret",
            "cli-secret",
            "--sub",
            "u",
            "--nbf",
            "1h",
        ],
        BOUND,
    );
    let token = String::from_utf8_lossy(&t.stdout).trim().to_string();
    let out = run(
        &["sub", "news", "--server", &srv.url(), "--token", &token],
        BOUND,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("token not valid yet (nbf)"), "{err}");
}

#[test]
fn pub_to_a_dead_server_says_nothing_listens() {
    let port = common::free_port().to_string();
    let server = format!("http://127.0.0.1:{port}");
    let out = run(&["pub", "news", "1", "--server", &server], BOUND);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "nothing listens at 127.0.0.1:{port} (connection refused)"
        )),
        "{err}"
    );
    assert!(!err.contains("client error (Connect)"), "{err}");

    // sub says why it retries, on every attempt.
    let sub = Spawned::start(&["sub", "news", "--server", &server]);
    let line = sub.stderr_line("retrying");
    assert!(line.contains("connection refused"), "{line}");
    drop(sub);
    let out = run(
        &["sub", "news", "--server", &server, "--no-reconnect"],
        BOUND,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is `wavecast serve` running?"));
}

#[test]
fn pub_with_a_wrong_http_key_names_the_code() {
    let srv = common::start(&[("WAVECAST_HTTP__API_KEY", "server-key")]);
    let out = run(
        &[
            "pub",
            "news",
            "1",
            "--server",
            &srv.url(),
            "--http-key",
            "nope",
        ],
        BOUND,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("HTTP 401 unauthorized"), "{err}");
    assert!(err.contains("--http-key"), "{err}");
}

#[test]
fn options_that_mean_nothing_for_a_command_are_refused() {
    for args in [
        &["pub", "news", "1", "--api-key", "k"][..],
        &["pub", "news", "1", "--token", "t"][..],
        &["replay", "f.ndjson", "--channel", "c", "--token", "t"][..],
        &["sub", "news", "--http-key", "k"][..],
        &["sub", "news", "--signed"][..],
        &["sub", "news", "--epoch", "e"][..],
    ] {
        let out = run(args, BOUND);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn one_refused_channel_does_not_end_sub() {
    let srv = auth_server();
    let token = String::from_utf8_lossy(
        &run(
            &[
                "token",
                "--secret",
                "cli-secret",
                "--sub",
                "ann",
                "--channels",
                "news",
            ],
            BOUND,
        )
        .stdout,
    )
    .trim()
    .to_string();
    let mut sub = Spawned::start(&[
        "sub",
        "news",
        "secret",
        "--count",
        "1",
        "--server",
        &srv.url(),
        "--token",
        &token,
    ]);
    sub.next_of_type("subscribe_success");
    let refused = sub.stderr_line("cannot subscribe");
    assert!(refused.contains("\"secret\""), "{refused}");
    assert!(refused.contains("forbidden"), "{refused}");
    common::publish(&srv, "news", r#"{"n":1}"#);
    assert_eq!(sub.next_of_type("publication")["data"]["n"], 1);
    assert!(sub.wait().success());

    // Every channel refused: exit 1.
    let out = run(
        &["sub", "secret", "--server", &srv.url(), "--token", &token],
        BOUND,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("refused the channel"));
}

#[test]
fn ctrl_c_closes_with_a_close_frame() {
    let srv = common::start(&[]);
    for sig in ["INT", "TERM"] {
        let mut sub = Spawned::start(&["sub", "news", "--server", &srv.url()]);
        sub.next_of_type("subscribe_success");
        signal(sub.child.id(), sig);
        assert!(sub.wait().success(), "SIG{sig}");
    }
    // Both ends were recorded as client closes, none as a lost transport.
    wait_metric(
        srv.port,
        "wavecast_disconnects_total{reason=\"client_close\"}",
        2.0,
    );
    assert_eq!(
        common::metric(srv.port, "wavecast_disconnects_total{reason=\"transport\"}"),
        None
    );
}

#[test]
fn a_recovery_the_history_cannot_serve_is_a_warning() {
    // The embedded store keeping only 2 publications per channel.
    let srv = common::start(&[("WAVECAST_NAMESPACES__DEFAULT__HISTORY_SIZE", "2")]);
    for i in 1..=5 {
        common::publish(&srv, "gone", &format!(r#"{{"i":{i}}}"#));
    }
    let mut sub = Spawned::start(&[
        "sub",
        "gone",
        "--recover",
        "1",
        "--count",
        "1",
        "--server",
        &srv.url(),
    ]);
    let ok = sub.next_of_type("subscribe_success");
    assert_eq!(ok["recovered"], false, "{ok}");
    let w = sub.stderr_line("could not recover");
    assert!(w.contains("\"gone\" after offset 1"), "{w}");
    assert!(w.contains("publications were missed"), "{w}");
    common::publish(&srv, "gone", r#"{"i":6}"#);
    assert_eq!(sub.next_of_type("publication")["data"]["i"], 6);
    assert!(sub.wait().success());
}

#[test]
fn tokens_with_audience_issuer_and_claims_authenticate() {
    let srv = common::start(&[
        ("WAVECAST_REQUIRE_AUTH", "true"),
        ("WAVECAST_JWT_SECRET", "aud-secret"),
        ("WAVECAST_JWT_AUDIENCE", "wavecast-prod"),
        ("WAVECAST_JWT_ISSUER", "https://id.example.com"),
    ]);
    let mint = |extra: &[&str]| {
        let mut args = vec!["token", "--secret", "aud-secret", "--sub", "ines"];
        args.extend_from_slice(extra);
        let out = run(&args, BOUND);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Without iss or aud: refused, and the reason is shown.
    for (extra, reason) in [
        // (Which of the two missing claims is named first varies.)
        (&[][..], "token lacks the "),
        (&["--aud", "wavecast-prod"][..], "token lacks the iss claim"),
        (
            &["--iss", "https://id.example.com"][..],
            "token lacks the aud claim",
        ),
    ] {
        let token = mint(extra);
        let out = run(
            &["sub", "news", "--server", &srv.url(), "--token", &token],
            BOUND,
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(reason), "{}", stderr(&out));
    }
    let good = mint(&[
        "--aud",
        "wavecast-prod",
        "--iss",
        "https://id.example.com",
        "--nbf",
        "-1m",
        "--claim",
        "channels=[\"news\"]",
    ]);
    let mut sub = Spawned::start(&[
        "sub",
        "news",
        "--count",
        "1",
        "--server",
        &srv.url(),
        "--token",
        &good,
    ]);
    assert_eq!(
        sub.next_of_type("connection_established")["user_id"],
        "ines"
    );
    sub.next_of_type("subscribe_success");
    common::publish(&srv, "news", "1");
    sub.next_of_type("publication");
    assert!(sub.wait().success());
    // --claim channels=[…] restricts the token like --channels.
    let out = run(
        &["sub", "other", "--server", &srv.url(), "--token", &good],
        BOUND,
    );
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    let bad = run_env(
        &["token", "--claim", "oops"],
        &[("WAVECAST_JWT_SECRET", "x")],
        BOUND,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("write name=value"));
}
