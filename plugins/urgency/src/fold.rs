//! Text as keywords compare it: lower case, accents off, split into words. Pure, tested
//! natively.
//!
//! Customers write "URGENTE", "Urgente" and "urgênte"; phones send "é" composed or as "e"
//! plus a combining accent. Folding both the message and the keyword the same way makes all
//! of those one word. The table covers the Latin letters of the languages Switchboard's
//! customers write in (Latin-1 and Latin Extended-A); anything else is only lower-cased, which
//! is still exact for scripts without accents to drop.

/// `text` lower-cased with accents removed and each ligature spelled out ("Devolução" →
/// "devolucao", "Straße" → "strasse").
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for lower in text.chars().flat_map(char::to_lowercase) {
        if is_combining_mark(lower) {
            continue;
        }
        match base_letter(lower) {
            Some(base) => folded.push_str(base),
            None => folded.push(lower),
        }
    }
    folded
}

/// The words of already folded text: runs of letters and digits. Anything else (spaces,
/// punctuation, apostrophes, emoji) separates words.
pub fn words(folded: &str) -> Vec<&str> {
    folded.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).collect()
}

/// Combining diacritical marks (U+0300–U+036F): the accent of a decomposed "é".
fn is_combining_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// The unaccented spelling of a lower-case accented Latin letter.
fn base_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(fold("URGENTE"), "urgente");
        assert_eq!(fold("Devolução"), "devolucao");
        assert_eq!(fold("RECLAMACIÓN"), "reclamacion");
        assert_eq!(fold("o mais RÁPIDO possível"), "o mais rapido possivel");
        assert_eq!(fold("Rückerstattung"), "ruckerstattung");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Œuvre"), "oeuvre");
    }

    #[test]
    fn decomposed_accents_fold_like_composed_ones() {
        assert_eq!(fold("devolucio\u{301}n"), "devolucion");
        assert_eq!(fold("devolucio\u{301}n"), fold("devolución"));
    }

    #[test]
    fn other_scripts_are_only_lower_cased() {
        assert_eq!(fold("СРОЧНО"), "срочно");
        assert_eq!(fold("至急"), "至急");
    }

    #[test]
    fn words_split_on_anything_but_letters_and_digits() {
        assert_eq!(words("refund, asap!! (order #123)"), ["refund", "asap", "order", "123"]);
        assert_eq!(words("don't"), ["don", "t"]);
        assert_eq!(words("  "), Vec::<&str>::new());
        assert_eq!(words("urgente🔥ya"), ["urgente", "ya"]);
    }
}
