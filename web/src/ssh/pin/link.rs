//! A host-CA pin offered by a link's fragment (`#…&pin=SHA256:…`, as an admin's invite
//! and sign-in links carry it; no server sees a fragment), and what to do with it. A
//! link may set the first pin, never silently replace one: a link that replaces the pin
//! could come from someone who wants to intercept connections. No storage and no
//! address bar here; `pin` applies the decision.

/// A link offers another host CA than the pinned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub current: String,
    pub offered: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Nothing is pinned yet: take the link's pin.
    Adopt(String),
    /// The link names the pin already kept.
    Same,
    /// The link names another CA: nothing changes until the person decides.
    Conflict(Conflict),
}

/// The pin a fragment offers, if it carries a well-formed one.
pub fn offered(fragment: &str) -> Option<&str> {
    fields(fragment).find_map(|field| field.strip_prefix("pin=")).filter(|fingerprint| well_formed(fingerprint))
}

pub fn decide(current: Option<&str>, offered: &str) -> Offer {
    match current {
        None => Offer::Adopt(offered.to_string()),
        Some(current) if current == offered => Offer::Same,
        Some(current) => Offer::Conflict(Conflict { current: current.to_string(), offered: offered.to_string() }),
    }
}

/// The fragment (without its `#`) with the pin taken out; other fields, such as an
/// invite's `token=`, stay as they were.
pub fn without_pin(fragment: &str) -> String {
    fields(fragment).filter(|field| !field.starts_with("pin=")).collect::<Vec<_>>().join("&")
}

fn fields(fragment: &str) -> impl Iterator<Item = &str> {
    fragment.strip_prefix('#').unwrap_or(fragment).split('&').filter(|field| !field.is_empty())
}

/// `SHA256:` and unpadded base64, as OpenSSH writes a fingerprint.
fn well_formed(fingerprint: &str) -> bool {
    fingerprint.strip_prefix("SHA256:").is_some_and(|digest| {
        (1..=64).contains(&digest.len()) && digest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = "SHA256:pinnedCA+/0123456789abcdefghijklmnopqrstuvwx";
    const OTHER: &str = "SHA256:someoneElse+/0123456789abcdefghijklmnopqrstu";

    #[test]
    fn with_nothing_pinned_the_link_pin_is_adopted() {
        assert_eq!(decide(None, PINNED), Offer::Adopt(PINNED.to_string()));
    }

    #[test]
    fn the_pin_already_kept_changes_nothing() {
        assert_eq!(decide(Some(PINNED), PINNED), Offer::Same);
    }

    #[test]
    fn another_pin_is_a_conflict_never_a_replacement() {
        assert_eq!(
            decide(Some(PINNED), OTHER),
            Offer::Conflict(Conflict { current: PINNED.to_string(), offered: OTHER.to_string() })
        );
    }

    #[test]
    fn the_pin_is_found_among_the_other_fields() {
        assert_eq!(offered(&format!("#token=abc&pin={PINNED}")), Some(PINNED));
        assert_eq!(offered(&format!("pin={PINNED}")), Some(PINNED));
        assert_eq!(offered("#token=abc"), None);
        assert_eq!(offered(""), None);
    }

    #[test]
    fn a_malformed_pin_is_ignored() {
        assert_eq!(offered("#pin=MD5:ab:cd"), None);
        assert_eq!(offered("#pin=SHA256:"), None);
        assert_eq!(offered("#pin=SHA256:<script>"), None);
        assert_eq!(offered(&format!("#pin=SHA256:{}", "a".repeat(65))), None);
    }

    #[test]
    fn removing_the_pin_keeps_the_invite_token() {
        assert_eq!(without_pin(&format!("#token=abc&pin={PINNED}")), "token=abc");
        assert_eq!(without_pin(&format!("#pin={PINNED}&token=abc")), "token=abc");
        assert_eq!(without_pin(&format!("#pin={PINNED}")), "");
        assert_eq!(without_pin("#token=abc"), "token=abc");
    }
}
