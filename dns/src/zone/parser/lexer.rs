//! The lexer: master-file bytes to *entries* (a line, or the lines a pair of parentheses joins)
//! of *tokens* (words and quoted strings, escapes left in place), `;` comments dropped.

use super::{MAX_ENTRY_TOKENS, MAX_TOKEN_BYTES};

/// A word or a quoted string, exactly as written (escapes not yet decoded; quotes removed).
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) text: &'a [u8],
    pub(super) quoted: bool,
}

/// One logical entry: a line, or the lines a pair of parentheses joins.
#[derive(Debug)]
pub(super) struct Entry<'a> {
    /// The entry's first line.
    pub(super) line: usize,
    /// The entry began with a space or tab: no owner field, the previous owner applies.
    pub(super) blank_owner: bool,
    /// Never empty.
    pub(super) tokens: Vec<Token<'a>>,
}

#[derive(Debug)]
pub(super) struct LexError {
    pub(super) line: usize,
    pub(super) reason: String,
}

#[derive(Debug)]
pub(super) struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Lexer {
            input,
            pos: 0,
            line: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.input.get(self.pos + offset).copied()
    }

    fn error(&self, line: usize, reason: impl Into<String>) -> LexError {
        LexError {
            line,
            reason: reason.into(),
        }
    }

    /// The next entry with at least one token, or `None` at the end of the input.
    pub(super) fn next_entry(&mut self) -> Result<Option<Entry<'a>>, LexError> {
        while self.pos < self.input.len() {
            let line = self.line;
            let blank_owner = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            // The line of the open parenthesis, while inside one.
            let mut open_paren: Option<usize> = None;
            loop {
                match self.peek() {
                    None => {
                        if let Some(paren_line) = open_paren {
                            return Err(self.error(paren_line, "unclosed parenthesis"));
                        }
                        break;
                    }
                    Some(b'\n') => {
                        self.pos += 1;
                        self.line += 1;
                        if open_paren.is_none() {
                            break;
                        }
                    }
                    Some(b' ' | b'\t' | b'\r') => self.pos += 1,
                    Some(b';') => self.skip_comment(),
                    Some(b'(') => {
                        if open_paren.is_some() {
                            return Err(self.error(self.line, "nested parentheses"));
                        }
                        open_paren = Some(self.line);
                        self.pos += 1;
                    }
                    Some(b')') => {
                        if open_paren.take().is_none() {
                            return Err(self.error(self.line, "')' without a matching '('"));
                        }
                        self.pos += 1;
                    }
                    Some(b'"') => tokens.push(self.quoted()?),
                    Some(_) => tokens.push(self.word()?),
                }
                if tokens.len() > MAX_ENTRY_TOKENS {
                    return Err(self.error(line, format!("more than {MAX_ENTRY_TOKENS} tokens")));
                }
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    line,
                    blank_owner,
                    tokens,
                }));
            }
        }
        Ok(None)
    }

    /// Skips to the end of the line (the newline itself is left for the caller).
    fn skip_comment(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    /// Steps over a backslash and the byte it escapes (counting an escaped newline).
    fn skip_escape(&mut self, what_line: usize, what: &str) -> Result<(), LexError> {
        match self.peek_at(1) {
            None => Err(self.error(what_line, format!("backslash at the end of the {what}"))),
            Some(escaped) => {
                if escaped == b'\n' {
                    self.line += 1;
                }
                self.pos += 2;
                Ok(())
            }
        }
    }

    fn token(&self, start: usize, end: usize, quoted: bool) -> Result<Token<'a>, LexError> {
        if end - start > MAX_TOKEN_BYTES {
            return Err(self.error(
                self.line,
                format!("token longer than {MAX_TOKEN_BYTES} bytes"),
            ));
        }
        Ok(Token {
            text: self.input.get(start..end).unwrap_or_default(),
            quoted,
        })
    }

    fn word(&mut self) -> Result<Token<'a>, LexError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => self.skip_escape(self.line, "input")?,
                _ => self.pos += 1,
            }
            if self.pos - start > MAX_TOKEN_BYTES {
                break;
            }
        }
        self.token(start, self.pos, false)
    }

    fn quoted(&mut self) -> Result<Token<'a>, LexError> {
        let open_line = self.line;
        self.pos += 1; // the opening quote
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    return Err(self.error(open_line, "unterminated quoted string"));
                }
                Some(b'"') => break,
                Some(b'\\') => self.skip_escape(open_line, "quoted string")?,
                Some(_) => self.pos += 1,
            }
            if self.pos - start > MAX_TOKEN_BYTES {
                return self.token(start, self.pos, true);
            }
        }
        let token = self.token(start, self.pos, true)?;
        self.pos += 1; // the closing quote
        Ok(token)
    }
}
