//! Owners, permissions, rules and RoleBindings.

use palisade_api::{AdditionalRoleBinding, Owner, SubjectKind, SubjectRef, TenantSpec};
use serde_json::{Map, Value};

use crate::conversion::GapKind;
use crate::cx::Cx;

/// ClusterRoles that Capsule installs for its own namespace handling; they do not exist without Capsule.
const CAPSULE_CLUSTER_ROLES: [&str; 2] = ["capsule-namespace-deleter", "capsule-namespace-provisioner"];

pub(crate) fn convert_owners(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let owners = cx.array(spec, "owners", "spec");
    if owners.is_empty() {
        cx.gap(
            "spec.owners",
            GapKind::Note,
            "no owners listed (Capsule may have taken them from TenantOwner objects); a Palisade Tenant needs at \
             least one in spec.owners",
        );
    }
    for (i, owner) in owners.iter().enumerate() {
        let path = format!("spec.owners[{i}]");
        let known = ["kind", "name", "clusterRoles", "labels", "annotations", "proxySettings"];
        let Some(map) = cx.object(owner, &path, &known) else {
            continue;
        };
        let (Some(kind), Some(name)) = (cx.string(map, "kind", &path), cx.string(map, "name", &path)) else {
            cx.error(&path, "an owner needs a kind and a name");
            continue;
        };
        let Some(subject) = owner_subject(cx, &kind, &name, &path) else {
            continue;
        };
        let mut roles = match map.get("clusterRoles") {
            None | Some(Value::Null) => {
                cx.gap(
                    format!("{path}.clusterRoles"),
                    GapKind::Note,
                    "not set: Capsule binds `admin` and `capsule-namespace-deleter`. Palisade binds `admin`; \
                     `capsule-namespace-deleter` is a ClusterRole installed by Capsule and does not exist \
                     without it. To let this owner delete the tenant's namespaces, bind a ClusterRole that \
                     grants `delete` on namespaces",
                );
                vec!["admin".to_string()]
            }
            Some(_) => cx.strings(map, "clusterRoles", &path),
        };
        let (removed, kept): (Vec<String>, Vec<String>) = roles
            .into_iter()
            .partition(|role| CAPSULE_CLUSTER_ROLES.contains(&role.as_str()));
        roles = kept;
        if !removed.is_empty() {
            cx.gap(
                format!("{path}.clusterRoles"),
                GapKind::Dropped,
                format!(
                    "removed {}: installed by Capsule for its own use, it does not exist without Capsule. Bind a \
                     ClusterRole that grants `delete` on namespaces if this owner must delete the tenant's \
                     namespaces",
                    removed.join(", ")
                ),
            );
        }
        for field in ["labels", "annotations"] {
            if map.get(field).is_some_and(|v| !v.is_null()) {
                cx.gap(
                    format!("{path}.{field}"),
                    GapKind::Dropped,
                    "Palisade's owner RoleBindings carry only its own labels (app.kubernetes.io/managed-by, \
                     palisade.dev/tenant); extra metadata on them is not supported",
                );
            }
        }
        if map.get("proxySettings").is_some_and(|v| !v.is_null()) {
            cx.gap(
                format!("{path}.proxySettings"),
                GapKind::Dropped,
                "only capsule-proxy reads it; Palisade has no API proxy yet, so owners see cluster-scoped \
                 objects (nodes, classes, PersistentVolumes) as their RBAC allows",
            );
        }
        if let Some(existing) = out
            .owners
            .iter_mut()
            .find(|o| o.kind == subject.kind && o.name == subject.name && o.namespace == subject.namespace)
        {
            for role in roles {
                if !existing.cluster_roles.contains(&role) {
                    existing.cluster_roles.push(role);
                }
            }
            cx.gap(
                &path,
                GapKind::Note,
                "the same subject is listed earlier; merged its ClusterRoles into that owner",
            );
            continue;
        }
        let mut deduped = Vec::new();
        for role in roles {
            if !deduped.contains(&role) {
                deduped.push(role);
            }
        }
        out.owners.push(Owner {
            kind: subject.kind,
            name: subject.name,
            namespace: subject.namespace,
            cluster_roles: deduped,
        });
    }
}

/// A Capsule owner subject; ServiceAccounts are written `system:serviceaccount:<ns>:<name>`.
fn owner_subject(cx: &mut Cx, kind: &str, name: &str, path: &str) -> Option<SubjectRef> {
    let kind = match kind {
        "User" => SubjectKind::User,
        "Group" => SubjectKind::Group,
        "ServiceAccount" => SubjectKind::ServiceAccount,
        other => {
            cx.error(
                format!("{path}.kind"),
                format!("\"{other}\" is not User, Group or ServiceAccount"),
            );
            return None;
        }
    };
    if kind != SubjectKind::ServiceAccount {
        return Some(SubjectRef {
            kind,
            name: name.to_string(),
            namespace: None,
        });
    }
    match split_service_account(name) {
        Some((namespace, name)) => Some(SubjectRef {
            kind,
            name,
            namespace: Some(namespace),
        }),
        None => {
            cx.gap(
                format!("{path}.name"),
                GapKind::Dropped,
                format!(
                    "\"{name}\" is not `system:serviceaccount:<namespace>:<name>`, so the ServiceAccount's \
                     namespace is unknown; owner left out. Add it to spec.owners with kind ServiceAccount, name \
                     and namespace"
                ),
            );
            None
        }
    }
}

fn split_service_account(name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':'))
        .then(|| (namespace.to_string(), name.to_string()))
}

pub(crate) fn convert_permissions(cx: &mut Cx, spec: &Map<String, Value>) {
    let Some(permissions) = spec.get("permissions") else {
        return;
    };
    let Some(map) = cx.object(permissions, "spec.permissions", &["matchOwners", "allowOwnerPromotion"]) else {
        return;
    };
    if map.get("matchOwners").is_some_and(|v| !v.is_null()) {
        cx.gap(
            "spec.permissions.matchOwners",
            GapKind::Dropped,
            "Palisade has no TenantOwner objects; list those owners in spec.owners (`kubectl get tenantowners \
             -l <selector>` shows who they are)",
        );
    }
    if map.get("allowOwnerPromotion").is_some_and(|v| !v.is_null()) {
        cx.gap(
            "spec.permissions.allowOwnerPromotion",
            GapKind::Dropped,
            "Palisade does not promote labelled ServiceAccounts to owners; add each such ServiceAccount to \
             spec.owners (kind ServiceAccount, with its namespace)",
        );
    }
}

pub(crate) fn convert_rules(cx: &mut Cx, spec: &Map<String, Value>) {
    for (i, rule) in cx.array(spec, "rules", "spec").iter().enumerate() {
        let path = format!("spec.rules[{i}]");
        let mut parts = Vec::new();
        let mut hints = Vec::new();
        if let Some(map) = rule.as_object() {
            if map.contains_key("namespaceSelector") {
                parts.push("a namespaceSelector");
            }
            if map.contains_key("audience") {
                parts.push("an audience");
            }
            if map.contains_key("quota") {
                parts.push("quotas");
                hints.push("tenant-wide quotas → spec.quota.tenant");
            }
            if let Some(enforce) = map.get("enforce") {
                if enforce.get("workloads").is_some() {
                    parts.push("workload rules");
                    hints.push("registries → spec.workloads.registries, pull policies → spec.workloads.pullPolicies");
                }
                if enforce.get("services").is_some() {
                    parts.push("service rules");
                    hints.push("Service types → spec.services");
                }
                if enforce.get("metadata").is_some() {
                    parts.push("metadata rules");
                    hints.push("namespace labels → spec.namespaces.labels");
                }
                if enforce.get("ingress").is_some() {
                    parts.push("ingress rules");
                    hints.push("hostnames → spec.ingress.hostnames");
                }
            }
            if map.contains_key("permissions") {
                parts.push("permissions");
                hints.push("bindings → spec.roleBindings");
            }
        }
        let has = if parts.is_empty() {
            String::new()
        } else {
            format!(" (this one has {})", parts.join(", "))
        };
        let hint = if hints.is_empty() {
            String::new()
        } else {
            format!("; nearest Palisade fields: {}", hints.join("; "))
        };
        cx.gap(
            path,
            GapKind::Dropped,
            format!(
                "Capsule's rules engine{has} applies deny/allow/audit rules to selected namespaces and requesters; \
                 Palisade applies one policy to the whole tenant, so rules are not converted automatically{hint}"
            ),
        );
    }
}

pub(crate) fn convert_role_bindings(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    for (i, binding) in cx.array(spec, "additionalRoleBindings", "spec").iter().enumerate() {
        let path = format!("spec.additionalRoleBindings[{i}]");
        let Some(map) = cx.object(
            binding,
            &path,
            &["clusterRoleName", "subjects", "labels", "annotations"],
        ) else {
            continue;
        };
        let Some(role) = cx.string(map, "clusterRoleName", &path) else {
            cx.error(format!("{path}.clusterRoleName"), "a RoleBinding needs a ClusterRole");
            continue;
        };
        let mut subjects = Vec::new();
        for (j, subject) in cx.array(map, "subjects", &path).iter().enumerate() {
            let field = format!("{path}.subjects[{j}]");
            let Some(s) = cx.object(subject, &field, &["kind", "name", "namespace", "apiGroup"]) else {
                continue;
            };
            let kind = cx.string(s, "kind", &field).unwrap_or_default();
            let name = cx.string(s, "name", &field).unwrap_or_default();
            let namespace = cx.string(s, "namespace", &field).filter(|n| !n.is_empty());
            let _ = cx.string(s, "apiGroup", &field);
            let subject = match (kind.as_str(), namespace) {
                ("ServiceAccount", Some(namespace)) => SubjectRef {
                    kind: SubjectKind::ServiceAccount,
                    name,
                    namespace: Some(namespace),
                },
                ("ServiceAccount", None) => match split_service_account(&name) {
                    Some((namespace, name)) => SubjectRef {
                        kind: SubjectKind::ServiceAccount,
                        name,
                        namespace: Some(namespace),
                    },
                    None => {
                        cx.gap(
                            &field,
                            GapKind::Dropped,
                            "a ServiceAccount subject without a namespace; left out (add it with its namespace)",
                        );
                        continue;
                    }
                },
                ("User" | "Group", namespace) => {
                    if namespace.is_some() {
                        cx.gap(
                            format!("{field}.namespace"),
                            GapKind::Note,
                            "only ServiceAccounts have a namespace; dropped",
                        );
                    }
                    SubjectRef {
                        kind: if kind == "User" {
                            SubjectKind::User
                        } else {
                            SubjectKind::Group
                        },
                        name,
                        namespace: None,
                    }
                }
                (other, _) => {
                    cx.error(
                        format!("{field}.kind"),
                        format!("\"{other}\" is not User, Group or ServiceAccount"),
                    );
                    continue;
                }
            };
            subjects.push(subject);
        }
        for field in ["labels", "annotations"] {
            if map.get(field).is_some_and(|v| !v.is_null()) {
                cx.gap(
                    format!("{path}.{field}"),
                    GapKind::Dropped,
                    "Palisade's RoleBindings carry only its own labels; extra metadata on them is not supported",
                );
            }
        }
        out.role_bindings.push(AdditionalRoleBinding {
            name: None,
            cluster_role: role,
            subjects,
        });
    }
}
