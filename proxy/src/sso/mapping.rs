//! From what an identity provider says about a person to what Gatehouse gives them: the
//! account name and the roles. Pure functions over the verified claims.

use serde_json::{Map, Value};

use crate::access::rbac::Roles;
pub use crate::config::{ClaimRule, PasskeyAfter};

/// Whether `value` (a claim) holds `wanted`.
fn holds(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(text) => text == wanted,
        Value::Array(items) => items.iter().any(|item| item.as_str() == Some(wanted)),
        Value::Bool(flag) => flag.to_string() == wanted,
        Value::Number(number) => number.to_string() == wanted,
        _ => false,
    }
}

/// The roles `claims` earn under `rules`, sorted, each once.
pub fn roles_for(rules: &[ClaimRule], claims: &Map<String, Value>) -> Vec<String> {
    let mut roles: Vec<String> = rules
        .iter()
        .filter(|rule| claims.get(&rule.claim).is_some_and(|value| holds(value, &rule.value)))
        .flat_map(|rule| rule.roles.iter().cloned())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// The Gatehouse account name from `claim` (by default `preferred_username`): lowercased;
/// an e-mail address gives its local part. `None` when the claim is missing or does not
/// make a valid name.
pub fn account_name(claims: &Map<String, Value>, claim: &str) -> Option<String> {
    let text = claims.get(claim)?.as_str()?.trim();
    // An address the provider has not verified could be anyone's.
    if claim == "email" && claims.get("email_verified") != Some(&Value::Bool(true)) {
        return None;
    }
    let text = if claim == "email" { text.split('@').next().unwrap_or(text) } else { text };
    let name = text.to_ascii_lowercase();
    crate::accounts::check_user_name(&name).ok().map(|()| name)
}

/// Whether a passkey must follow the provider's sign-in.
pub fn passkey_required(policy: PasskeyAfter, roles: &Roles, granted: &[String]) -> bool {
    match policy {
        PasskeyAfter::Always => true,
        PasskeyAfter::Never => false,
        PasskeyAfter::MfaRoles => {
            granted.iter().filter_map(|name| roles.get(name)).any(|role| role.require_session_mfa)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn rule(claim: &str, value: &str, roles: &[&str]) -> ClaimRule {
        ClaimRule { claim: claim.into(), value: value.into(), roles: roles.iter().map(|r| r.to_string()).collect() }
    }

    #[test]
    fn a_group_in_a_list_gives_its_roles_once() {
        let rules = [rule("groups", "ops", &["ops", "dev"]), rule("groups", "dev", &["dev"])];
        let got = roles_for(&rules, &claims(json!({"groups": ["dev", "ops", "sales"]})));
        assert_eq!(got, ["dev", "ops"]);
        assert_eq!(roles_for(&rules, &claims(json!({"groups": ["sales"]}))), Vec::<String>::new());
    }

    #[test]
    fn a_single_value_claim_matches_only_exactly() {
        let rules = [rule("department", "platform", &["ops"]), rule("email_verified", "true", &["dev"])];
        let got = roles_for(&rules, &claims(json!({"department": "platform", "email_verified": true})));
        assert_eq!(got, ["dev", "ops"]);
        assert!(roles_for(&rules, &claims(json!({"department": "platform-team"}))).is_empty());
        assert!(roles_for(&rules, &claims(json!({"department": {"name": "platform"}}))).is_empty());
    }

    #[test]
    fn the_account_name_is_checked_and_lowercased() {
        let given = claims(json!({
            "preferred_username": "Alice", "email": "Bob.Smith@corp.example", "email_verified": true, "odd": "a b"
        }));
        assert_eq!(account_name(&given, "preferred_username").as_deref(), Some("alice"));
        assert_eq!(account_name(&given, "email").as_deref(), Some("bob.smith"));
        assert_eq!(account_name(&given, "odd"), None, "a space makes no name");
        assert_eq!(account_name(&given, "missing"), None);
        let unverified = claims(json!({"email": "bob@corp.example", "email_verified": false}));
        assert_eq!(account_name(&unverified, "email"), None, "an unverified address names nobody");
    }

    #[test]
    fn a_passkey_follows_when_a_role_wants_one_per_session() {
        let roles: Roles = toml::from_str(
            "[ops]\nnode_labels = { env = \"prod\" }\nlogins = [\"root\"]\nrequire_session_mfa = true\n\
             [dev]\nnode_labels = { env = \"dev\" }\nlogins = [\"dev\"]\n",
        )
        .unwrap();
        let dev = ["dev".to_string()];
        let ops = ["dev".to_string(), "ops".to_string()];
        assert!(!passkey_required(PasskeyAfter::MfaRoles, &roles, &dev));
        assert!(passkey_required(PasskeyAfter::MfaRoles, &roles, &ops));
        assert!(passkey_required(PasskeyAfter::Always, &roles, &dev));
        assert!(!passkey_required(PasskeyAfter::Never, &roles, &ops));
    }
}
