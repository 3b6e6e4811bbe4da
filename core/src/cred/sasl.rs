//! SASL mechanisms carried by SMTP `AUTH`, IMAP `AUTHENTICATE` and POP3 `AUTH`: PLAIN (RFC 4616)
//! and LOGIN (draft-murchison-sasl-login). Pure functions over bytes, no I/O.
//!
//! What the protocols share is here; what differs stays in the protocol crates: the `=` that stands
//! for an empty initial response (RFC 4954 §4, RFC 9051 §6.2.2), and when to send which challenge.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Longest SASL response accepted, in bytes of base64 before decoding (and in bytes for
/// [`decode_plain_raw`]). RFC 4616 §2 asks servers to accept identities and passwords of up to 255
/// octets each; 8 KiB is ample for that and keeps a hostile client from making us buffer more.
pub const MAX_SASL_RESPONSE: usize = 8192;

/// The LOGIN mechanism's first challenge: base64 of `Username:`.
pub const LOGIN_USERNAME_CHALLENGE: &str = "VXNlcm5hbWU6";
/// The LOGIN mechanism's second challenge: base64 of `Password:`.
pub const LOGIN_PASSWORD_CHALLENGE: &str = "UGFzc3dvcmQ6";

/// Standard alphabet; padding optional when decoding (some clients omit it), always written.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a SASL response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The response is not base64 (standard alphabet).
    #[error("SASL response is not valid base64")]
    BadBase64,
    /// A PLAIN message must be `[authzid] NUL authcid NUL passwd`.
    #[error("SASL PLAIN message has {0} NUL-separated fields, expected 3")]
    FieldCount(usize),
    /// The PLAIN authentication identity is empty.
    #[error("SASL PLAIN authentication identity is empty")]
    EmptyAuthcid,
    /// An identity is not UTF-8 (RFC 4616 §2 requires UTF-8).
    #[error("SASL PLAIN {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// The response is longer than [`MAX_SASL_RESPONSE`].
    #[error("SASL response is {len} bytes, over the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A decoded SASL PLAIN message (RFC 4616 §2). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Authorization identity: whom the client wants to act as; empty means "as authcid".
    pub authzid: String,
    /// Authentication identity: whose password this is. Never empty.
    pub authcid: String,
    /// The password, as sent (RFC 4616 says UTF-8, but the check compares bytes).
    pub password: Vec<u8>,
}

impl PlainCredentials {
    /// The identity the session acts as: `authzid` if given, else `authcid`. A server that does not
    /// support proxy authorization refuses messages where this differs from `authcid`.
    pub fn authorization_identity(&self) -> &str {
        if self.authzid.is_empty() {
            &self.authcid
        } else {
            &self.authzid
        }
    }
}

impl fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Decodes a base64 SASL PLAIN response, tolerating whitespace around it (a trailing CRLF).
pub fn decode_plain(b64: &[u8]) -> Result<PlainCredentials, SaslError> {
    decode_plain_raw(&decode_base64_limited(b64)?)
}

/// Decodes an already-decoded SASL PLAIN message: `[authzid] NUL authcid NUL passwd`.
pub fn decode_plain_raw(bytes: &[u8]) -> Result<PlainCredentials, SaslError> {
    if bytes.len() > MAX_SASL_RESPONSE {
        return Err(SaslError::TooLong {
            len: bytes.len(),
            max: MAX_SASL_RESPONSE,
        });
    }
    let fields: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
    let [authzid, authcid, password] = fields[..] else {
        return Err(SaslError::FieldCount(fields.len()));
    };
    if authcid.is_empty() {
        return Err(SaslError::EmptyAuthcid);
    }
    let authzid =
        std::str::from_utf8(authzid).map_err(|_| SaslError::NotUtf8("authorization identity"))?;
    let authcid =
        std::str::from_utf8(authcid).map_err(|_| SaslError::NotUtf8("authentication identity"))?;
    Ok(PlainCredentials {
        authzid: authzid.to_owned(),
        authcid: authcid.to_owned(),
        password: password.to_vec(),
    })
}

/// Encodes a SASL PLAIN response for a client: base64 of `authzid NUL authcid NUL password`.
/// Pass an empty `authzid` to act as `authcid` (the usual case).
pub fn encode_plain(authzid: &str, authcid: &str, password: &[u8]) -> String {
    let mut message = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    message.extend_from_slice(authzid.as_bytes());
    message.push(0);
    message.extend_from_slice(authcid.as_bytes());
    message.push(0);
    message.extend_from_slice(password);
    encode_base64(&message)
}

/// Decodes one LOGIN response (the user name or the password), tolerating surrounding whitespace.
pub fn decode_login_response(b64: &[u8]) -> Result<Vec<u8>, SaslError> {
    decode_base64_limited(b64)
}

/// Base64 (standard alphabet, padded), as SASL challenges and responses are written.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Whether a response line is `*`: the client cancels the exchange (RFC 4954 §4, RFC 9051 §6.2.2),
/// and the server answers with the protocol's "authentication aborted" reply.
pub fn is_abort(line: &[u8]) -> bool {
    line.trim_ascii() == b"*"
}

/// Trims, enforces [`MAX_SASL_RESPONSE`] on the encoded length, then decodes.
fn decode_base64_limited(b64: &[u8]) -> Result<Vec<u8>, SaslError> {
    let b64 = b64.trim_ascii();
    if b64.len() > MAX_SASL_RESPONSE {
        return Err(SaslError::TooLong {
            len: b64.len(),
            max: MAX_SASL_RESPONSE,
        });
    }
    LENIENT_STANDARD
        .decode(b64)
        .map_err(|_| SaslError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_rfc4616_vectors() {
        // RFC 4616 §4 examples.
        let creds = decode_plain(encode_base64(b"\0tim\0tanstaaftanstaaf").as_bytes()).unwrap();
        assert_eq!(creds.authzid, "");
        assert_eq!(creds.authcid, "tim");
        assert_eq!(creds.password, b"tanstaaftanstaaf");
        assert_eq!(creds.authorization_identity(), "tim");

        let creds = decode_plain(b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n").unwrap();
        assert_eq!(creds.authcid, "tim");
        assert_eq!(creds.password, b"tanstaaftanstaaf");

        let creds = decode_plain(b"  S3Vyb3Nhd2EAS3Vyb3Nhd2EAdGFuc3RhYWZ0YW5zdGFhZg== ").unwrap();
        assert_eq!(creds.authzid, "Kurosawa");
        assert_eq!(creds.authcid, "Kurosawa");
        assert_eq!(creds.password, b"tanstaaftanstaaf");
    }

    #[test]
    fn plain_with_authzid() {
        let b64 = encode_plain("admin", "tim", b"pw");
        assert_eq!(b64, encode_base64(b"admin\0tim\0pw"));
        let creds = decode_plain(b64.as_bytes()).unwrap();
        assert_eq!(creds.authzid, "admin");
        assert_eq!(creds.authcid, "tim");
        assert_eq!(creds.password, b"pw");
        assert_eq!(creds.authorization_identity(), "admin");
    }

    #[test]
    fn plain_empty_password_is_decoded() {
        // Whether an empty password can log in is the checker's business, not the decoder's.
        let creds = decode_plain_raw(b"\0tim\0").unwrap();
        assert!(creds.password.is_empty());
    }

    #[test]
    fn plain_wrong_field_counts() {
        assert_eq!(decode_plain_raw(b"tim"), Err(SaslError::FieldCount(1)));
        assert_eq!(decode_plain_raw(b""), Err(SaslError::FieldCount(1)));
        assert_eq!(decode_plain_raw(b"tim\0pw"), Err(SaslError::FieldCount(2)));
        assert_eq!(
            decode_plain_raw(b"\0tim\0pw\0extra"),
            Err(SaslError::FieldCount(4))
        );
        assert_eq!(
            decode_plain(encode_base64(b"tim\0pw").as_bytes()),
            Err(SaslError::FieldCount(2))
        );
    }

    #[test]
    fn plain_empty_authcid() {
        assert_eq!(
            decode_plain_raw(b"admin\0\0pw"),
            Err(SaslError::EmptyAuthcid)
        );
    }

    #[test]
    fn plain_not_utf8() {
        assert!(matches!(
            decode_plain_raw(b"\xff\0tim\0pw"),
            Err(SaslError::NotUtf8(_))
        ));
        assert!(matches!(
            decode_plain_raw(b"\0t\xc3\0pw"),
            Err(SaslError::NotUtf8(_))
        ));
        // The password is bytes: not checked.
        assert!(decode_plain_raw(b"\0tim\0\xff").is_ok());
    }

    #[test]
    fn plain_bad_base64() {
        assert_eq!(decode_plain(b"not base64!"), Err(SaslError::BadBase64));
        assert_eq!(decode_plain(b"AHRp bQB0"), Err(SaslError::BadBase64));
        // URL-safe alphabet is not the standard one.
        assert_eq!(decode_plain(b"AHRpbQB0-_"), Err(SaslError::BadBase64));
    }

    #[test]
    fn plain_oversize() {
        let long = "A".repeat(MAX_SASL_RESPONSE + 4);
        assert_eq!(
            decode_plain(long.as_bytes()),
            Err(SaslError::TooLong {
                len: MAX_SASL_RESPONSE + 4,
                max: MAX_SASL_RESPONSE
            })
        );
        assert!(matches!(
            decode_plain_raw(&vec![b'a'; MAX_SASL_RESPONSE + 1]),
            Err(SaslError::TooLong { .. })
        ));
        // Exactly at the limit is fine (as far as length goes).
        let at_limit = "A".repeat(MAX_SASL_RESPONSE);
        assert!(!matches!(
            decode_plain(at_limit.as_bytes()),
            Err(SaslError::TooLong { .. })
        ));
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let creds = decode_plain(b"AHRpbQB0YW5zdGFhZg").unwrap();
        assert_eq!(creds.password, b"tanstaaf");
    }

    #[test]
    fn debug_redacts_password() {
        let creds = decode_plain_raw(b"\0tim\0tanstaaf").unwrap();
        let shown = format!("{creds:?}");
        assert!(shown.contains("tim"), "{shown}");
        assert!(!shown.contains("tanstaaf"), "{shown}");
    }

    #[test]
    fn login_round_trip() {
        assert_eq!(
            decode_login_response(LOGIN_USERNAME_CHALLENGE.as_bytes()).unwrap(),
            b"Username:"
        );
        assert_eq!(
            decode_login_response(LOGIN_PASSWORD_CHALLENGE.as_bytes()).unwrap(),
            b"Password:"
        );
        assert_eq!(encode_base64(b"Username:"), LOGIN_USERNAME_CHALLENGE);
        assert_eq!(encode_base64(b"Password:"), LOGIN_PASSWORD_CHALLENGE);
        let user = encode_base64("alice@example.test".as_bytes());
        assert_eq!(
            decode_login_response(format!("{user}\r\n").as_bytes()).unwrap(),
            b"alice@example.test"
        );
        let pw = encode_base64(b"s3cr\xffet");
        assert_eq!(decode_login_response(pw.as_bytes()).unwrap(), b"s3cr\xffet");
        assert_eq!(decode_login_response(b"%%%"), Err(SaslError::BadBase64));
        assert!(matches!(
            decode_login_response("A".repeat(MAX_SASL_RESPONSE + 1).as_bytes()),
            Err(SaslError::TooLong { .. })
        ));
        assert_eq!(decode_login_response(b"").unwrap(), b"");
    }

    #[test]
    fn abort() {
        assert!(is_abort(b"*"));
        assert!(is_abort(b"*\r\n"));
        assert!(is_abort(b" * "));
        assert!(!is_abort(b""));
        assert!(!is_abort(b"**"));
        assert!(!is_abort(b"KiA="));
    }

    proptest! {
        #[test]
        fn decode_plain_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_plain(&bytes);
            let _ = decode_plain_raw(&bytes);
            let _ = decode_login_response(&bytes);
            let _ = is_abort(&bytes);
            // And as valid base64 of arbitrary bytes, which reaches the field splitting.
            let _ = decode_plain(encode_base64(&bytes).as_bytes());
        }

        #[test]
        fn plain_round_trips(
            authzid in any::<String>().prop_map(|s| s.replace('\0', "")),
            authcid in any::<String>().prop_map(|s| s.replace('\0', "")),
            password in any::<String>().prop_map(|s| s.replace('\0', "")),
        ) {
            prop_assume!(!authcid.is_empty());
            let b64 = encode_plain(&authzid, &authcid, password.as_bytes());
            let creds = decode_plain(b64.as_bytes()).unwrap();
            prop_assert_eq!(creds.authzid, authzid);
            prop_assert_eq!(creds.authcid, authcid);
            prop_assert_eq!(creds.password, password.into_bytes());
        }
    }
}
