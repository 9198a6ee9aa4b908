//! Allow-lists of cluster-scoped classes (StorageClass, IngressClass, GatewayClass, PriorityClass,
//! RuntimeClass), each with an optional default that admission mutates into objects that name none.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Which classes a tenant may use. An absent list leaves the class unrestricted; a present list
/// allows exactly the names in `allowed` (exact names, or a `prefix*` pattern).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new(
    "!has(self.default) || self.allowed.exists(p, p == self.default || (p.endsWith('*') && self.default.startsWith(p.substring(0, size(p) - 1))))"
).message("the default class must be allowed by `allowed`"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClassAllowList {
    /// Class names the tenant may use. `fast-*` allows every class whose name starts with `fast-`.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 253)))]
    pub allowed: Vec<String>,
    /// Class set on objects that name none. Must be allowed by `allowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub default: Option<String>,
}

impl ClassAllowList {
    /// Whether `name` is on the list (exact, or matching a trailing-`*` pattern).
    pub fn allows(&self, name: &str) -> bool {
        self.allowed.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_prefix_patterns() {
        let list = ClassAllowList {
            allowed: vec!["standard".into(), "fast-*".into()],
            default: None,
        };
        assert!(list.allows("standard"));
        assert!(list.allows("fast-ssd"));
        assert!(!list.allows("standard-2"));
        assert!(!list.allows("slow"));
    }
}
