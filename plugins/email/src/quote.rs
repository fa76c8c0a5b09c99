//! The new text of a reply, without quoted history or signature.
//!
//! Why it exists: mail clients resend the whole conversation with every reply, so the body
//! of the tenth message holds the nine before it. The conversation store already has those,
//! and an agent (human or model) that is shown them again reads the same text ten times and
//! may answer an old question. [`visible_text`] keeps only what the sender just wrote.
//!
//! It works on plain text (for HTML-only mail, on [`crate::html::html_to_text`]'s output) and
//! recognises, in order:
//!
//! 1. the start of the quoted history: an attribution line (`On … wrote:` and its German,
//!    French, Spanish, Portuguese, Italian and Dutch forms, also when wrapped over two lines
//!    as Gmail does), an `-----Original Message-----` separator (and its localised forms), or
//!    Outlook's `From:`/`Sent:`/`To:`/`Subject:` header block (localised, also after a
//!    `________________________________` line);
//! 2. a trailing block of `>`-quoted lines, with the attribution line right before it;
//! 3. the `-- ` signature delimiter (exactly dash, dash, space, on its own line);
//! 4. a "Sent from my iPhone"-style line at the very end.
//!
//! It is conservative: when quoted lines and new lines alternate (an inline reply), only the
//! trailing quote block is cut; a step that would leave nothing is skipped, so a message
//! that is nothing but a quote is shown whole. No crate does this for the languages needed
//! (the known ones are ports of GitHub's English-only `email_reply_parser`), hence the
//! hand-written rules.

/// What an agent should see of a message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible {
    /// The new text, trimmed, with `\n` line endings.
    pub shown: String,
    /// Quoted history was removed.
    pub had_quote: bool,
    /// A signature (or a "Sent from my …" line) was removed.
    pub had_signature: bool,
}

/// Strips quoted history and signatures from `text`; see the module documentation.
pub fn visible_text(text: &str) -> Visible {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut end = lines.len();
    let mut had_quote = false;
    let mut had_signature = false;

    if let Some(cut) = history_start(&lines).filter(|&cut| has_content(&lines[..cut])) {
        end = cut;
        had_quote = true;
    }
    // Each of these can uncover another (a signature above a trailing quote, a "Sent from"
    // line above a signature), so repeat until nothing changes.
    loop {
        let before = end;
        if let Some(cut) = trailing_quote_start(&lines[..end]).filter(|&c| has_content(&lines[..c]))
        {
            end = cut;
            had_quote = true;
        }
        if let Some(cut) = signature_start(&lines[..end]).filter(|&c| has_content(&lines[..c])) {
            end = cut;
            had_signature = true;
        }
        if let Some(cut) = mobile_footer_start(&lines[..end]).filter(|&c| has_content(&lines[..c]))
        {
            end = cut;
            had_signature = true;
        }
        if end == before {
            break;
        }
    }

    let shown = lines[..end].join("\n");
    let shown = shown.trim_matches('\n').trim_end();
    if shown.trim().is_empty() {
        // Only reachable when the input itself is blank.
        return Visible {
            shown: normalized.trim().to_string(),
            had_quote: false,
            had_signature: false,
        };
    }
    Visible {
        shown: shown.to_string(),
        had_quote,
        had_signature,
    }
}

fn has_content(lines: &[&str]) -> bool {
    lines.iter().any(|line| !line.trim().is_empty())
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// Non-breaking and narrow no-break spaces (Gmail puts U+202F before "AM", French puts
/// U+00A0 before ":") become plain spaces, and runs of spaces collapse.
fn normalize_spaces(line: &str) -> String {
    line.replace(['\u{a0}', '\u{202f}', '\t'], " ")
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ------------------------------------------------------------------------------------------
// 1. Where the quoted history starts
// ------------------------------------------------------------------------------------------

/// The first line of the quoted history, if a marker is found.
fn history_start(lines: &[&str]) -> Option<usize> {
    for i in 0..lines.len() {
        if is_quoted(lines[i]) || lines[i].trim().is_empty() {
            continue;
        }
        if let Some(used) = attribution_at(lines, i, true)
            && !is_inline_reply(&lines[i + used..])
        {
            return Some(i);
        }
        if is_original_message_separator(lines[i]) {
            return Some(i);
        }
        if is_outlook_header_block(lines, i) {
            // Cut at the separator line above the block, if there is one.
            return Some(match previous_content_line(lines, i) {
                Some(j)
                    if is_underscore_rule(lines[j]) || is_original_message_separator(lines[j]) =>
                {
                    j
                }
                _ => i,
            });
        }
    }
    None
}

/// If an attribution starts at `lines[i]`, how many lines it spans (1, or 2 when wrapped).
/// `strict` also requires a digit (every client puts a date in it), which keeps a sentence
/// such as "On Monday my colleague wrote:" from being taken for one.
fn attribution_at(lines: &[&str], i: usize, strict: bool) -> Option<usize> {
    let first = lines.get(i)?;
    if is_attribution(first, strict) {
        return Some(1);
    }
    let second = lines.get(i + 1)?;
    if second.trim().is_empty() || is_quoted(second) {
        return None;
    }
    let joined = format!("{} {}", first.trim(), second.trim());
    is_attribution(&joined, strict).then_some(2)
}

/// `(first word, how the line ends)` for each language. The ending is matched after
/// [`normalize_spaces`]. For German and Dutch the sender's name follows the verb
/// (`Am … schrieb Name <addr>:`), so the verb is searched for and the line need only end in `:`.
const ATTRIBUTIONS: &[(&str, Ending)] = &[
    ("On", Ending::Suffix("wrote:")),
    ("Am", Ending::VerbThenColon("schrieb")),
    ("Le", Ending::Suffix("a écrit :")),
    ("Le", Ending::Suffix("a écrit:")),
    ("El", Ending::Suffix("escribió:")),
    ("El", Ending::Suffix("escribió :")),
    ("Em", Ending::Suffix("escreveu:")),
    ("Il", Ending::Suffix("ha scritto:")),
    ("Op", Ending::VerbThenColon("schreef")),
    // Apple Mail's Dutch form.
    ("Op", Ending::Suffix("het volgende geschreven:")),
];

enum Ending {
    Suffix(&'static str),
    VerbThenColon(&'static str),
}

/// An attribution line is at most this long (two wrapped lines with a long name and address).
const MAX_ATTRIBUTION_CHARS: usize = 400;

fn is_attribution(line: &str, strict: bool) -> bool {
    let line = normalize_spaces(line.trim());
    if line.chars().count() > MAX_ATTRIBUTION_CHARS
        || (strict && !line.contains(|c: char| c.is_ascii_digit()))
    {
        return false;
    }
    ATTRIBUTIONS.iter().any(|(start, ending)| {
        let Some(rest) = line.strip_prefix(start).and_then(|r| r.strip_prefix(' ')) else {
            return false;
        };
        match ending {
            Ending::Suffix(suffix) => rest.ends_with(suffix),
            Ending::VerbThenColon(verb) => {
                rest.ends_with(':')
                    && (rest.ends_with(&format!("{verb}:"))
                        || rest.contains(&format!(" {verb} "))
                        || rest.starts_with(&format!("{verb} ")))
            }
        }
    })
}

/// After an attribution: does new text follow the quoted lines (an inline reply)? Only then
/// is the history not cut at the attribution. Unquoted history (no `>` at all) and a
/// signature or "Sent from" line below the quote do not count as new text.
fn is_inline_reply(after: &[&str]) -> bool {
    let mut content = after.iter().filter(|line| !line.trim().is_empty());
    let Some(first) = content.next() else {
        return false;
    };
    if !is_quoted(first) {
        return false; // unquoted history, as plain-text renderings of HTML replies have
    }
    for line in content {
        if *line == "-- " {
            return false; // everything from here on is a signature
        }
        if !is_quoted(line) && !is_mobile_footer(line) {
            return true;
        }
    }
    false
}

/// Localised forms of Outlook's and Outlook Express's separator, compared after removing the
/// dashes and spaces around them, case-insensitively.
const ORIGINAL_MESSAGE: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "original-nachricht",
    "message d'origine",
    "mensaje original",
    "mensagem original",
    "messaggio originale",
    "oorspronkelijk bericht",
    "originalmeddelande",
];

fn is_original_message_separator(line: &str) -> bool {
    let line = line.trim();
    if !line.starts_with("--") {
        return false;
    }
    let inner = line
        .trim_matches(|c: char| c == '-' || c.is_whitespace())
        .to_lowercase();
    ORIGINAL_MESSAGE.contains(&inner.as_str())
}

fn is_underscore_rule(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 10 && line.bytes().all(|b| b == b'_')
}

fn previous_content_line(lines: &[&str], i: usize) -> Option<usize> {
    (0..i).rev().find(|&j| !lines[j].trim().is_empty())
}

/// Header labels of Outlook's reply block, lower-cased: English, German, French, Spanish,
/// Portuguese, Italian, Dutch, Swedish, Danish/Norwegian.
const FROM_LABELS: &[&str] = &["from", "von", "de", "da", "van", "från", "fra"];
const SENT_LABELS: &[&str] = &[
    "sent",
    "date",
    "gesendet",
    "datum",
    "envoyé",
    "enviado",
    "enviada",
    "fecha",
    "data",
    "inviato",
    "verzonden",
    "skickat",
    "sendt",
];
const TO_LABELS: &[&str] = &[
    "to",
    "subject",
    "cc",
    "an",
    "betreff",
    "à",
    "a",
    "objet",
    "para",
    "asunto",
    "assunto",
    "oggetto",
    "aan",
    "onderwerp",
    "till",
    "ämne",
    "til",
    "emne",
];
/// How many lines after `From:` the other labels may appear.
const HEADER_BLOCK_SPAN: usize = 5;

/// `From: …` followed within a few lines by a `Sent:`/`Date:` line and a `To:`/`Subject:`
/// line; not when it is the header block of a message the sender forwards on purpose.
fn is_outlook_header_block(lines: &[&str], i: usize) -> bool {
    if !label(lines[i]).is_some_and(|l| FROM_LABELS.contains(&l.as_str())) {
        return false;
    }
    let following = &lines[i + 1..lines.len().min(i + 1 + HEADER_BLOCK_SPAN)];
    let labels: Vec<String> = following.iter().filter_map(|line| label(line)).collect();
    let has_sent = labels.iter().any(|l| SENT_LABELS.contains(&l.as_str()));
    let has_to = labels.iter().any(|l| TO_LABELS.contains(&l.as_str()));
    let forwarded = previous_content_line(lines, i).is_some_and(|j| {
        let line = lines[j].to_lowercase();
        line.contains("forwarded message") || line.contains("weitergeleitete nachricht")
    });
    has_sent && has_to && !forwarded
}

/// `Sent: Tuesday…` → `sent`; `*Von:* X` → `von`; `De :` → `de`. `None` if the line does not
/// start with a short label and a colon.
fn label(line: &str) -> Option<String> {
    let line = line.trim_start().trim_start_matches('*');
    let (name, _) = line.split_once(':')?;
    let name = name.trim_end_matches(['*', ' ', '\u{a0}']);
    (!name.is_empty() && name.chars().count() <= 12 && name.chars().all(char::is_alphabetic))
        .then(|| name.to_lowercase())
}

// ------------------------------------------------------------------------------------------
// 2–4. Trailing quote block, signature, mobile footer
// ------------------------------------------------------------------------------------------

/// The first line of the `>`-quoted block at the end of `lines` (blank lines inside it
/// included), or of the attribution line right above it.
fn trailing_quote_start(lines: &[&str]) -> Option<usize> {
    let mut start = None;
    for i in (0..lines.len()).rev() {
        if is_quoted(lines[i]) {
            start = Some(i);
        } else if !lines[i].trim().is_empty() {
            break;
        }
    }
    let start = start?;
    // An attribution above the block needs no date here: the quote below confirms it.
    let above = previous_content_line(lines, start);
    if let Some(j) = above {
        if attribution_at(lines, j, false) == Some(1) {
            return Some(j);
        }
        if j > 0 && attribution_at(lines, j - 1, false) == Some(2) {
            return Some(j - 1);
        }
    }
    Some(start)
}

/// The `-- ` line that starts the signature, if any (the first one).
fn signature_start(lines: &[&str]) -> Option<usize> {
    lines.iter().position(|line| *line == "-- ")
}

/// "Sent from my iPhone" and the like, in the languages above. Compared lower-cased.
const MOBILE_FOOTERS: &[&str] = &[
    "sent from my ",
    "sent from outlook",
    "get outlook for ",
    "sent from mail for windows",
    "sent from yahoo mail",
    "sent from the all new aol app",
    "von meinem ",
    "gesendet von meinem ",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "enviado desde mi ",
    "enviado do meu ",
    "enviado de meu ",
    "inviato da ",
    "verstuurd vanaf mijn ",
    "verzonden vanaf mijn ",
    "skickat från min ",
    "sendt fra min ",
];
const MAX_FOOTER_CHARS: usize = 80;

fn is_mobile_footer(line: &str) -> bool {
    let line = normalize_spaces(line.trim()).to_lowercase();
    line.chars().count() <= MAX_FOOTER_CHARS
        && MOBILE_FOOTERS.iter().any(|footer| line.starts_with(footer))
        // "Von meinem iPhone gesendet" needs its verb, or "von meinem Konto …" would match.
        && (!line.starts_with("von meinem ") || line.ends_with("gesendet"))
}

/// The index of a mobile footer line if it is the last non-blank line.
fn mobile_footer_start(lines: &[&str]) -> Option<usize> {
    let last = (0..lines.len())
        .rev()
        .find(|&i| !lines[i].trim().is_empty())?;
    is_mobile_footer(lines[last]).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::parsed;

    fn text_of(raw: &[u8]) -> String {
        parsed(raw).text
    }

    /// A fixture's HTML part, rendered as text the way HTML-only mail is.
    fn html_text_of(raw: &[u8]) -> String {
        crate::html::html_to_text(&parsed(raw).html.unwrap_or_default())
    }

    #[test]
    fn gmail_reply_with_wrapped_attribution() {
        let v = visible_text(&text_of(include_bytes!(
            "../../../tests/fixtures/email/gmail_reply.eml"
        )));
        assert_eq!(
            v.shown,
            "Thank you! The replacement can go to the same address."
        );
        assert!(v.had_quote);
        assert!(!v.had_signature);
    }

    #[test]
    fn gmail_html_part_rendered_as_text_is_also_cut() {
        let v = visible_text(&html_text_of(include_bytes!("../../../tests/fixtures/email/gmail_reply.eml")));
        assert_eq!(
            v.shown,
            "Thank you! The replacement can go to the same address."
        );
        assert!(v.had_quote);
    }

    #[test]
    fn outlook_reply_header_block_after_underscores() {
        let v = visible_text(&text_of(include_bytes!(
            "../../../tests/fixtures/email/outlook_reply.eml"
        )));
        assert_eq!(
            v.shown,
            "Hi,\n\nThe invoice number is 2026-118, paid on 28 February.\n\nBest regards,\nJan de Vries\nContoso B.V."
        );
        assert!(v.had_quote);
        assert!(!v.had_signature);
    }

    #[test]
    fn outlook_html_part_rendered_as_text_is_also_cut() {
        let v = visible_text(&html_text_of(include_bytes!("../../../tests/fixtures/email/outlook_reply.eml")));
        assert_eq!(
            v.shown,
            "Hi,\nThe invoice number is 2026-118, paid on 28 February.\nBest regards,\nJan de Vries\nContoso B.V."
        );
        assert!(v.had_quote);
    }

    #[test]
    fn iphone_reply_quoted_attribution_and_sent_from() {
        let v = visible_text(&text_of(include_bytes!(
            "../../../tests/fixtures/email/apple_reply.eml"
        )));
        assert_eq!(v.shown, "Tuesday afternoon works for me, I'm home after 2.");
        assert!(v.had_quote);
        assert!(v.had_signature);
    }

    #[test]
    fn apple_mail_macos_unquoted_attribution() {
        let v = visible_text(
            "Yes, Tuesday.\n\n> On 3 Mar 2026, at 18:30, Switchboard Support <support@example.com> wrote:\n>\n> Which day?\n",
        );
        assert_eq!(v.shown, "Yes, Tuesday.");
        let v = visible_text(
            "Yes, Tuesday.\n\nOn 3 Mar 2026, at 18:30, Switchboard Support <support@example.com> wrote:\n\n> Which day?\n",
        );
        assert_eq!(v.shown, "Yes, Tuesday.");
        assert!(v.had_quote);
    }

    #[test]
    fn portuguese_fixture() {
        let v = visible_text(&text_of(include_bytes!(
            "../../../tests/fixtures/email/latin1_portuguese.eml"
        )));
        assert_eq!(
            v.shown,
            "Olá,\n\nA minha encomenda nº 1042 ainda não chegou. Já passaram três semanas.\nPoderiam verificar, por favor?\n\nObrigado,\nJoão Conceição"
        );
        assert!(v.had_quote);
    }

    #[test]
    fn french_fixture_with_no_break_space_before_colon() {
        let v = visible_text(&text_of(include_bytes!(
            "../../../tests/fixtures/email/windows1252_french.eml"
        )));
        assert!(
            v.shown.ends_with("Cordialement,\nÉlodie François"),
            "{:?}",
            v.shown
        );
        assert!(!v.shown.contains("a écrit"));
        assert!(v.had_quote);
    }

    #[test]
    fn signature_delimiter_in_first_message() {
        let v = visible_text(&text_of(include_bytes!(
            "../../../tests/fixtures/email/first_message.eml"
        )));
        assert!(
            v.shown
                .ends_with("Could you send a replacement?\n\nThanks,\nZoë"),
            "{:?}",
            v.shown
        );
        assert!(!v.shown.contains("Grünstraße"));
        assert!(v.had_signature);
        assert!(!v.had_quote);
    }

    #[test]
    fn fixtures_without_history_are_untouched() {
        for raw in [
            &include_bytes!("../../../tests/fixtures/email/html_only.eml")[..],
            include_bytes!("../../../tests/fixtures/email/iso2022jp.eml"),
            include_bytes!("../../../tests/fixtures/email/gb18030.eml"),
            include_bytes!("../../../tests/fixtures/email/auto_reply.eml"),
            include_bytes!("../../../tests/fixtures/email/attachments.eml"),
        ] {
            let text = text_of(raw);
            let v = visible_text(&text);
            assert_eq!(v.shown, text.trim());
            assert!(!v.had_quote && !v.had_signature, "{text:?}");
        }
    }

    #[test]
    fn list_footer_with_bare_double_dash_is_not_a_signature() {
        let text = text_of(include_bytes!(
            "../../../tests/fixtures/email/list_mail.eml"
        ));
        let v = visible_text(&text);
        assert!(v.shown.ends_with(
            "--\nswitchboard-users mailing list\nhttps://lists.switchboard.test/switchboard-users"
        ));
        assert!(!v.had_signature);
    }

    #[test]
    fn attributions_in_each_language() {
        let cases = [
            "On Tue, Mar 3, 2026 at 10:15 AM Support <support@example.com> wrote:",
            "On 03/03/2026 10:15, Support wrote:",
            "Am Di., 3. März 2026 um 10:15 Uhr schrieb Support <support@example.com>:",
            "Am 03.03.26 um 10:15 schrieb Support:",
            "Le mar. 3 mars 2026 à 10:15, Support <support@example.com> a écrit :",
            "Le 03/03/2026 à 10:15, Support a écrit\u{a0}:",
            "El mar, 3 mar 2026 a las 10:15, Support (<support@example.com>) escribió:",
            "Em ter., 3 de mar. de 2026 às 10:15, Support <support@example.com> escreveu:",
            "Il giorno mar 3 mar 2026 alle ore 10:15 Support <support@example.com> ha scritto:",
            "Il 03/03/2026 10:15, Support ha scritto:",
            "Op di 3 mrt 2026 om 10:15 schreef Support <support@example.com>:",
            "Op 3 mrt. 2026, om 10:15 heeft Support het volgende geschreven:",
        ];
        for attribution in cases {
            let v = visible_text(&format!(
                "New text.\n\n{attribution}\n\nOld text, unquoted.\n"
            ));
            assert_eq!(v.shown, "New text.", "{attribution}");
            assert!(v.had_quote, "{attribution}");
        }
    }

    #[test]
    fn wrapped_attribution_in_german() {
        let v = visible_text(
            "Danke!\n\nAm Di., 3. März 2026 um 10:15 Uhr schrieb Switchboard Support <\nsupport@example.com>:\n\n> Hallo\n",
        );
        assert_eq!(v.shown, "Danke!");
    }

    #[test]
    fn sentence_that_looks_like_an_attribution_is_kept() {
        let text = "On Monday my colleague wrote:\nthe parcel is lost.\nCan you check?";
        let v = visible_text(text);
        assert_eq!(v.shown, text);
        assert!(!v.had_quote);
    }

    #[test]
    fn original_message_separators() {
        for sep in [
            "-----Original Message-----",
            "----- Original Message -----",
            "-----Ursprüngliche Nachricht-----",
            "-----Message d'origine-----",
        ] {
            let v = visible_text(&format!(
                "Please see below.\n\n{sep}\nFrom: Support\nSent: Tuesday\nSubject: x\n\nold\n"
            ));
            assert_eq!(v.shown, "Please see below.", "{sep}");
            assert!(v.had_quote);
        }
    }

    #[test]
    fn outlook_header_block_without_separator_and_localised() {
        let v = visible_text(
            "Thanks.\n\nFrom: Support <support@example.com>\nDate: Tuesday, 3 March 2026 at 10:15\nTo: Jan\nSubject: Re: x\n\nold",
        );
        assert_eq!(v.shown, "Thanks.");
        let v = visible_text(
            "Danke.\n\n________________________________\nVon: Support <support@example.com>\nGesendet: Dienstag, 3. März 2026 10:15\nAn: Jan\nBetreff: x\n\nalt",
        );
        assert_eq!(v.shown, "Danke.");
        let v = visible_text(
            "Merci.\n\nDe : Support <support@example.com>\nEnvoyé : mardi 3 mars 2026 10:15\nÀ : Jan\nObjet : x\n\nancien",
        );
        assert_eq!(v.shown, "Merci.");
        let v = visible_text(
            "Thanks.\n\n*From:* Support <support@example.com>\n*Sent:* Tuesday\n*To:* Jan\n\nold",
        );
        assert_eq!(v.shown, "Thanks.");
    }

    #[test]
    fn a_lone_from_line_is_not_a_header_block() {
        let text =
            "From: the warehouse in Hamburg\nthe parcel left yesterday.\nTo be honest it is late.";
        let v = visible_text(text);
        assert_eq!(v.shown, text);
        assert!(!v.had_quote);
    }

    #[test]
    fn forwarded_message_is_kept() {
        let text = "Please look at this.\n\n---------- Forwarded message ---------\nFrom: Courier <noreply@courier.test>\nDate: Tue, 3 Mar 2026 at 09:00\nSubject: Delivery failed\nTo: <ann@customer.test>\n\nWe could not deliver your parcel.";
        let v = visible_text(text);
        assert_eq!(v.shown, text);
    }

    #[test]
    fn trailing_quote_block_only() {
        let v = visible_text("Sounds good.\n\n> Can we ship on Friday?\n>\n> > older\n");
        assert_eq!(v.shown, "Sounds good.");
        assert!(v.had_quote);
    }

    #[test]
    fn inline_replies_keep_everything_but_the_trailing_quote() {
        let text = "On Tue, 3 Mar 2026 at 10:15, Support <support@example.com> wrote:\n> Which colour?\nBlue.\n> Which size?\nLarge.\n>\n> Thanks,\n> Support\n";
        let v = visible_text(text);
        assert_eq!(
            v.shown,
            "On Tue, 3 Mar 2026 at 10:15, Support <support@example.com> wrote:\n> Which colour?\nBlue.\n> Which size?\nLarge."
        );
        assert!(v.had_quote);
    }

    #[test]
    fn signature_below_the_quote_does_not_make_it_inline() {
        let v = visible_text("Yes.\n\nOn Tue, 3 Mar 2026, Support wrote:\n> Is it OK?\n\n-- \nAnn\n");
        assert_eq!(v.shown, "Yes.");
        assert!(v.had_quote);
    }

    #[test]
    fn signature_must_be_exactly_dash_dash_space() {
        let v = visible_text("Hi\n-- \nAnn Example\nACME\n");
        assert_eq!(v.shown, "Hi");
        assert!(v.had_signature);
        for not_a_delimiter in [
            "Hi\n--\nAnn",
            "Hi\n --\nAnn",
            "Hi\n---\nAnn",
            "Hi\n--  \nAnn",
        ] {
            let v = visible_text(not_a_delimiter);
            assert_eq!(v.shown, not_a_delimiter);
            assert!(!v.had_signature);
        }
    }

    #[test]
    fn mobile_footers_at_the_end() {
        for footer in [
            "Sent from my iPhone",
            "Sent from my Galaxy",
            "Get Outlook for Android",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPhone",
            "Enviado desde mi iPhone",
            "Enviado do meu iPhone",
            "Inviato da iPhone",
            "Verstuurd vanaf mijn iPhone",
        ] {
            let v = visible_text(&format!("Thanks!\n\n{footer}\n"));
            assert_eq!(v.shown, "Thanks!", "{footer}");
            assert!(v.had_signature);
        }
        // Not at the end: kept.
        let text = "Sent from my iPhone, so excuse typos.\nThe parcel is here.";
        assert_eq!(visible_text(text).shown, text);
        // "von meinem Konto" is an ordinary sentence.
        let text = "Ich habe bezahlt.\nVon meinem Konto abgebucht";
        assert_eq!(visible_text(text).shown, text);
    }

    #[test]
    fn signature_then_mobile_footer_then_quote() {
        let v = visible_text(
            "Done.\n-- \nAnn\nSent from my iPhone\n\n> On 3 Mar 2026, at 10:15, Support wrote:\n> ok?\n",
        );
        assert_eq!(v.shown, "Done.");
        assert!(v.had_quote && v.had_signature);
    }

    #[test]
    fn never_strips_everything() {
        let only_quote = "> On 3 Mar 2026, Support wrote:\n> Hello\n";
        let v = visible_text(only_quote);
        assert_eq!(v.shown, only_quote.trim());
        assert!(!v.had_quote);

        let only_history = "On Tue, 3 Mar 2026 at 10:15, Support wrote:\n\n> Hello";
        assert_eq!(visible_text(only_history).shown, only_history);

        let only_signature = "-- \nAnn Example";
        let v = visible_text(only_signature);
        assert_eq!(v.shown, only_signature);
        assert!(!v.had_signature);

        assert_eq!(visible_text("Sent from my iPhone").shown, "Sent from my iPhone");
        assert_eq!(visible_text("  \n \n").shown, "");
    }

    #[test]
    fn crlf_input_gives_lf_output() {
        let v = visible_text("Hello\r\nworld\r\n\r\n> old\r\n");
        assert_eq!(v.shown, "Hello\nworld");
    }
}
