//! Who holds a role where: the subjects of every RoleBinding, by namespace, so that a user who
//! is not a tenant owner but was given a role in a tenant namespace (by the Tenant's
//! `spec.roleBindings`, or by an owner) has those namespaces in their view.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::RoleBinding;

use crate::Index;

/// A RoleBinding subject, as the API server would match it against a request's user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Member {
    /// A user name; a ServiceAccount subject is kept as its user name,
    /// `system:serviceaccount:<namespace>:<name>`.
    User(String),
    Group(String),
}

/// A RoleBinding reduced to where it is and whom it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub namespace: String,
    pub name: String,
    pub members: Vec<Member>,
}

impl From<RoleBinding> for Binding {
    fn from(binding: RoleBinding) -> Binding {
        let namespace = binding.metadata.namespace.unwrap_or_default();
        let members = binding
            .subjects
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| match s.kind.as_str() {
                "User" => Some(Member::User(s.name)),
                "Group" => Some(Member::Group(s.name)),
                "ServiceAccount" => {
                    // A subject without a namespace means the binding's own.
                    let home = s
                        .namespace
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| namespace.clone());
                    Some(Member::User(format!("system:serviceaccount:{home}:{}", s.name)))
                }
                _ => None,
            })
            .collect();
        Binding {
            namespace,
            name: binding.metadata.name.unwrap_or_default(),
            members,
        }
    }
}

/// Every binding's members, and per member the namespaces where a binding names them.
#[derive(Debug, Default)]
pub struct Memberships {
    bindings: BTreeMap<(String, String), Vec<Member>>,
    /// member → namespace → how many bindings there name it.
    places: BTreeMap<Member, BTreeMap<String, usize>>,
}

impl Memberships {
    /// The namespaces where a binding names `username` or one of `groups`.
    pub fn namespaces_of(&self, username: &str, groups: &[String]) -> BTreeSet<String> {
        let user = Member::User(username.to_string());
        let members = std::iter::once(user).chain(groups.iter().cloned().map(Member::Group));
        members
            .filter_map(|m| self.places.get(&m))
            .flat_map(|places| places.keys().cloned())
            .collect()
    }

    fn forget(&mut self, key: &(String, String)) {
        let Some(members) = self.bindings.remove(key) else {
            return;
        };
        for member in members {
            if let Some(places) = self.places.get_mut(&member) {
                if let Some(count) = places.get_mut(&key.0) {
                    *count -= 1;
                    if *count == 0 {
                        places.remove(&key.0);
                    }
                }
                if places.is_empty() {
                    self.places.remove(&member);
                }
            }
        }
    }

    fn remember(&mut self, binding: Binding) {
        let key = (binding.namespace, binding.name);
        self.forget(&key);
        let mut members = binding.members;
        members.sort();
        members.dedup();
        for member in &members {
            *self
                .places
                .entry(member.clone())
                .or_default()
                .entry(key.0.clone())
                .or_default() += 1;
        }
        self.bindings.insert(key, members);
    }
}

impl Index<Binding> for Memberships {
    fn apply(&mut self, binding: Binding) {
        self.remember(binding);
    }
    fn delete(&mut self, binding: Binding) {
        self.forget(&(binding.namespace, binding.name));
    }
    fn reset(&mut self, bindings: Vec<Binding>) {
        *self = Memberships::default();
        for binding in bindings {
            self.remember(binding);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(namespace: &str, name: &str, subjects: serde_json::Value) -> Binding {
        let binding: RoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": namespace, "name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": subjects,
        }))
        .unwrap();
        binding.into()
    }

    #[test]
    fn members_are_found_where_their_bindings_are_and_only_while_they_are() {
        let mut m = Memberships::default();
        m.apply(binding(
            "a-1",
            "view",
            serde_json::json!([{"kind": "User", "name": "carol"}]),
        ));
        m.apply(binding(
            "a-2",
            "view",
            serde_json::json!([{"kind": "Group", "name": "auditors"}]),
        ));
        m.apply(binding(
            "a-2",
            "edit",
            serde_json::json!([{"kind": "User", "name": "carol"}]),
        ));
        m.apply(binding(
            "b-1",
            "deploy",
            serde_json::json!([{"kind": "ServiceAccount", "name": "ci"}]),
        ));
        let carol = |m: &Memberships| m.namespaces_of("carol", &[]).into_iter().collect::<Vec<_>>();
        assert_eq!(carol(&m), ["a-1", "a-2"]);
        assert_eq!(m.namespaces_of("dave", &["auditors".into()]).len(), 1);
        assert_eq!(
            m.namespaces_of("system:serviceaccount:b-1:ci", &[]).len(),
            1,
            "a subject without namespace is the binding's"
        );
        // A binding changed to name someone else no longer places carol there.
        m.apply(binding(
            "a-2",
            "edit",
            serde_json::json!([{"kind": "User", "name": "erin"}]),
        ));
        assert_eq!(carol(&m), ["a-1"]);
        m.delete(binding("a-1", "view", serde_json::json!([])));
        assert!(carol(&m).is_empty());
        m.reset(vec![binding(
            "c-1",
            "x",
            serde_json::json!([{"kind": "User", "name": "carol"}]),
        )]);
        assert_eq!(carol(&m), ["c-1"]);
        assert!(m.namespaces_of("erin", &[]).is_empty(), "a relist forgets what is gone");
    }

    #[test]
    fn a_user_named_in_two_bindings_of_one_namespace_stays_until_both_go() {
        let mut m = Memberships::default();
        m.apply(binding(
            "a",
            "one",
            serde_json::json!([{"kind": "User", "name": "carol"}]),
        ));
        m.apply(binding(
            "a",
            "two",
            serde_json::json!([{"kind": "User", "name": "carol"}]),
        ));
        m.delete(binding("a", "one", serde_json::json!([])));
        assert_eq!(m.namespaces_of("carol", &[]).len(), 1);
        m.delete(binding("a", "two", serde_json::json!([])));
        assert!(m.namespaces_of("carol", &[]).is_empty());
    }
}
