//! The outgoing queue: protocol lines (registration, PONG) go first and are never delayed; user
//! lines wait for registration and then for the rate limiter.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::time::Instant;

use super::ratelimit::{RateLimit, RateLimiter};

/// What a queued user line is, for what happens when it goes out or the queue is long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// A user command.
    User,
    /// QUIT: once sent, the client waits for the server to close.
    Quit,
    /// An automatic reply (CTCP): dropped instead of queued when the backlog is long, so a
    /// CTCP flood cannot make the bot flood the server or delay real messages.
    AutoReply,
}

/// Automatic replies are dropped while more user lines than this wait.
pub(crate) const AUTO_REPLY_BACKLOG: usize = 4;

#[derive(Debug)]
pub(crate) struct Outbox {
    priority: VecDeque<(Bytes, Option<LineKind>)>,
    user: VecDeque<(Bytes, LineKind)>,
    limiter: RateLimiter,
    released: bool,
}

impl Outbox {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Outbox {
            priority: VecDeque::new(),
            user: VecDeque::new(),
            limiter: RateLimiter::new(limit),
            released: false,
        }
    }

    /// Queue a protocol line: sent at once, ahead of user lines.
    pub(crate) fn push_priority(&mut self, line: Bytes) {
        self.priority.push_back((line, None));
    }

    /// Queue QUIT as a protocol line (before registration nothing else can go anyway).
    pub(crate) fn push_priority_quit(&mut self, line: Bytes) {
        self.priority.push_back((line, Some(LineKind::Quit)));
    }

    /// Queue a user line (returns false if an automatic reply was dropped).
    pub(crate) fn push(&mut self, line: Bytes, kind: LineKind) -> bool {
        if kind == LineKind::AutoReply && self.user.len() >= AUTO_REPLY_BACKLOG {
            return false;
        }
        self.user.push_back((line, kind));
        true
    }

    /// Put user lines in front of the queue, in order (rejoins after registration).
    pub(crate) fn push_front(&mut self, lines: Vec<Bytes>) {
        for line in lines.into_iter().rev() {
            self.user.push_front((line, LineKind::User));
        }
    }

    /// Let user lines go (after registration).
    pub(crate) fn release(&mut self) {
        self.released = true;
    }

    /// A new connection: protocol lines of the old one are meaningless, user lines wait for the
    /// next registration.
    pub(crate) fn reset_connection(&mut self) {
        self.priority.clear();
        self.released = false;
    }

    /// User lines waiting.
    pub(crate) fn user_len(&self) -> usize {
        self.user.len()
    }

    /// The next line that may go at `now`.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<(Bytes, Option<LineKind>)> {
        if let Some(entry) = self.priority.pop_front() {
            // Protocol lines are few (registration, PONG) and never delayed; they do not use up
            // the user budget, or a bot could not say anything right after registering.
            return Some(entry);
        }
        if self.released && !self.user.is_empty() && self.limiter.try_acquire(now) {
            return self.user.pop_front().map(|(line, kind)| (line, Some(kind)));
        }
        None
    }

    /// When the next line may go (`now` if one could go already), if one waits and is allowed
    /// to go at all.
    pub(crate) fn ready_at(&self, now: Instant) -> Option<Instant> {
        if !self.priority.is_empty() {
            return Some(now);
        }
        if self.released && !self.user.is_empty() {
            return Some(self.limiter.ready_at().map_or(now, |at| at.max(now)));
        }
        None
    }
}
