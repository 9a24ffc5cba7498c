//! Identifiers alertgate mints: delivery ids (`dlv_` + ULID), message ids for `sign`, and the
//! lower-case hex that keys, fingerprints and signatures are written in.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rand::RngCore;

/// Crockford's base32, the ULID alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The last ULID minted by this process, as a number: ids are monotonic (RFC-style ULID
/// monotonicity), so two deliveries within one millisecond still sort in the order they came.
static LAST: Mutex<u128> = Mutex::new(0);

/// A 26-character ULID: 48 bits of milliseconds, then 80 random bits. Sorts by time as text, and
/// within this process strictly in the order minted.
pub fn ulid(now: DateTime<Utc>) -> String {
    let millis = u128::from(now.timestamp_millis().max(0).unsigned_abs()) & ((1 << 48) - 1);
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let fresh = random
        .iter()
        .fold(millis, |acc, byte| (acc << 8) | u128::from(*byte));
    let value = {
        let mut last = LAST.lock().expect("ulid lock");
        // Same (or an earlier) millisecond as the last one: count up from it instead.
        *last = if fresh >> 80 <= *last >> 80 {
            *last + 1
        } else {
            fresh
        };
        *last
    };
    encode(value)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// The smallest ULID of `time`'s millisecond.
fn floor(time: DateTime<Utc>) -> String {
    let millis = u128::from(time.timestamp_millis().max(0).unsigned_abs()) & ((1 << 48) - 1);
    encode(millis << 80)
}

fn encode(value: u128) -> String {
    (0..26)
        .rev()
        .map(|index| ALPHABET[((value >> (index * 5)) & 0x1f) as usize] as char)
        .collect()
}

/// The id of one delivery, as SPEC §3 shows it.
pub fn delivery_id(now: DateTime<Utc>) -> String {
    format!("dlv_{}", ulid(now))
}

/// The smallest delivery id minted at `time`: every delivery of `time` or later sorts at or
/// above it, so a time range is a range of ids.
pub fn delivery_id_floor(time: DateTime<Utc>) -> String {
    format!("dlv_{}", floor(time))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn ulids_of_one_millisecond_sort_in_the_order_minted() {
        let at = Utc.timestamp_millis_opt(2_000).unwrap();
        let minted: Vec<String> = (0..100).map(|_| ulid(at)).collect();
        assert!(minted.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn ulids_are_26_characters_and_sort_by_time() {
        let earlier = floor(Utc.timestamp_millis_opt(1_000).unwrap());
        let later = floor(Utc.timestamp_millis_opt(1_001).unwrap());
        assert_eq!((earlier.len(), ulid(Utc::now()).len()), (26, 26));
        assert!(earlier < later);
        assert!(delivery_id(Utc::now()).starts_with("dlv_"));
        let now = Utc::now();
        assert!(delivery_id_floor(now) <= delivery_id(now));
        let earlier = now - chrono::Duration::milliseconds(1);
        assert!(delivery_id_floor(earlier) < delivery_id_floor(now));
    }
}
