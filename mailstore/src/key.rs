//! [`Key`]: a message's base file name (before `:2,`), cheap to clone and to load by the
//! hundred thousand.
//!
//! The keys of a loaded index are slices of the index file's text, which they share: opening a
//! 100,000-message mailbox makes one allocation for all of its keys rather than one each (the
//! allocations, their copies and their page faults were a third of a cold SELECT).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// A message's base file name. Dereferences to `str`; equal when the names are equal.
#[derive(Clone)]
pub struct Key {
    text: Arc<String>,
    start: u32,
    end: u32,
}

impl Key {
    /// The key `range` of `text` (clamped to it; an index file is far below 4 GiB, a longer one
    /// gives empty keys, which the next sync treats as unknown files).
    pub(crate) fn slice(text: &Arc<String>, range: Range<usize>) -> Key {
        let valid = range.end <= text.len()
            && text.is_char_boundary(range.start)
            && text.is_char_boundary(range.end)
            && range.start <= range.end;
        match (u32::try_from(range.start), u32::try_from(range.end)) {
            (Ok(start), Ok(end)) if valid => Key {
                text: text.clone(),
                start,
                end,
            },
            _ => Key::from(""),
        }
    }
}

/// Keys taken out of one loaded text (an index file or its log).
#[derive(Debug)]
pub(crate) struct Keys<'a>(pub(crate) &'a Arc<String>);

impl Keys<'_> {
    /// `part`, which should lie within the text, as a key sharing it (a copy otherwise).
    pub(crate) fn key(&self, part: &str) -> Key {
        let base = self.0.as_ptr() as usize;
        let at = (part.as_ptr() as usize).wrapping_sub(base);
        if at <= self.0.len() && part.len() <= self.0.len() - at {
            Key::slice(self.0, at..at + part.len())
        } else {
            Key::from(part)
        }
    }
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        // `slice` checked the bounds and the boundaries; `get` keeps this panic-free anyway.
        self.text
            .get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::from(s.to_owned())
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        let end = u32::try_from(s.len()).unwrap_or(0);
        Key {
            text: Arc::new(s),
            start: 0,
            end,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_text_and_compare_by_name() {
        let text = Arc::new("1 M1 I: :abc\n2 M1 I: :déf\n".to_owned());
        let a = Key::slice(&text, 9..12);
        let b = Key::slice(&text, 22..26);
        assert_eq!((&*a, &*b), ("abc", "déf"));
        assert_eq!(Arc::strong_count(&text), 3);
        assert_eq!(a, Key::from("abc"));
        assert_ne!(a, b);
        assert_eq!(format!("{a}/{b:?}"), "abc/\"déf\"");
        // Out of range or inside a character: empty, never a panic.
        assert_eq!(&*Key::slice(&text, 20..99), "");
        assert_eq!(&*Key::slice(&text, 24..26), "");
        let (start, end) = (5, 2);
        assert_eq!(&*Key::slice(&text, start..end), "");
        // Taken by pointer out of the text, or copied when from elsewhere.
        let keys = Keys(&text);
        let c = keys.key(&text[9..12]);
        assert_eq!(&*c, "abc");
        assert_eq!(Arc::strong_count(&text), 4);
        assert_eq!(&*keys.key("elsewhere"), "elsewhere");
        assert_eq!(Arc::strong_count(&text), 4);
    }
}
