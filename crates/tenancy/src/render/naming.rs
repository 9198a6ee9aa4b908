//! Stable names for generated objects.

/// 8 hex digits of FNV-1a over `input`: short, stable across releases and platforms (unlike
/// `std`'s hasher), enough to keep generated names distinct.
pub fn short_hash(input: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in input.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

/// Longest generated name: a DNS label, valid for every kind of object.
const MAX_NAME: usize = 63;

/// A DNS-1123 label built from `parts`: lowercased, every other character turned into `-`. When
/// the name had to change, or is too long, a hash of the original keeps it unique.
pub fn object_name(parts: &[&str]) -> String {
    let original = parts.join("-");
    let mut cleaned: String = original
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while cleaned.contains("--") {
        cleaned = cleaned.replace("--", "-");
    }
    let cleaned = cleaned.trim_matches('-').to_string();
    if !cleaned.is_empty() && cleaned == original && cleaned.len() <= MAX_NAME {
        return cleaned;
    }
    let hash = short_hash(&original);
    let head: String = cleaned.chars().take(MAX_NAME - hash.len() - 1).collect();
    let head = head.trim_end_matches('-');
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names_are_kept() {
        assert_eq!(
            object_name(&["palisade", "owner", "admin", "user", "alice"]),
            "palisade-owner-admin-user-alice"
        );
    }

    #[test]
    fn unusual_characters_are_replaced_and_hashed() {
        let name = object_name(&["palisade", "owner", "admin", "user", "Alice@Example.com"]);
        assert!(
            name.starts_with("palisade-owner-admin-user-alice-example-com-"),
            "{name}"
        );
        assert_eq!(name.len(), "palisade-owner-admin-user-alice-example-com-".len() + 8);
        // Two names that clean up to the same text still differ.
        assert_ne!(
            name,
            object_name(&["palisade", "owner", "admin", "user", "alice@example.com"])
        );
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long = "x".repeat(300);
        let name = object_name(&["palisade", &long]);
        assert_eq!(name.len(), 63);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(short_hash(""), "811c9dc5");
        assert_eq!(short_hash("a"), "e40c292c");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::object_name;

    proptest! {
        /// Whatever a user or group is called, the RoleBinding name derived from it is a valid
        /// DNS-1123 subdomain, so the API server never refuses an object Palisade renders.
        #[test]
        fn generated_names_are_valid_subdomains(parts in proptest::collection::vec(".{0,80}", 1..5)) {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let name = object_name(&refs);
            prop_assert!(crate::validate::dns_label_problem(&name).is_none(), "{name:?} from {parts:?}");
        }

        #[test]
        fn different_inputs_give_different_names(a in "[a-zA-Z@._-]{1,20}", b in "[a-zA-Z@._-]{1,20}") {
            prop_assume!(a != b);
            prop_assert_ne!(object_name(&["palisade", &a]), object_name(&["palisade", &b]));
        }
    }
}
