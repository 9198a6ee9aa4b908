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

/// A DNS-1123 subdomain built from `parts`: lowercased, other characters turned into `-`. When the
/// name had to change, or is too long, a hash of the original keeps it unique.
pub fn object_name(parts: &[&str]) -> String {
    let original = parts.join("-");
    let mut cleaned: String = original
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let changed = cleaned != original;
    while cleaned.contains("--") {
        cleaned = cleaned.replace("--", "-");
    }
    let trimmed = cleaned.trim_matches(|c| c == '-' || c == '.').to_string();
    if !changed && trimmed == original && trimmed.len() <= 253 {
        return trimmed;
    }
    let hash = short_hash(&original);
    let mut head: String = trimmed.chars().take(253 - 9).collect();
    head = head.trim_end_matches(['-', '.']).to_string();
    format!("{head}-{hash}")
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
            name.starts_with("palisade-owner-admin-user-alice-example.com-"),
            "{name}"
        );
        assert_eq!(name.len(), "palisade-owner-admin-user-alice-example.com-".len() + 8);
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
        assert_eq!(name.len(), 253);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(short_hash(""), "811c9dc5");
        assert_eq!(short_hash("a"), "e40c292c");
    }
}
