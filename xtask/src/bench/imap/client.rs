//! The IMAP client of `bench imap`: raw TCP, a response reader that knows just enough of the
//! grammar (lines, literals `{N}` / `{N+}`, tagged status, a few untagged responses), and one
//! [`Session`] type that sends a command and reads until its tagged reply. Every read is
//! bounded by a deadline.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

/// Bound on connecting, on the greeting and on an ordinary command.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Initial read buffer of one session (grown for long lines up to [`MAX_LINE`]).
const READ_BUFFER: usize = 16 * 1024;
/// Longest response line accepted (a `* SEARCH` of a big mailbox is the longest we meet).
const MAX_LINE: usize = 8 * 1024 * 1024;

/// The status of a tagged reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// What the load client needs of an untagged response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untagged {
    /// `* N EXISTS`.
    Exists(u32),
    /// `* N EXPUNGE`.
    Expunge,
    /// `* N FETCH (…`.
    Fetch,
    /// `* SEARCH n…`, with the number of hits.
    Search(usize),
    /// `* BYE …`.
    Bye,
    /// Anything else (`* OK [UIDVALIDITY …]`, `* FLAGS …`, `* CAPABILITY …`).
    Other,
}

/// One line of the server's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// `TAG STATUS text`, for our tag.
    Tagged(Status, &'a [u8]),
    /// `* …`.
    Untagged(Untagged),
    /// `+ …` (a command continuation request: IDLE's `+ idling`).
    Continue,
    /// The rest of a response after a literal, or a line with another tag.
    Other,
}

/// The byte count of a literal announced at the end of `line` (`{N}` or `{N+}`).
pub fn literal_length(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Classify one response line (not the continuation of a literal) for the command `tag`.
pub fn classify<'a>(line: &'a [u8], tag: &[u8]) -> Line<'a> {
    if let Some(rest) = line.strip_prefix(b"* ") {
        return Line::Untagged(untagged(rest));
    }
    if line.starts_with(b"+") {
        return Line::Continue;
    }
    let Some(rest) = line
        .strip_prefix(tag)
        .and_then(|rest| rest.strip_prefix(b" "))
    else {
        return Line::Other;
    };
    let (word, text) = split_word(rest);
    let status = if word.eq_ignore_ascii_case(b"OK") {
        Status::Ok
    } else if word.eq_ignore_ascii_case(b"NO") {
        Status::No
    } else if word.eq_ignore_ascii_case(b"BAD") {
        Status::Bad
    } else {
        return Line::Other;
    };
    Line::Tagged(status, text)
}

/// The first space-separated word of `text` and the rest.
fn split_word(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &text[text.len()..]),
    }
}

/// An untagged response, after `* `.
fn untagged(rest: &[u8]) -> Untagged {
    let (first, after) = split_word(rest);
    if first.eq_ignore_ascii_case(b"SEARCH") {
        return Untagged::Search(
            after
                .split(|&b| b == b' ')
                .filter(|w| !w.is_empty())
                .count(),
        );
    }
    if first.eq_ignore_ascii_case(b"BYE") {
        return Untagged::Bye;
    }
    let Some(number) = std::str::from_utf8(first)
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return Untagged::Other;
    };
    let (kind, _) = split_word(after);
    if kind.eq_ignore_ascii_case(b"EXISTS") {
        Untagged::Exists(number)
    } else if kind.eq_ignore_ascii_case(b"EXPUNGE") {
        Untagged::Expunge
    } else if kind.eq_ignore_ascii_case(b"FETCH") {
        Untagged::Fetch
    } else {
        Untagged::Other
    }
}

/// The UID in a tagged `OK [APPENDUID validity uid] …` (RFC 4315).
pub fn append_uid(text: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(text).ok()?;
    let start = text.find("[APPENDUID ")? + "[APPENDUID ".len();
    let rest = &text[start..];
    let code = &rest[..rest.find(']')?];
    let mut words = code.split(' ');
    let _validity = words.next()?;
    words.next()?.parse().ok()
}

/// Response lines from a byte stream, skipping the contents of literals: a buffer with the
/// unread bytes at `start..end`.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Literal bytes still to skip.
    literal: usize,
    /// Whether the next line continues a response after a literal.
    after_literal: bool,
    /// Literal bytes seen so far.
    pub literal_bytes: u64,
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            literal: 0,
            after_literal: false,
            literal_bytes: 0,
        }
    }

    /// The next complete line (without CR LF) and whether it continues a response after a
    /// literal; `None` when more bytes are needed.
    pub fn next_line(&mut self) -> Option<(&[u8], bool)> {
        if self.literal > 0 {
            let skip = self.literal.min(self.end - self.start);
            self.start += skip;
            self.literal -= skip;
            if self.literal > 0 {
                return None;
            }
        }
        let unread = &self.buf[self.start..self.end];
        let newline = memchr::memchr(b'\n', unread)?;
        let (from, mut to) = (self.start, self.start + newline);
        self.start = to + 1;
        if to > from && self.buf[to - 1] == b'\r' {
            to -= 1;
        }
        let continued = self.after_literal;
        match literal_length(&self.buf[from..to]) {
            Some(n) => {
                self.literal = n;
                self.literal_bytes += n as u64;
                self.after_literal = true;
            }
            None => self.after_literal = false,
        }
        Some((&self.buf[from..to], continued))
    }

    /// Room for more bytes at the end: the unread part moved to the front, the buffer grown
    /// when a line fills it.
    fn make_room(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a response line longer than 8 MiB",
                ));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        Ok(())
    }

    /// Append bytes (what [`fill`](Self::fill) does with a read; for tests).
    #[cfg(test)]
    pub fn push(&mut self, data: &[u8]) {
        for &b in data {
            if self.end == self.buf.len() {
                self.make_room().expect("test lines are short");
            }
            self.buf[self.end] = b;
            self.end += 1;
        }
    }

    /// Read more bytes (0 at end of stream).
    async fn fill(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        self.make_room()?;
        let n = stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// What one command's reply carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    /// The text after the tagged status.
    pub text: String,
    /// Untagged FETCH responses.
    pub fetches: u64,
    /// Hits of the last `* SEARCH`.
    pub search_hits: Option<usize>,
}

/// One logged-in (or not yet) IMAP connection.
#[derive(Debug)]
pub struct Session {
    stream: TcpStream,
    reader: Reader,
    next_tag: u64,
    /// Messages in the selected mailbox, as this session was told (EXISTS, EXPUNGE).
    pub exists: u32,
}

impl Session {
    /// Connect and read the greeting.
    pub async fn connect(addr: SocketAddr) -> Result<Session, String> {
        let stream = timeout(OP_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect to {addr}: timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let mut session = Session {
            stream,
            reader: Reader::new(),
            next_tag: 1,
            exists: 0,
        };
        let deadline = Instant::now() + OP_TIMEOUT;
        loop {
            if let Some((line, _)) = session.reader.next_line() {
                if line.starts_with(b"* OK") {
                    return Ok(session);
                }
                return Err(format!("greeting {:?}", String::from_utf8_lossy(line)));
            }
            session.fill(deadline, "greeting").await?;
        }
    }

    /// Connect, `LOGIN user password` and `SELECT INBOX`.
    pub async fn open(addr: SocketAddr, user: &str, password: &str) -> Result<Session, String> {
        let mut session = Session::connect(addr).await?;
        session
            .ok(format!("LOGIN \"{user}\" \"{password}\"").as_bytes())
            .await?;
        session.ok(b"SELECT INBOX").await?;
        Ok(session)
    }

    async fn fill(&mut self, deadline: Instant, what: &str) -> Result<(), String> {
        match timeout_at(deadline, self.reader.fill(&mut self.stream)).await {
            Err(_) => Err(format!("{what}: no reply in time")),
            Ok(Ok(0)) => Err(format!("{what}: the server closed the connection")),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("{what}: read: {e}")),
        }
    }

    /// Send `TAG command` (plus `literal` and CRLF after it, if any: LITERAL+) and read to its
    /// tagged reply, within `limit`.
    pub async fn command_with(
        &mut self,
        command: &[u8],
        literal: Option<&[u8]>,
        limit: Duration,
    ) -> Result<Reply, String> {
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        let mut out = Vec::with_capacity(tag.len() + command.len() + 32);
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(command);
        if let Some(literal) = literal {
            out.extend_from_slice(format!(" {{{}+}}\r\n", literal.len()).as_bytes());
            out.extend_from_slice(literal);
        }
        out.extend_from_slice(b"\r\n");
        let what = String::from_utf8_lossy(command.split(|&b| b == b' ').next().unwrap_or(b""))
            .into_owned();
        let deadline = Instant::now() + limit;
        timeout_at(deadline, self.stream.write_all(&out))
            .await
            .map_err(|_| format!("{what}: write timed out"))?
            .map_err(|e| format!("{what}: write: {e}"))?;
        let mut fetches = 0;
        let mut search_hits = None;
        loop {
            while let Some((line, continued)) = self.reader.next_line() {
                if continued {
                    continue;
                }
                match classify(line, tag.as_bytes()) {
                    Line::Tagged(status, text) => {
                        return Ok(Reply {
                            status,
                            text: String::from_utf8_lossy(text).into_owned(),
                            fetches,
                            search_hits,
                        })
                    }
                    Line::Untagged(Untagged::Exists(n)) => self.exists = n,
                    Line::Untagged(Untagged::Expunge) => {
                        self.exists = self.exists.saturating_sub(1)
                    }
                    Line::Untagged(Untagged::Fetch) => fetches += 1,
                    Line::Untagged(Untagged::Search(n)) => search_hits = Some(n),
                    Line::Untagged(Untagged::Bye) => {
                        return Err(format!(
                            "{what}: the server said {:?}",
                            String::from_utf8_lossy(line)
                        ))
                    }
                    Line::Untagged(Untagged::Other) | Line::Continue | Line::Other => {}
                }
            }
            self.fill(deadline, &what).await?;
        }
    }

    /// A command without a literal, bounded by [`OP_TIMEOUT`]; `BAD` is an error.
    pub async fn command(&mut self, command: &[u8]) -> Result<Reply, String> {
        let reply = self.command_with(command, None, OP_TIMEOUT).await?;
        if reply.status == Status::Bad {
            return Err(format!(
                "{}: BAD {}",
                String::from_utf8_lossy(command),
                reply.text
            ));
        }
        Ok(reply)
    }

    /// A command that must succeed (`OK`).
    pub async fn ok(&mut self, command: &[u8]) -> Result<Reply, String> {
        let reply = self.command(command).await?;
        if reply.status != Status::Ok {
            return Err(format!(
                "{}: {:?} {}",
                String::from_utf8_lossy(command),
                reply.status,
                reply.text
            ));
        }
        Ok(reply)
    }

    /// Send `TAG IDLE` and wait for the continuation request.
    pub async fn idle(&mut self) -> Result<(), String> {
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        let deadline = Instant::now() + OP_TIMEOUT;
        timeout_at(
            deadline,
            self.stream.write_all(format!("{tag} IDLE\r\n").as_bytes()),
        )
        .await
        .map_err(|_| "IDLE: write timed out".to_owned())?
        .map_err(|e| format!("IDLE: write: {e}"))?;
        loop {
            while let Some((line, continued)) = self.reader.next_line() {
                if continued {
                    continue;
                }
                match classify(line, tag.as_bytes()) {
                    Line::Continue => return Ok(()),
                    Line::Tagged(status, text) => {
                        return Err(format!(
                            "IDLE: {status:?} {}",
                            String::from_utf8_lossy(text)
                        ))
                    }
                    _ => {}
                }
            }
            self.fill(deadline, "IDLE").await?;
        }
    }

    /// Literal bytes received so far (BODY[] contents).
    pub fn literal_bytes(&self) -> u64 {
        self.reader.literal_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals() {
        assert_eq!(literal_length(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_length(b"A1 APPEND INBOX {5+}"), Some(5));
        assert_eq!(literal_length(b"{0}"), Some(0));
        assert_eq!(literal_length(b"* 1 FETCH (FLAGS (\\Seen))"), None);
        assert_eq!(literal_length(b"* OK {abc}"), None);
        assert_eq!(literal_length(b"* OK {}"), None);
        assert_eq!(literal_length(b"}"), None);
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(
            classify(b"A7 OK [READ-WRITE] SELECT completed", b"A7"),
            Line::Tagged(Status::Ok, b"[READ-WRITE] SELECT completed")
        );
        assert_eq!(
            classify(b"A7 no nope", b"A7"),
            Line::Tagged(Status::No, b"nope")
        );
        assert_eq!(classify(b"A7 BAD", b"A7"), Line::Tagged(Status::Bad, b""));
        assert_eq!(classify(b"A71 OK done", b"A7"), Line::Other);
        assert_eq!(classify(b"A7 FOO", b"A7"), Line::Other);
        assert_eq!(
            classify(b"* 100000 EXISTS", b"A1"),
            Line::Untagged(Untagged::Exists(100_000))
        );
        assert_eq!(
            classify(b"* 3 expunge", b"A1"),
            Line::Untagged(Untagged::Expunge)
        );
        assert_eq!(
            classify(b"* 5 FETCH (UID 9 FLAGS ())", b"A1"),
            Line::Untagged(Untagged::Fetch)
        );
        assert_eq!(
            classify(b"* SEARCH 1 4 9", b"A1"),
            Line::Untagged(Untagged::Search(3))
        );
        assert_eq!(
            classify(b"* SEARCH", b"A1"),
            Line::Untagged(Untagged::Search(0))
        );
        assert_eq!(
            classify(b"* BYE shutting down", b"A1"),
            Line::Untagged(Untagged::Bye)
        );
        assert_eq!(
            classify(b"* OK [UIDVALIDITY 1] x", b"A1"),
            Line::Untagged(Untagged::Other)
        );
        assert_eq!(classify(b"+ idling", b"A1"), Line::Continue);
    }

    #[test]
    fn reads_append_uids() {
        assert_eq!(
            append_uid(b"[APPENDUID 1700000000 4242] APPEND completed"),
            Some(4242)
        );
        assert_eq!(append_uid(b"APPEND completed"), None);
        assert_eq!(append_uid(b"[APPENDUID 17] x"), None);
    }

    #[test]
    fn skips_literals_across_chunks() {
        let mut reader = Reader::new();
        reader.push(b"* 1 FETCH (BODY[] {12}\r\nA1 OK fake\r\n");
        let (line, continued) = reader.next_line().unwrap();
        assert_eq!((line, continued), (&b"* 1 FETCH (BODY[] {12}"[..], false));
        // 12 literal bytes are "A1 OK fake\r\n": not a line of ours. More is needed.
        assert_eq!(reader.next_line(), None);
        reader.push(b")\r\nA1 O");
        assert_eq!(reader.next_line(), Some((&b")"[..], true)));
        assert_eq!(reader.next_line(), None);
        reader.push(b"K done\r\n* 2 EXISTS\n");
        assert_eq!(reader.next_line(), Some((&b"A1 OK done"[..], false)));
        assert_eq!(reader.next_line(), Some((&b"* 2 EXISTS"[..], false)));
        assert_eq!(reader.next_line(), None);
        assert_eq!(reader.literal_bytes, 12);
    }

    #[test]
    fn grows_for_long_lines() {
        let mut reader = Reader::new();
        let long = vec![b'1'; READ_BUFFER * 3];
        reader.push(b"* SEARCH ");
        reader.push(&long);
        reader.push(b"\r\n");
        let (line, _) = reader.next_line().unwrap();
        assert_eq!(line.len(), "* SEARCH ".len() + long.len());
    }
}
