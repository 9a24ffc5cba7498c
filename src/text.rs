//! Text a client chose, as alertgate shows it back in a log line or an error message: cut to a
//! length, so a 16 KB name in a path costs a line or an answer no more than a short one.

/// How many characters of a client-chosen text a log line or an answer carries.
pub const MAX_SHOWN_CHARS: usize = 64;

/// `text`, or its first `MAX_SHOWN_CHARS` characters and `…`.
pub fn cut_short(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_to_its_first_characters_and_marked() {
        assert_eq!(cut_short("short"), "short");
        let exact = "é".repeat(MAX_SHOWN_CHARS);
        assert_eq!(cut_short(&exact), exact);
        let long = "é".repeat(MAX_SHOWN_CHARS + 1);
        assert_eq!(
            cut_short(&long),
            format!("{}…", "é".repeat(MAX_SHOWN_CHARS))
        );
    }
}
