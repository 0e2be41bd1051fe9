//! The built-in demo agent (`upstream_url = "demo"`), so `wavecast serve`
//! answers agent messages on its own. It makes no network call.
//!
//! Invariant: deterministic — the same request gives the same events in
//! the same order: `agent_started`, two `agent_thinking`, one
//! `tool_executing`, the answer as several `partial_result` tokens, then
//! `agent_completed` with the assembled text. Events are paced
//! [`DEMO_PACE`] apart, so a conversation can be watched (and cancelled).

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value};

use super::event::{AgentEvent, EventKind};
use super::request::Ask;

/// The time between two demo events.
pub const DEMO_PACE: Duration = Duration::from_millis(20);

/// The most `partial_result` events of one answer.
const MAX_TOKENS: usize = 24;

/// The longest quote of the user's message in the answer, in characters.
const MAX_QUOTE: usize = 200;

/// A demo conversation being played.
pub struct DemoStream {
    events: VecDeque<AgentEvent>,
    started: bool,
}

impl DemoStream {
    pub fn new(ask: &Ask) -> DemoStream {
        DemoStream {
            events: script(ask).into(),
            started: false,
        }
    }

    /// The next event, after the pace; `None` after `agent_completed`.
    pub async fn next(&mut self) -> Option<AgentEvent> {
        if std::mem::replace(&mut self.started, true) {
            tokio::time::sleep(DEMO_PACE).await;
        }
        self.events.pop_front()
    }
}

/// The whole conversation the demo agent plays for `ask`.
pub fn script(ask: &Ask) -> Vec<AgentEvent> {
    let (agent, thread, text) = match ask {
        Ask::Message { content, thread_id } => ("demo", thread_id.clone(), content.clone()),
        Ask::Request { agent, input } => (agent.as_str(), None, input_text(input)),
    };
    let words = text.split_whitespace().count();
    let chars = text.chars().count();
    let quote: String = text.chars().take(MAX_QUOTE).collect();
    let ellipsis = if chars > MAX_QUOTE { "…" } else { "" };
    let answer = format!(
        "You said \"{quote}{ellipsis}\": {words} words, {chars} characters. \
         I am the demo agent; point [agents] upstream_url at your own agent to talk to it."
    );
    let mut events = vec![
        AgentEvent::new(
            EventKind::Started,
            json!({"agent": agent, "thread_id": thread}),
        ),
        AgentEvent::new(EventKind::Thinking, json!({"text": "Reading the message."})),
        AgentEvent::new(
            EventKind::Thinking,
            json!({"text": "Counting its words with a tool."}),
        ),
        AgentEvent::new(
            EventKind::Tool,
            json!({"tool": "word_count", "output": {"words": words, "characters": chars}}),
        ),
    ];
    let tokens = tokens(&answer);
    let count = tokens.len();
    events.extend(
        tokens
            .into_iter()
            .enumerate()
            .map(|(i, t)| AgentEvent::new(EventKind::Partial, json!({"text": t, "index": i}))),
    );
    events.push(AgentEvent::new(
        EventKind::Completed,
        json!({"text": answer, "thread_id": thread, "tokens": count}),
    ));
    events
}

/// An `agent_request`'s input as text: a string as it is, a `content`
/// field, or the JSON.
fn input_text(input: &Value) -> String {
    match input {
        Value::String(s) => s.clone(),
        Value::Object(m) => match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            _ => input.to_string(),
        },
        other => other.to_string(),
    }
}

/// `text` cut into at most [`MAX_TOKENS`] pieces at word starts; joined,
/// they are `text` again.
fn tokens(text: &str) -> Vec<String> {
    let mut words: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices(' ') {
        words.push(&text[start..=i]);
        start = i + 1;
    }
    if start < text.len() {
        words.push(&text[start..]);
    }
    let per = words.len().div_ceil(MAX_TOKENS).max(1);
    words.chunks(per).map(|c| c.concat()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(events: &[AgentEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn the_script_is_fixed_and_assembles_its_answer() {
        let ask = Ask::Message {
            content: "hello, demo".into(),
            thread_id: Some("t1".into()),
        };
        let events = script(&ask);
        assert_eq!(events, script(&ask), "deterministic");
        let k = kinds(&events);
        assert_eq!(
            k[..4],
            [
                "agent_started",
                "agent_thinking",
                "agent_thinking",
                "tool_executing"
            ]
        );
        assert_eq!(k.last(), Some(&"agent_completed"));
        let partials: Vec<&str> = events
            .iter()
            .filter(|e| e.kind == EventKind::Partial)
            .map(|e| e.data["text"].as_str().unwrap())
            .collect();
        assert!(partials.len() >= 3, "{partials:?}");
        let last = &events[events.len() - 1].data;
        assert_eq!(partials.concat(), last["text"].as_str().unwrap());
        assert_eq!(last["thread_id"], "t1");
        assert!(last["text"]
            .as_str()
            .unwrap()
            .starts_with("You said \"hello, demo\": 2 words, 11 characters."));
        assert_eq!(events[3].data["output"]["words"], 2);
    }

    #[test]
    fn long_answers_stay_within_the_token_count() {
        let ask = Ask::Request {
            agent: "calc".into(),
            input: json!({"content": "word ".repeat(500)}),
        };
        let events = script(&ask);
        let partials: Vec<&AgentEvent> = events
            .iter()
            .filter(|e| e.kind == EventKind::Partial)
            .collect();
        assert!(partials.len() <= MAX_TOKENS);
        assert_eq!(events[0].data["agent"], "calc");
        assert_eq!(tokens("a b  c").concat(), "a b  c");
        assert_eq!(tokens("").len(), 0);
    }
}
