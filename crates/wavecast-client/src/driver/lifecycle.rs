//! The client's life: connect → serve the admitted connection → when it is
//! lost, wait a full-jitter backoff and connect again, until the client is
//! closed, a close code or error says retrying cannot help, or the backoff
//! budget is spent.
//!
//! Invariants: commands are served in every phase (offline ones are
//! answered or queued), so a handle never waits on a sleeping driver; the
//! state is `Connecting` once, then alternates `Connected` /
//! `Reconnecting`, and ends with exactly one `Closed`, after which every
//! subscription has its last event and `close()` its answer.

use std::pin::pin;
use std::time::Duration;

use super::connect::connect_once;
use super::state::{Driver, End, Pending, Ws};
use crate::error::{Error, Result};
use crate::event::{ClientEvent, ConnectionState, SubEvent};
use crate::frame::Welcome;

/// What the life cycle does after an attempt or a session.
enum Next {
    Retry,
    Finish(Option<Error>),
}

impl Driver {
    /// Runs until closed.
    pub(crate) async fn run(mut self) {
        self.set_state(ConnectionState::Connecting);
        let mut failures = 0u32;
        let mut last_error: Option<Error> = None;
        let mut first = true;
        loop {
            let next = match self.attempt(first).await {
                None => Next::Finish(None),
                Some(Ok((ws, welcome))) => {
                    failures = 0;
                    self.serve(ws, welcome).await
                }
                Some(Err(e)) if e.is_transient() && self.config.reconnect => {
                    failures += 1;
                    last_error = Some(e);
                    Next::Retry
                }
                Some(Err(e)) => Next::Finish(Some(e)),
            };
            first = false;
            if let Next::Finish(error) = next {
                return self.finish(error);
            }
            if !self.config.backoff.allows(failures) {
                let last = last_error.take().unwrap_or(Error::Closed);
                return self.finish(Some(Error::GaveUp {
                    attempts: failures,
                    last: Box::new(last),
                }));
            }
            let delay = self.config.backoff.delay(failures);
            self.set_state(ConnectionState::Reconnecting {
                attempt: failures + 1,
                delay_ms: delay.as_millis() as u64,
            });
            if !self.wait_offline(delay).await {
                return self.finish(None);
            }
        }
    }

    /// One connection attempt; a reconnect first asks the token provider
    /// for a fresh token. `None`: the client was closed meanwhile.
    async fn attempt(&mut self, first: bool) -> Option<Result<(Ws, Welcome)>> {
        if !first && self.config.token_provider.is_some() && self.token.is_some() {
            match self.fresh_token().await? {
                Ok(t) => self.token = Some(t),
                Err(e) => return Some(Err(e)),
            }
        }
        self.connect_phase().await
    }

    /// Serves an admitted connection; says what follows its end.
    async fn serve(&mut self, ws: Ws, welcome: Welcome) -> Next {
        match self.session(ws, welcome).await {
            End::Stop => Next::Finish(None),
            End::Lost {
                code,
                reason,
                error,
                retry,
            } => {
                self.emit(ClientEvent::Disconnected { code, reason });
                self.connection_lost();
                if retry && self.config.reconnect {
                    Next::Retry
                } else {
                    Next::Finish(Some(error))
                }
            }
        }
    }

    /// Asks the token provider for a token while serving commands; `None`
    /// when the client was closed meanwhile.
    async fn fresh_token(&mut self) -> Option<Result<String>> {
        let provider = self.config.token_provider.clone()?;
        let mut fut = provider();
        loop {
            tokio::select! {
                t = &mut fut => return Some(t.map_err(Error::TokenProvider)),
                cmd = self.cmd_rx.recv() => {
                    if !self.offline_command(cmd) {
                        return None;
                    }
                }
            }
        }
    }

    /// One connection attempt, serving commands meanwhile. `None`: stop.
    async fn connect_phase(&mut self) -> Option<Result<(Ws, Welcome)>> {
        let fut = connect_once(
            self.config.clone(),
            self.token.clone(),
            self.config.connect_timeout,
        );
        let mut fut = pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return Some(r),
                cmd = self.cmd_rx.recv() => {
                    if !self.offline_command(cmd) {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits `delay` while serving commands. False: stop.
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        let mut sleep = pin!(tokio::time::sleep(delay));
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.cmd_rx.recv() => {
                    if !self.offline_command(cmd) {
                        return false;
                    }
                }
            }
        }
    }

    /// After a lost connection: every request awaiting a reply is moot, and
    /// subscribers waiting for their first answer get their stream now.
    fn connection_lost(&mut self) {
        for (_, p) in self.pending.drain() {
            if let Pending::Unsubscribe { reply: Some(r) } = p {
                // The subscription ended with the connection anyway.
                let _ = r.send(Ok(()));
            }
        }
        for sub in self.subs.values_mut() {
            if let Some((reply, rx)) = sub.waiter.take() {
                let _ = reply.send(Ok((sub.key, rx, None)));
            }
        }
    }

    /// Ends the client: tells every subscription and the state watchers.
    fn finish(mut self, error: Option<Error>) {
        for (_, mut sub) in self.subs.drain() {
            if let Some((reply, _)) = sub.waiter.take() {
                let _ = reply.send(Err(error.clone().unwrap_or(Error::Closed)));
            } else {
                let _ = sub.tx.try_send(match &error {
                    Some(e) => SubEvent::Failed(e.clone()),
                    None => SubEvent::Unsubscribed { server_side: false },
                });
            }
        }
        for (_, p) in self.pending.drain() {
            if let Pending::Unsubscribe { reply: Some(r) } = p {
                let _ = r.send(Err(Error::Closed));
            }
        }
        self.set_state(ConnectionState::Closed(error));
        if let Some(r) = self.close_reply.take() {
            let _ = r.send(());
        }
    }
}
