//! Pagination cursors: opaque to clients, a position in a sequence to us.
//!
//! A cursor wraps one integer (a `change_seq` or a `seq`) with a version tag, base64url-encoded,
//! so clients treat it as a token and a later format can be told apart from this one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const VERSION: &str = "v1:";
const KEY_VERSION: &str = "k1:";

pub fn encode(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{position}"))
}

/// The position in a cursor made by `encode`; `None` for anything else.
pub fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let digits = text.strip_prefix(VERSION)?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A cursor for a position that is a key (a delivery id) rather than a number.
pub fn encode_key(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{KEY_VERSION}{key}"))
}

/// The key in a cursor made by `encode_key`.
pub fn decode_key(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(KEY_VERSION)
        .filter(|key| !key.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        for position in [0, 1, 42, i64::MAX] {
            assert_eq!(decode(&encode(position)), Some(position));
        }
    }

    #[test]
    fn keys_round_trip_and_do_not_pass_for_positions() {
        let cursor = encode_key("dlv_01M8EEETWF3JXHJN1EAAQSJTY1");
        assert_eq!(
            decode_key(&cursor).as_deref(),
            Some("dlv_01M8EEETWF3JXHJN1EAAQSJTY1")
        );
        assert_eq!(decode(&cursor), None);
        assert_eq!(decode_key(&encode(5)), None);
    }

    proptest::proptest! {
        #[test]
        fn every_position_round_trips(position in 0..=i64::MAX) {
            proptest::prop_assert_eq!(decode(&encode(position)), Some(position));
        }

        #[test]
        fn any_text_decodes_without_panicking(text in ".{0,64}") {
            let _ = decode(&text);
            let _ = decode_key(&text);
        }

        #[test]
        fn every_key_round_trips(key in "[a-zA-Z0-9_]{1,40}") {
            proptest::prop_assert_eq!(decode_key(&encode_key(&key)), Some(key));
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "abc", "djE6", "djE6LTE", "djI6MQ", "!!!!"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
