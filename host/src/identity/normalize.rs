//! Normalising what each channel says about a person into keys that match across channels.

use crate::model::{Event, Party};

/// Normalise a phone number to E.164. Bare digit strings (as WhatsApp sends them) are read
/// as already carrying their country code. `None` when it is not a plausible number.
///
/// Two of WhatsApp's numbering quirks map to the number the same person has on SMS, so the
/// contacts link (the raw `wa_id` stays the identity's id, for sending):
/// - **Mexico:** WhatsApp keeps the mobile prefix `1` that Mexico dropped in 2019
///   (`5215512345678`); the E.164 number is `+525512345678`.
/// - **Brazil:** older accounts' `wa_id`s lack the ninth mobile digit Brazil added by 2016
///   (`551187654321` for `+5511987654321`): a mobile subscriber number (8 digits starting
///   6–9) gets its leading `9` back. Landlines (starting 2–5) are left as they are.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let mut digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 7 || digits.len() > 15 {
        return None;
    }
    if trimmed.starts_with('+') || !trimmed.starts_with('0') {
        if digits.len() == 13 && digits.starts_with("521") {
            digits.remove(2);
        } else if digits.len() == 12 && digits.starts_with("55") && matches!(digits.as_bytes()[4], b'6'..=b'9') {
            digits.insert(4, '9');
        }
    }
    let international = if trimmed.starts_with('+') || !trimmed.starts_with('0') { format!("+{digits}") } else { return None };
    let number = phonenumber::parse(None, &international).ok()?;
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Normalise an email address for matching, or `None` if it does not look like one.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !domain.starts_with('.')).then_some(email)
}

fn normalize_party(party: &mut Party) {
    party.phone = party.phone.as_deref().and_then(normalize_phone);
    party.email = party.email.as_deref().and_then(normalize_email);
    for text in [&mut party.display_name, &mut party.username] {
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            *text = None;
        }
    }
}

/// Normalise every party the plugin reported, before the events are stored.
pub fn normalize_events(events: &mut [Event]) {
    for event in events {
        match event {
            Event::Message(message) => normalize_party(&mut message.sender),
            Event::Profile(party) => normalize_party(party),
            Event::Consent(consent) => normalize_party(&mut consent.party),
            Event::Status(_) | Event::Watermark(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164() {
        assert_eq!(normalize_phone("16505551234").as_deref(), Some("+16505551234"));
        assert_eq!(normalize_phone("+1 (650) 555-1234").as_deref(), Some("+16505551234"));
        assert_eq!(normalize_phone("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(normalize_phone("5511987654321").as_deref(), Some("+5511987654321"));
        // WhatsApp's quirks become the number SMS knows.
        assert_eq!(normalize_phone("5215512345678").as_deref(), Some("+525512345678"));
        assert_eq!(normalize_phone("+525512345678").as_deref(), Some("+525512345678"));
        assert_eq!(normalize_phone("551187654321").as_deref(), Some("+5511987654321"));
        assert_eq!(normalize_phone("+55 11 98765-4321").as_deref(), Some("+5511987654321"));
        assert_eq!(normalize_phone("551132654321").as_deref(), Some("+551132654321"), "a São Paulo landline keeps its 8 digits");
        assert_eq!(normalize_phone("12"), None);
        assert_eq!(normalize_phone("not a phone"), None);
        // A national number without a country code cannot be placed.
        assert_eq!(normalize_phone("020 7946 0958"), None);
    }

    #[test]
    fn emails_are_lowercased() {
        assert_eq!(normalize_email("  Jose.Garcia@Example.COM ").as_deref(), Some("jose.garcia@example.com"));
        assert_eq!(normalize_email("nobody"), None);
        assert_eq!(normalize_email("a@localhost"), None);
    }
}
