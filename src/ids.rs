//! Identifiers alertgate mints: delivery ids (`dlv_` + ULID) and message ids for `sign`.

use chrono::{DateTime, Utc};
use rand::RngCore;

/// Crockford's base32, the ULID alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A 26-character ULID: 48 bits of milliseconds, then 80 random bits. Sorts by time as text.
pub fn ulid(now: DateTime<Utc>) -> String {
    let millis = u128::from(now.timestamp_millis().max(0).unsigned_abs()) & ((1 << 48) - 1);
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let value = random
        .iter()
        .fold(millis, |acc, byte| (acc << 8) | u128::from(*byte));
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
    let id = ulid(time);
    format!("dlv_{}{}", &id[..10], "0".repeat(16))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn ulids_are_26_characters_and_sort_by_time() {
        let earlier = ulid(Utc.timestamp_millis_opt(1_000).unwrap());
        let later = ulid(Utc.timestamp_millis_opt(1_001).unwrap());
        assert_eq!(earlier.len(), 26);
        assert!(earlier < later);
        assert!(delivery_id(Utc::now()).starts_with("dlv_"));
        let at = Utc.timestamp_millis_opt(5_000).unwrap();
        assert!(delivery_id_floor(at) <= delivery_id(at));
        assert!(delivery_id(at - chrono::Duration::milliseconds(1)) < delivery_id_floor(at));
    }
}
