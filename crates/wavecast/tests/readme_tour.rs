//! The README's tour, run as written: every command of the "A 2-minute
//! tour" section (`cargo run --release -- …` runs the binary under test,
//! `curl -s localhost:8000…` is sent to the test server), in order, with
//! each output the README shows (`# {…}` under a command, or the JSON block
//! after "The subscriber prints") compared with what the command printed.
//! `"…"` in the README stands for any value; every other value, and the
//! set of keys, must match, and `type` must come first where the README
//! shows it first. A `sub` runs until the text says "Stop `sub`", the next
//! `sub` starts or the tour ends; then it gets Ctrl-C and must exit 0.

mod common;

use std::time::Duration;

use common::{run, signal, Spawned};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(20);

/// A command of the tour with the outputs the README shows for it.
#[derive(Debug)]
struct Step {
    words: Vec<String>,
    /// `# …` lines right under the command.
    shown: Vec<String>,
    /// Lines of a later JSON block (a `sub`'s deliveries).
    later: Vec<String>,
}

fn tour(readme: &str) -> &str {
    let start = readme
        .find("## A 2-minute tour")
        .expect("README has the tour");
    let rest = &readme[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 3);
    &readme[start..start + end]
}

/// Shell words, with '…' and "…" quoting; `None` for a pipeline.
fn words(line: &str) -> Option<Vec<String>> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '|') => return None,
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Some(out)
}

fn parse(section: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut lang: Option<String> = None;
    let mut pending = String::new();
    for raw in section.lines() {
        if let Some(l) = raw.strip_prefix("```") {
            lang = if lang.is_some() {
                None
            } else {
                Some(l.to_string())
            };
            continue;
        }
        match lang.as_deref() {
            Some("json") => {
                let sub = steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.words.get(0..2) == Some(&["wavecast".into(), "sub".into()]));
                sub.expect("a JSON block follows a sub")
                    .later
                    .push(raw.to_string());
            }
            Some("sh") => {
                if let Some(out) = raw.strip_prefix("# ") {
                    steps
                        .last_mut()
                        .expect("output after a command")
                        .shown
                        .push(out.into());
                    continue;
                }
                // Continuation lines, and a trailing "  # comment".
                pending.push_str(raw.trim_end_matches('\\'));
                if raw.ends_with('\\') {
                    continue;
                }
                let line = std::mem::take(&mut pending);
                let line = line.split("  #").next().unwrap_or("").trim().to_string();
                let Some(mut w) = words(&line) else {
                    continue; // a pipeline, e.g. tail -f … | wavecast pub
                };
                if w.starts_with(&[
                    "cargo".into(),
                    "run".into(),
                    "--release".into(),
                    "--".into(),
                ]) {
                    w.splice(0..4, ["wavecast".to_string()]);
                }
                steps.push(Step {
                    words: w,
                    shown: Vec::new(),
                    later: Vec::new(),
                });
            }
            Some(_) => {}
            // The prose tells the reader to stop the running sub.
            None if raw.contains("Stop `sub`") => steps.push(Step {
                words: vec!["<stop sub>".into()],
                shown: Vec::new(),
                later: Vec::new(),
            }),
            None => {}
        }
    }
    steps
}

/// `expected` (from the README, `"…"` = anything) against `actual`.
fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), _) if s == "…" => true,
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|av| same(v, av)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| same(x, y))
        }
        (e, a) => e == a,
    }
}

/// Checks one printed line against the README's; returns 1 (checked).
fn check(shown: &str, printed: &str, what: &str) -> usize {
    let e: Value = serde_json::from_str(shown)
        .unwrap_or_else(|err| panic!("README line is not JSON ({err}): {shown}"));
    let a: Value = serde_json::from_str(printed)
        .unwrap_or_else(|err| panic!("{what} printed a line that is not JSON ({err}): {printed}"));
    assert!(
        same(&e, &a),
        "{what}: the README shows\n  {shown}\nbut it printed\n  {printed}"
    );
    if shown.starts_with("{\"type\":") {
        assert!(
            printed.starts_with("{\"type\":"),
            "{what}: type not first: {printed}"
        );
    }
    1
}

struct RunningSub {
    proc: Spawned,
    later: Vec<String>,
    what: String,
}

impl RunningSub {
    /// The README's later lines, then Ctrl-C and a clean exit.
    fn finish(mut self) -> usize {
        let mut checked = 0;
        for shown in &self.later {
            let printed = self
                .proc
                .out
                .recv_timeout(BOUND)
                .unwrap_or_else(|_| panic!("{}: no line for {shown}", self.what));
            checked += check(shown, &printed, &self.what);
        }
        signal(self.proc.child.id(), "INT");
        assert!(
            self.proc.wait().success(),
            "{}: exit after Ctrl-C",
            self.what
        );
        checked
    }
}

/// Runs the curl of a step against the test server.
fn curl(step: &Step, port: u16) -> usize {
    let url = step
        .words
        .iter()
        .find(|w| w.starts_with("localhost:8000"))
        .expect("curl to localhost:8000");
    let path = &url["localhost:8000".len()..];
    let body = step
        .words
        .iter()
        .position(|w| w == "-d")
        .map(|i| step.words[i + 1].clone());
    let (status, text) = match &body {
        Some(b) => common::http(port, "POST", path, b),
        None => common::http(port, "GET", path, ""),
    };
    assert_eq!(status, 200, "curl {path}: {text}");
    let what = format!("curl {path}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= step.shown.len(), "{what}: {text}");
    step.shown
        .iter()
        .zip(lines)
        .map(|(s, p)| check(s, p, &what))
        .sum()
}

#[test]
fn the_readme_tour_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let steps = parse(tour(&readme));
    let srv = common::start(&[]);
    let url = srv.url();
    let mut sub: Option<RunningSub> = None;
    let mut checked = 0;
    for step in &steps {
        let w: Vec<&str> = step.words.iter().map(String::as_str).collect();
        let what = w.join(" ");
        match w.as_slice() {
            ["wavecast", "serve", ..] => {}
            ["wavecast", "sub", args @ ..] => {
                if let Some(prev) = sub.take() {
                    checked += prev.finish();
                }
                let mut all = vec!["sub"];
                all.extend_from_slice(args);
                all.extend_from_slice(&["--server", &url]);
                let proc = Spawned::start(&all);
                for shown in &step.shown {
                    let printed = proc
                        .out
                        .recv_timeout(BOUND)
                        .unwrap_or_else(|_| panic!("{what}: no line for {shown}"));
                    checked += check(shown, &printed, &what);
                }
                sub = Some(RunningSub {
                    proc,
                    later: step.later.clone(),
                    what,
                });
            }
            ["wavecast", cmd, args @ ..] => {
                let mut all = vec![*cmd];
                all.extend_from_slice(args);
                if *cmd == "pub" {
                    all.extend_from_slice(&["--server", &url]);
                }
                let out = run(&all, BOUND);
                assert!(out.status.success(), "{what}: {}", common::stderr(&out));
                let text = String::from_utf8_lossy(&out.stdout);
                for (shown, printed) in step.shown.iter().zip(text.lines()) {
                    checked += check(shown, printed, &what);
                }
            }
            ["curl", ..] => checked += curl(step, srv.port),
            ["<stop sub>"] => {
                let running = sub.take().expect("a sub to stop");
                checked += running.finish();
            }
            _ => panic!("the tour has a command this test does not know: {what}"),
        }
    }
    if let Some(prev) = sub.take() {
        checked += prev.finish();
    }
    // The tour shows at least this many outputs; fewer means the README
    // changed shape and this test no longer reads it.
    assert!(checked >= 12, "only {checked} outputs checked");
}
