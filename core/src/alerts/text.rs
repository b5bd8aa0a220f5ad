//! Cutting text to a channel's length limit without ever splitting a
//! character: limits are counted the way each channel documents them
//! (bytes for ntfy, characters elsewhere; characters are counted as UTF-16
//! code units, which is never fewer than Unicode scalar values, so a text
//! within a UTF-16 limit is within the same limit in characters too).

/// How a channel measures its length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// UTF-8 bytes (ntfy's 4,096-byte message).
    Bytes,
    /// Characters, counted conservatively as UTF-16 code units (Telegram,
    /// Discord, Slack count characters; JavaScript counts code units).
    Chars,
}

/// Marks a cut text.
pub const ELLIPSIS: char = '…';

impl Measure {
    /// The length of `c` in this measure.
    pub fn of_char(self, c: char) -> usize {
        match self {
            Measure::Bytes => c.len_utf8(),
            Measure::Chars => c.len_utf16(),
        }
    }

    /// The length of `s` in this measure.
    pub fn of(self, s: &str) -> usize {
        match self {
            Measure::Bytes => s.len(),
            Measure::Chars => s.encode_utf16().count(),
        }
    }
}

/// `s` unchanged when it fits in `max`; otherwise its longest prefix that
/// fits together with a trailing [`ELLIPSIS`] (the result is never longer
/// than `max`, and is empty when `max` cannot even hold the ellipsis).
pub fn truncate(s: &str, max: usize, measure: Measure) -> String {
    if measure.of(s) <= max {
        return s.to_owned();
    }
    let room = match max.checked_sub(measure.of_char(ELLIPSIS)) {
        Some(room) => room,
        None => return String::new(),
    };
    let mut used = 0;
    let mut out = String::new();
    for c in s.chars() {
        let len = measure.of_char(c);
        if used + len > room {
            break;
        }
        used += len;
        out.push(c);
    }
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_the_limit_is_unchanged() {
        assert_eq!(truncate("fill: SPY", 9, Measure::Chars), "fill: SPY");
        assert_eq!(truncate("é", 2, Measure::Bytes), "é");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_limit() {
        let cut = truncate("abcdefghij", 5, Measure::Chars);
        assert_eq!(cut, "abcd…");
        // The ellipsis is 3 bytes: 5 bytes leave room for 2 letters.
        assert_eq!(truncate("abcdefghij", 5, Measure::Bytes), "ab…");
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        // "€" is 3 bytes: a 6-byte limit holds the ellipsis and one euro sign.
        let cut = truncate("€€€€", 6, Measure::Bytes);
        assert_eq!(cut, "€…");
        // An emoji is 2 UTF-16 units: 4 units hold one emoji and the ellipsis.
        assert_eq!(truncate("😀😀😀", 4, Measure::Chars), "😀…");
    }

    #[test]
    fn a_limit_below_the_ellipsis_gives_nothing() {
        assert_eq!(truncate("abcdef", 2, Measure::Bytes), "");
    }
}
