//! Capsule `capsule.clastix.io/v1beta2` Tenant (as of Capsule v0.14) → Palisade Tenant.
//!
//! ```text
//!   owners[] ..................... spec.owners (SA `system:serviceaccount:ns:name` → kind ServiceAccount + namespace)
//!   namespaceOptions.quota ....... spec.namespaces.max
//!   namespaceOptions.additionalMetadata(+List) ... spec.namespaces.labels/annotations, PSA labels → spec.podSecurity
//!   forceTenantPrefix ............ spec.namespaces.forcePrefix
//!   storage/ingress/gateway/priority/runtime classes ... class allow-lists (simple regexes → names or `prefix*`)
//!   ingressOptions ............... spec.ingress (hostnames, wildcard, collision scope)
//!   containerRegistries .......... spec.workloads.registries (image prefixes)
//!   imagePullPolicies, nodeSelector ... spec.workloads
//!   serviceOptions ............... spec.services (Capsule's allow-by-default kept explicitly)
//!   resourceQuotas, limitRanges .. spec.quota (scope Tenant → quota.tenant, Namespace → quota.namespace)
//!   networkPolicies .............. spec.network (Palisade generates isolation; simple grants carried over)
//!   additionalRoleBindings ....... spec.roleBindings
//!   cordoned, preventDeletion .... same fields
//!   everything else .............. a Gap naming the field and what to do instead
//! ```
//!
//! Anything that is not a Capsule Tenant field is reported as a gap too, so a typo in the input is
//! never silently lost. Malformed values (a string where a list belongs) stop the conversion with
//! an [`ImportError`] naming the field, as the Capsule API server itself would have refused them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::LimitRangeItem;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use palisade_api::{
    AdditionalRoleBinding, ClassAllowList, CollisionScope, EgressCidr, IsolationMode, Owner, PodSecurityLevel,
    PortRule, PullPolicy, QuotaPolicy, SubjectKind, SubjectRef, Tenant, TenantSpec, labels,
};
use serde_json::{Map, Value};

use super::{Conversion, Gap, GapKind, ImportError};

/// The only Capsule API version this importer reads.
pub const API_VERSION: &str = "capsule.clastix.io/v1beta2";
const GROUP_PREFIX: &str = "capsule.clastix.io/";

/// ClusterRoles that Capsule installs for its own namespace handling; they do not exist without Capsule.
const CAPSULE_CLUSTER_ROLES: [&str; 2] = ["capsule-namespace-deleter", "capsule-namespace-provisioner"];

const NOT_A_FIELD: &str = "not a Capsule v1beta2 field as of v0.14; ignored";

/// Choices the caller makes about a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// List the namespaces the Capsule Tenant reports in its status (`status.spaces`, or the older
    /// `status.namespaces`) in `spec.namespaces.names`, so that Palisade adopts them.
    pub adopt_namespaces: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { adopt_namespaces: true }
    }
}

/// Converts one YAML/JSON document: a Capsule Tenant, or a list of them (`kind: List` as printed
/// by `kubectl get -o yaml`, or `kind: TenantList`). `source` names the document in the result.
pub fn convert_document(document: &Value, source: &str) -> Result<Vec<Conversion>, Vec<ImportError>> {
    convert_document_with(document, source, Options::default())
}

/// [`convert_document`] with explicit [`Options`].
pub fn convert_document_with(
    document: &Value,
    source: &str,
    options: Options,
) -> Result<Vec<Conversion>, Vec<ImportError>> {
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or_default();
    if (kind == "List" || kind == "TenantList")
        && let Some(items) = document.get("items")
    {
        let Some(items) = items.as_array() else {
            return Err(vec![error(
                "items",
                format!("expected a list of Tenants, found {}", describe(items)),
            )]);
        };
        if items.is_empty() {
            return Err(vec![error("items", "the list is empty: no Tenant to import")]);
        }
        let mut conversions = Vec::new();
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match convert_tenant_with(item, &format!("{source}: items[{i}]"), options) {
                Ok(conversion) => conversions.push(conversion),
                Err(problems) => errors.extend(problems.into_iter().map(|problem| ImportError {
                    field: join(&format!("items[{i}]"), &problem.field),
                    message: problem.message,
                })),
            }
        }
        return if errors.is_empty() {
            Ok(conversions)
        } else {
            Err(errors)
        };
    }
    convert_tenant_with(document, source, options).map(|conversion| vec![conversion])
}

/// Converts one Capsule Tenant.
pub fn convert_tenant(value: &Value, source: &str) -> Result<Conversion, Vec<ImportError>> {
    convert_tenant_with(value, source, Options::default())
}

/// [`convert_tenant`] with explicit [`Options`].
pub fn convert_tenant_with(value: &Value, source: &str, options: Options) -> Result<Conversion, Vec<ImportError>> {
    check_type(value).map_err(|problem| vec![problem])?;
    let mut cx = Cx::default();
    let root = cx.object(value, "", &["apiVersion", "kind", "metadata", "spec", "status"]);
    let metadata = root.and_then(|root| root.get("metadata"));
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        return Err(vec![error("metadata.name", "a Tenant needs a name")]);
    }
    let mut tenant = Tenant::new(&name, TenantSpec::default());
    if let Some(metadata) = metadata {
        convert_metadata(&mut cx, metadata, &mut tenant);
    }
    match root.and_then(|root| root.get("spec")) {
        Some(spec) => convert_spec(&mut cx, spec, &mut tenant),
        None => cx.error("spec", "a Capsule Tenant needs a spec with at least one owner"),
    }
    if let Some(status) = root.and_then(|root| root.get("status")) {
        adopt_namespaces(&mut cx, status, &mut tenant, options);
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    for problem in crate::validate(&tenant) {
        cx.gap(
            problem.path,
            GapKind::Invalid,
            format!(
                "the converted Tenant does not pass validation: {}; fix it before applying",
                problem.message
            ),
        );
    }
    Ok(Conversion {
        source: source.to_string(),
        tenant,
        gaps: cx.gaps,
    })
}

/// The namespaces a Capsule Tenant reports, listed in `spec.namespaces.names` (or only reported).
fn adopt_namespaces(cx: &mut Cx, status: &Value, tenant: &mut Tenant, options: Options) {
    let from_spaces: Vec<&str> = status
        .get("spaces")
        .and_then(Value::as_array)
        .map(|spaces| {
            spaces
                .iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let (field, names) = if from_spaces.is_empty() {
        let names = status
            .get("namespaces")
            .and_then(Value::as_array)
            .map(|n| n.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        ("status.namespaces", names)
    } else {
        ("status.spaces", from_spaces)
    };
    if names.is_empty() {
        return;
    }
    let listed = names.join(", ");
    if !options.adopt_namespaces {
        cx.gap(
            field,
            GapKind::Dropped,
            format!(
                "the tenant's existing namespaces ({listed}) were not listed (--skip-namespaces); they stay outside \
                 the Palisade Tenant until listed in spec.namespaces.names"
            ),
        );
        return;
    }
    let names_field = &mut tenant.spec.namespaces.names;
    for name in names {
        if !names_field.iter().any(|n| n == name) {
            names_field.push(name.to_string());
        }
    }
    cx.gap(
        field,
        GapKind::Note,
        format!(
            "the tenant's existing namespaces ({listed}) are listed in spec.namespaces.names so that Palisade adopts \
             them; Palisade also recreates a listed namespace that is deleted, which Capsule did not. Remove a \
             name to leave that namespace out"
        ),
    );
}

fn check_type(value: &Value) -> Result<(), ImportError> {
    if !value.is_object() {
        return Err(error(
            "",
            format!("expected a Capsule Tenant (a mapping), found {}", describe(value)),
        ));
    }
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind == "Tenant" && api_version == API_VERSION {
        return Ok(());
    }
    if kind == "Tenant"
        && let Some(version) = api_version.strip_prefix(GROUP_PREFIX)
    {
        return Err(error(
            "apiVersion",
            format!(
                "only {API_VERSION} Tenants can be imported; found {version}: convert with \
                 `kubectl get tenants.v1beta2.capsule.clastix.io -o yaml` first"
            ),
        ));
    }
    if api_version.starts_with("palisade.dev/") {
        return Err(error(
            "kind",
            format!("this is already a Palisade {kind}; nothing to import"),
        ));
    }
    let what = match (api_version.is_empty(), kind.is_empty()) {
        (_, true) => "a document without `kind`".to_string(),
        (true, false) => format!("a {kind} without `apiVersion`"),
        (false, false) => format!("a {api_version} {kind}"),
    };
    Err(error(
        "kind",
        format!("this is {what}, not a Capsule Tenant (apiVersion {API_VERSION}, kind Tenant)"),
    ))
}

fn convert_metadata(cx: &mut Cx, metadata: &Value, tenant: &mut Tenant) {
    let known = [
        "name",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        // Set by the API server; meaningless on a new object.
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generateName",
        "namespace",
    ];
    let Some(map) = cx.object(metadata, "metadata", &known) else {
        return;
    };
    let mut kept_labels = BTreeMap::new();
    for (key, value) in cx.string_map(map, "labels", "metadata") {
        let path = format!("metadata.labels[{key}]");
        if key == labels::NAMESPACE_NAME {
            // Capsule's webhook sets it on every Tenant; Palisade does not use it.
            continue;
        }
        if is_capsule_key(&key) {
            cx.gap(
                path,
                GapKind::Note,
                "kept; Capsule selected Tenants by labels like this one (TenantOwner, GlobalTenantResource), \
                 Palisade does not read it",
            );
        }
        kept_labels.insert(key, value);
    }
    let mut kept_annotations = BTreeMap::new();
    for (key, value) in cx.string_map(map, "annotations", "metadata") {
        let path = format!("metadata.annotations[{key}]");
        if key == "kubectl.kubernetes.io/last-applied-configuration" {
            // Describes the Capsule object; kubectl writes a new one on apply.
            continue;
        }
        if key == "capsule.clastix.io/protected" {
            tenant.spec.prevent_deletion = true;
            cx.gap(
                path,
                GapKind::Note,
                "the v1beta1 deletion guard; converted to spec.preventDeletion: true",
            );
        } else if let Some(resource) = key.strip_prefix("quota.resources.capsule.clastix.io/") {
            // `<plural>.<group>_<version>`; Kubernetes counts any resource as `count/<plural>.<group>`.
            let plural_group = resource.rsplit_once('_').map_or(resource, |(pg, _)| pg);
            let count = format!("count/{plural_group}");
            if value.trim().parse::<u64>().is_ok() && !plural_group.is_empty() {
                cx.gap(
                    path,
                    GapKind::Note,
                    format!(
                        "Capsule's custom-resource count quota; converted to spec.quota.tenant[{count}]: {value} (a \
                         limit over all the tenant's namespaces)"
                    ),
                );
                cx.counted_resources.insert(count, Quantity(value.trim().to_string()));
            } else {
                cx.gap(
                    path,
                    GapKind::Dropped,
                    format!("\"{value}\" is not a count; this custom-resource quota was not converted"),
                );
            }
        } else if key.starts_with("used.resources.capsule.clastix.io/") {
            cx.gap(
                path,
                GapKind::Dropped,
                "Capsule's usage counter for a custom-resource quota; not needed",
            );
        } else if is_capsule_key(&key) {
            cx.gap(
                path,
                GapKind::Dropped,
                "a Capsule annotation; Palisade does not read it",
            );
        } else {
            kept_annotations.insert(key, value);
        }
    }
    tenant.metadata.labels = Some(kept_labels).filter(|m| !m.is_empty());
    tenant.metadata.annotations = Some(kept_annotations).filter(|m| !m.is_empty());
    for field in ["finalizers", "ownerReferences"] {
        if map.get(field).is_some_and(|v| !v.is_null()) {
            cx.gap(
                format!("metadata.{field}"),
                GapKind::Dropped,
                "belongs to the existing Capsule object, not to a new Palisade Tenant",
            );
        }
    }
}

fn is_capsule_key(key: &str) -> bool {
    let prefix = key.split_once('/').map_or("", |(prefix, _)| prefix);
    prefix == "capsule.clastix.io"
        || prefix.ends_with(".capsule.clastix.io")
        || prefix == "projectcapsule.dev"
        || prefix.ends_with(".projectcapsule.dev")
}

const SPEC_FIELDS: [&str; 23] = [
    "owners",
    "permissions",
    "data",
    "rules",
    "namespaceOptions",
    "storageClasses",
    "ingressOptions",
    "gatewayOptions",
    "deviceClasses",
    "priorityClasses",
    "runtimeClasses",
    "nodeSelector",
    "additionalRoleBindings",
    "cordoned",
    "preventDeletion",
    "forceTenantPrefix",
    "resourceQuotas",
    "limitRanges",
    "networkPolicies",
    "serviceOptions",
    "podOptions",
    "containerRegistries",
    "imagePullPolicies",
];

fn convert_spec(cx: &mut Cx, spec: &Value, tenant: &mut Tenant) {
    let Some(map) = cx.object(spec, "spec", &SPEC_FIELDS) else {
        return;
    };
    let name = tenant.metadata.name.clone().unwrap_or_default();
    let out = &mut tenant.spec;
    convert_owners(cx, map, out);
    convert_permissions(cx, map);
    if map.get("data").is_some_and(|v| !v.is_null()) {
        cx.gap(
            "spec.data",
            GapKind::Dropped,
            "free-form input for Capsule's templates; Palisade has no templating, so nothing reads it",
        );
    }
    convert_rules(cx, map);
    for (key, value) in cx.string_map(map, "nodeSelector", "spec") {
        out.workloads.node_selector.insert(key, value);
    }
    convert_namespace_options(cx, map, out, &name);
    out.storage.classes = class_list(cx, map.get("storageClasses"), "spec.storageClasses", CLASS_STORAGE);
    convert_ingress(cx, map, out);
    if let Some(options) = map.get("gatewayOptions")
        && let Some(options) = cx.object(options, "spec.gatewayOptions", &["allowedClasses"])
    {
        out.gateway.classes = class_list(
            cx,
            options.get("allowedClasses"),
            "spec.gatewayOptions.allowedClasses",
            CLASS_GATEWAY,
        );
    }
    if map.get("deviceClasses").is_some_and(|v| !v.is_null()) {
        cx.gap(
            "spec.deviceClasses",
            GapKind::Dropped,
            "Palisade has no allow-list for Dynamic Resource Allocation DeviceClasses yet; ResourceClaims in \
             tenant namespaces are not restricted by class",
        );
    }
    out.workloads.priority_classes = class_list(cx, map.get("priorityClasses"), "spec.priorityClasses", CLASS_PRIORITY);
    out.workloads.runtime_classes = class_list(cx, map.get("runtimeClasses"), "spec.runtimeClasses", CLASS_RUNTIME);
    convert_role_bindings(cx, map, out);
    if let Some(cordoned) = cx.bool(map, "cordoned", "spec") {
        out.cordoned = cordoned;
    }
    if let Some(prevent) = cx.bool(map, "preventDeletion", "spec") {
        out.prevent_deletion = out.prevent_deletion || prevent;
    }
    match cx.bool(map, "forceTenantPrefix", "spec") {
        Some(force) => out.namespaces.force_prefix = force,
        None => cx.gap(
            "spec.forceTenantPrefix",
            GapKind::Note,
            "not set, so Capsule used the cluster-wide CapsuleConfiguration forceTenantPrefix. Palisade has \
             no cluster-wide switch: spec.namespaces.forcePrefix is false. Set it to true if your \
             CapsuleConfiguration forces the `<tenant>-` prefix",
        ),
    }
    convert_quotas(cx, map, out);
    convert_network(cx, map, out, &name);
    convert_services(cx, map, out);
    if let Some(options) = map.get("podOptions")
        && let Some(options) = cx.object(options, "spec.podOptions", &["additionalMetadata"])
        && options.get("additionalMetadata").is_some_and(|v| !v.is_null())
    {
        cx.gap(
            "spec.podOptions.additionalMetadata",
            GapKind::Dropped,
            "Palisade does not add labels or annotations to tenant Pods; set them in the workloads' pod templates",
        );
    }
    convert_registries(cx, map, out);
    convert_pull_policies(cx, map, out);
}

fn convert_owners(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
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

fn convert_permissions(cx: &mut Cx, spec: &Map<String, Value>) {
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

fn convert_rules(cx: &mut Cx, spec: &Map<String, Value>) {
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

fn convert_namespace_options(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec, tenant: &str) {
    let path = "spec.namespaceOptions";
    let known = [
        "quota",
        "additionalMetadata",
        "additionalMetadataList",
        "requiredMetadata",
        "forbiddenLabels",
        "forbiddenAnnotations",
        "managedMetadataOnly",
    ];
    let mut metadata_labels = BTreeMap::new();
    let mut metadata_annotations = BTreeMap::new();
    if let Some(options) = spec.get("namespaceOptions")
        && let Some(map) = cx.object(options, path, &known)
    {
        if let Some(quota) = map.get("quota").filter(|v| !v.is_null()) {
            match quota.as_i64() {
                Some(max) if max >= 1 => out.namespaces.max = Some(u32::try_from(max).unwrap_or(u32::MAX)),
                Some(max) => cx.gap(
                    format!("{path}.quota"),
                    GapKind::Dropped,
                    format!("{max} is below Capsule's minimum of 1; left without a namespace limit"),
                ),
                None => cx.error(
                    format!("{path}.quota"),
                    format!("expected an integer, found {}", describe(quota)),
                ),
            }
        }
        if let Some(extra) = map.get("additionalMetadata") {
            let field = format!("{path}.additionalMetadata");
            if let Some(meta) = cx.object(extra, &field, &["labels", "annotations"]) {
                for (key, value) in cx.string_map(meta, "labels", &field) {
                    let origin = format!("{field}.labels[{key}]");
                    metadata_labels.insert(key, (value, origin));
                }
                for (key, value) in cx.string_map(meta, "annotations", &field) {
                    let origin = format!("{field}.annotations[{key}]");
                    metadata_annotations.insert(key, (value, origin));
                }
            }
        }
        for (i, entry) in cx.array(map, "additionalMetadataList", path).iter().enumerate() {
            let field = format!("{path}.additionalMetadataList[{i}]");
            let Some(meta) = cx.object(entry, &field, &["labels", "annotations", "namespaceSelector"]) else {
                continue;
            };
            if let Some(selector) = meta.get("namespaceSelector").and_then(|s| selector_text(cx, s, &field))
                && !selector.is_empty()
            {
                cx.gap(
                    &field,
                    GapKind::Dropped,
                    format!(
                        "applies only to namespaces matching `{selector}`; Palisade puts the same labels and \
                         annotations on every tenant namespace, so this entry was left out"
                    ),
                );
                continue;
            }
            for (kind, target) in [
                ("labels", &mut metadata_labels),
                ("annotations", &mut metadata_annotations),
            ] {
                for (key, value) in cx.string_map(meta, kind, &field) {
                    match expand_template(&value, tenant) {
                        Some(value) => {
                            let origin = format!("{field}.{kind}[{key}]");
                            target.insert(key, (value, origin));
                        }
                        None => cx.gap(
                            format!("{field}.{kind}[{key}]"),
                            GapKind::Dropped,
                            format!(
                                "\"{value}\" uses a per-namespace template; Palisade puts the same value on every \
                                 namespace (only {{{{tenant.name}}}} can be expanded)"
                            ),
                        ),
                    }
                }
            }
        }
        if map.get("requiredMetadata").is_some_and(|v| !v.is_null()) {
            cx.gap(
                format!("{path}.requiredMetadata"),
                GapKind::Dropped,
                "Palisade does not require owners to set labels or annotations; it sets the ones it manages \
                 itself (spec.namespaces.labels/annotations), which tenant users cannot change",
            );
        }
        for field in ["forbiddenLabels", "forbiddenAnnotations"] {
            if map.get(field).is_some_and(|v| !v.is_null()) {
                cx.gap(
                    format!("{path}.{field}"),
                    GapKind::Dropped,
                    "Palisade has no deny-list of namespace metadata keys; the keys it manages (tenant binding, \
                     Pod Security, spec.namespaces.labels/annotations, node selector) cannot be changed by tenant \
                     users, and other keys are free",
                );
            }
        }
        if let Some(only) = cx.bool(map, "managedMetadataOnly", path) {
            cx.gap(
                format!("{path}.managedMetadataOnly"),
                GapKind::Note,
                if only {
                    "Palisade always reconciles only the namespace metadata it manages and leaves the rest alone, \
                     which is what this setting asked for"
                } else {
                    "Palisade reconciles only the namespace metadata it manages and leaves other labels and \
                     annotations alone; it never strips metadata it did not set"
                },
            );
        }
    }
    apply_namespace_metadata(cx, metadata_labels, metadata_annotations, out);
}

/// Expands `{{tenant.name}}`; `None` when another (per-namespace) template remains.
fn expand_template(value: &str, tenant: &str) -> Option<String> {
    let expanded = value
        .replace("{{tenant.name}}", tenant)
        .replace("{{ tenant.name }}", tenant);
    (!expanded.contains("{{")).then_some(expanded)
}

fn apply_namespace_metadata(
    cx: &mut Cx,
    metadata_labels: BTreeMap<String, (String, String)>,
    metadata_annotations: BTreeMap<String, (String, String)>,
    out: &mut TenantSpec,
) {
    let mut pod_security: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for (key, (value, field)) in metadata_labels {
        if let Some(mode) = key.strip_prefix("pod-security.kubernetes.io/") {
            let known = [
                "enforce",
                "enforce-version",
                "audit",
                "audit-version",
                "warn",
                "warn-version",
            ];
            match known.iter().find(|k| **k == mode) {
                Some(mode) => {
                    pod_security.insert(mode, (value, field));
                }
                None => cx.gap(field, GapKind::Dropped, "not a Pod Security Admission label"),
            }
            continue;
        }
        if RESERVED_NAMESPACE_LABELS.contains(&key.as_str()) {
            cx.gap(
                field,
                GapKind::Dropped,
                "binds a namespace to its tenant; Palisade sets its own binding (palisade.dev/tenant) and no spec may set these",
            );
            continue;
        }
        out.namespaces.labels.insert(key, value);
    }
    for (key, (value, field)) in metadata_annotations {
        if key == labels::NODE_SELECTOR_ANNOTATION {
            if out.workloads.node_selector.is_empty() && !value.trim().is_empty() {
                for pair in value.split(',') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    out.workloads
                        .node_selector
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
                cx.gap(
                    field,
                    GapKind::Note,
                    "converted to spec.workloads.nodeSelector, which Palisade enforces itself",
                );
            } else {
                cx.gap(
                    field,
                    GapKind::Dropped,
                    "Palisade writes this annotation from spec.workloads.nodeSelector",
                );
            }
            continue;
        }
        out.namespaces.annotations.insert(key, value);
    }
    match pod_security.get("enforce").cloned() {
        Some((level, field)) => match parse_pod_security_level(&level) {
            Some(level) => {
                out.pod_security.level = level;
                if let Some((version, _)) = pod_security.get("enforce-version") {
                    out.pod_security.version = version.clone();
                }
            }
            None => cx.gap(
                field,
                GapKind::Dropped,
                format!("\"{level}\" is not privileged, baseline or restricted; spec.podSecurity.level stays baseline"),
            ),
        },
        None => cx.gap(
            "spec.podSecurity",
            GapKind::Note,
            "Capsule sets no Pod Security level, so tenant namespaces had the cluster default (privileged unless \
             the API server's PodSecurity configuration says otherwise). Palisade enforces `baseline` by default, \
             which refuses privileged containers, host namespaces and hostPath volumes. Check a namespace with \
             `kubectl label --dry-run=server --overwrite ns <ns> pod-security.kubernetes.io/enforce=baseline` \
             (it lists pods that would be refused), or set spec.podSecurity.level: privileged to keep the old \
             behaviour",
        ),
    }
    let level = out.pod_security.level.as_str();
    let version = out.pod_security.version.clone();
    for (mode, expected) in [
        ("audit", level),
        ("warn", level),
        ("audit-version", &version),
        ("warn-version", &version),
    ] {
        if let Some((value, field)) = pod_security.get(mode)
            && value != expected
        {
            cx.gap(
                field,
                GapKind::Partial,
                format!("Palisade sets {mode} to the enforced one (\"{expected}\"); \"{value}\" was not kept"),
            );
        }
    }
}

fn parse_pod_security_level(level: &str) -> Option<PodSecurityLevel> {
    match level {
        "privileged" => Some(PodSecurityLevel::Privileged),
        "baseline" => Some(PodSecurityLevel::Baseline),
        "restricted" => Some(PodSecurityLevel::Restricted),
        _ => None,
    }
}

/// Namespace labels that Palisade or Capsule set themselves to bind a namespace; a tenant spec
/// cannot carry them over.
const RESERVED_NAMESPACE_LABELS: [&str; 8] = [
    labels::TENANT,
    labels::CORDONED,
    labels::NAMESPACE_NAME,
    "capsule.clastix.io/tenant",
    "capsule.clastix.io/managed-by",
    "projectcapsule.dev/tenant",
    "projectcapsule.dev/managed-by",
    "projectcapsule.dev/cordoned",
];

/// What a class allow-list is about, for messages.
struct ClassKind {
    /// `StorageClass`
    kind: &'static str,
    /// `storageclasses`, for kubectl hints.
    resource: &'static str,
    /// Where it goes in the Palisade spec.
    target: &'static str,
}

const CLASS_STORAGE: ClassKind = ClassKind {
    kind: "StorageClass",
    resource: "storageclasses",
    target: "spec.storage.classes",
};
const CLASS_INGRESS: ClassKind = ClassKind {
    kind: "IngressClass",
    resource: "ingressclasses",
    target: "spec.ingress.classes",
};
const CLASS_GATEWAY: ClassKind = ClassKind {
    kind: "GatewayClass",
    resource: "gatewayclasses",
    target: "spec.gateway.classes",
};
const CLASS_PRIORITY: ClassKind = ClassKind {
    kind: "PriorityClass",
    resource: "priorityclasses",
    target: "spec.workloads.priorityClasses",
};
const CLASS_RUNTIME: ClassKind = ClassKind {
    kind: "RuntimeClass",
    resource: "runtimeclasses",
    target: "spec.workloads.runtimeClasses",
};

/// A Capsule allow-list of class names (exact names, a regex, a label selector, a default).
fn class_list(cx: &mut Cx, value: Option<&Value>, path: &str, class: ClassKind) -> Option<ClassAllowList> {
    let known = ["allowed", "allowedRegex", "default", "matchLabels", "matchExpressions"];
    let map = cx.object(value?, path, &known)?;
    let mut allowed = Vec::new();
    for name in cx.strings(map, "allowed", path) {
        if !allowed.contains(&name) {
            allowed.push(name);
        }
    }
    let default = cx.string(map, "default", path).filter(|d| !d.is_empty());
    // Whether Capsule restricted by something Palisade could not carry over.
    let mut lost_restriction = false;
    if let Some(regex) = cx.string(map, "allowedRegex", path).filter(|r| !r.is_empty()) {
        let field = format!("{path}.allowedRegex");
        match translate_regex(&regex, RegexTarget::Class) {
            Some(translation) if translation.everything => {
                allowed.push("*".to_string());
                cx.gap(
                    field,
                    GapKind::Note,
                    format!("`{regex}` matches every name; converted to `*`"),
                );
            }
            Some(translation) => {
                for pattern in &translation.patterns {
                    if !allowed.contains(pattern) {
                        allowed.push(pattern.clone());
                    }
                }
                cx.gap(field, GapKind::Partial, translation.describe(&regex, class.target));
            }
            None => {
                lost_restriction = true;
                cx.gap(
                    field,
                    GapKind::Dropped,
                    format!(
                        "regular expression `{regex}` has no equivalent: Palisade takes exact {} names and \
                         `prefix*` patterns. List the classes it matched in {}.allowed",
                        class.kind, class.target
                    ),
                );
            }
        }
    }
    if let Some(selector) = selector_text(cx, &Value::Object(map.clone()), path)
        && !selector.is_empty()
    {
        lost_restriction = true;
        cx.gap(
            format!("{path}.matchLabels/matchExpressions"),
            GapKind::Dropped,
            format!(
                "Palisade allow-lists name classes; a label selector over {} objects has no equivalent. List \
                 the matching ones by name in {}.allowed (`kubectl get {} -l '{selector}' -o name`)",
                class.kind, class.target, class.resource
            ),
        );
    }
    if allowed.is_empty() {
        if lost_restriction {
            cx.gap(
                path,
                GapKind::Partial,
                format!(
                    "nothing that restricted this list could be converted, so the converted tenant may use any \
                     {}{}. List the allowed ones in {}.allowed",
                    class.kind,
                    if default.is_some() {
                        " (`*`), with the same default"
                    } else {
                        ""
                    },
                    class.target
                ),
            );
        } else if default.is_some() {
            cx.gap(
                path,
                GapKind::Note,
                format!(
                    "the Capsule list names no {} besides its default; the converted list allows any (`*`) and \
                     keeps the default. List the allowed ones in {}.allowed to restrict it",
                    class.kind, class.target
                ),
            );
        } else {
            cx.gap(
                path,
                GapKind::Note,
                format!("empty in Capsule; left out, so any {} may be used", class.kind),
            );
            return None;
        }
        return default.map(|default| ClassAllowList {
            allowed: vec!["*".to_string()],
            default: Some(default),
        });
    }
    let mut list = ClassAllowList { allowed, default };
    if let Some(default) = list.default.clone()
        && !list.allows(&default)
    {
        list.allowed.push(default.clone());
        cx.gap(
            format!("{path}.default"),
            GapKind::Note,
            format!("default \"{default}\" was not in the allowed list; added it, as Palisade requires the default to be allowed"),
        );
    }
    Some(list)
}

fn convert_ingress(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let path = "spec.ingressOptions";
    let known = [
        "allowedClasses",
        "allowedHostnames",
        "hostnameCollisionScope",
        "allowWildcardHostnames",
    ];
    let map = match spec.get("ingressOptions") {
        Some(options) => cx.object(options, path, &known),
        None => None,
    };
    let empty = Map::new();
    let map = map.unwrap_or(&empty);
    out.ingress.classes = class_list(
        cx,
        map.get("allowedClasses"),
        &format!("{path}.allowedClasses"),
        CLASS_INGRESS,
    );
    if let Some(hosts) = map.get("allowedHostnames") {
        let field = format!("{path}.allowedHostnames");
        if let Some(hosts) = cx.object(hosts, &field, &["allowed", "allowedRegex"]) {
            out.ingress.hostnames = cx.strings(hosts, "allowed", &field);
            for (i, host) in out.ingress.hostnames.iter().enumerate() {
                if host.starts_with("*.") {
                    cx.gap(
                        format!("{field}.allowed[{i}]"),
                        GapKind::Partial,
                        format!(
                            "Capsule compared hostnames literally, so \"{host}\" allowed only that wildcard host; in \
                             Palisade it also allows every name one label below it"
                        ),
                    );
                }
            }
            if let Some(regex) = cx.string(hosts, "allowedRegex", &field).filter(|r| !r.is_empty()) {
                let regex_field = format!("{field}.allowedRegex");
                match translate_regex(&regex, RegexTarget::Hostname) {
                    Some(translation) if translation.everything => {
                        out.ingress.hostnames.clear();
                        cx.gap(
                            regex_field,
                            GapKind::Note,
                            format!("`{regex}` matches every hostname; spec.ingress.hostnames left empty (any)"),
                        );
                    }
                    Some(translation) => {
                        for pattern in &translation.patterns {
                            if !out.ingress.hostnames.contains(pattern) {
                                out.ingress.hostnames.push(pattern.clone());
                            }
                        }
                        cx.gap(
                            regex_field,
                            GapKind::Partial,
                            translation.describe(&regex, "spec.ingress.hostnames"),
                        );
                    }
                    None => {
                        let kept = if out.ingress.hostnames.is_empty() {
                            "no hostname was listed, so the converted tenant may use ANY hostname until you list them \
                             in spec.ingress.hostnames"
                        } else {
                            "listed hostnames were kept; add the others the expression matched to spec.ingress.hostnames"
                        };
                        cx.gap(
                            regex_field,
                            GapKind::Dropped,
                            format!(
                                "regular expression `{regex}` has no equivalent: Palisade takes exact hostnames and \
                                 `*.domain` wildcards (one label); {kept}"
                            ),
                        );
                    }
                }
            }
        }
    }
    match cx.string(map, "hostnameCollisionScope", path).as_deref() {
        Some("Cluster") => out.ingress.collision_scope = CollisionScope::Cluster,
        Some("Tenant") => out.ingress.collision_scope = CollisionScope::Tenant,
        Some("Namespace") => out.ingress.collision_scope = CollisionScope::Namespace,
        Some("Disabled") => out.ingress.collision_scope = CollisionScope::Disabled,
        Some(other) => cx.error(
            format!("{path}.hostnameCollisionScope"),
            format!("\"{other}\" is not Cluster, Tenant, Namespace or Disabled"),
        ),
        None => {
            out.ingress.collision_scope = CollisionScope::Disabled;
            cx.gap(
                format!("{path}.hostnameCollisionScope"),
                GapKind::Note,
                "not set: Capsule does no collision check by default, so collisionScope is set to Disabled to \
                 change nothing. Palisade's default is Cluster (a host and path can be used once in the \
                 cluster), which stops one tenant from taking another's traffic: consider removing it",
            );
        }
    }
    if let Some(wildcard) = cx.bool(map, "allowWildcardHostnames", path) {
        out.ingress.allow_wildcard_hosts = wildcard;
    }
}

fn convert_role_bindings(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
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

fn convert_quotas(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let mut quota = QuotaPolicy {
        tenant: std::mem::take(&mut cx.counted_resources),
        ..QuotaPolicy::default()
    };
    if let Some(quotas) = spec.get("resourceQuotas") {
        let path = "spec.resourceQuotas";
        if let Some(map) = cx.object(quotas, path, &["scope", "items"]) {
            let scope = cx.string(map, "scope", path).unwrap_or_else(|| "Tenant".to_string());
            let tenant_scope = match scope.as_str() {
                "Tenant" => true,
                "Namespace" => false,
                other => {
                    cx.error(
                        format!("{path}.scope"),
                        format!("\"{other}\" is not Tenant or Namespace"),
                    );
                    true
                }
            };
            let (target, target_path) = if tenant_scope {
                (&mut quota.tenant, "spec.quota.tenant")
            } else {
                (&mut quota.namespace, "spec.quota.namespace")
            };
            let mut origin: BTreeMap<String, usize> = BTreeMap::new();
            let items = cx.array(map, "items", path);
            for (i, item) in items.iter().enumerate() {
                let field = format!("{path}.items[{i}]");
                let Some(item) = cx.object(item, &field, &["hard", "scopes", "scopeSelector"]) else {
                    continue;
                };
                if item.get("scopes").is_some_and(|v| !v.is_null())
                    || item.get("scopeSelector").is_some_and(|v| !v.is_null())
                {
                    cx.gap(
                        &field,
                        GapKind::Dropped,
                        "Palisade's quota has no scopes (BestEffort, PriorityClass, ...); this item was not converted",
                    );
                    continue;
                }
                for (resource, value) in cx.quantity_map(item, "hard", &field) {
                    if let Some(first) = origin.get(&resource) {
                        let earlier = target.get(&resource).cloned().unwrap_or_else(|| value.clone());
                        if earlier != value {
                            let field = format!("{field}.hard[{resource}]");
                            match (parse_quantity(&earlier.0), parse_quantity(&value.0)) {
                                (Some(a), Some(b)) => {
                                    let lower = if b < a { value.clone() } else { earlier.clone() };
                                    cx.gap(
                                        field,
                                        GapKind::Note,
                                        format!(
                                            "also set by items[{first}] ({} and {}); Capsule enforced both, so the \
                                             lower one ({}) was kept",
                                            earlier.0, value.0, lower.0
                                        ),
                                    );
                                    target.insert(resource, lower);
                                }
                                _ => cx.gap(
                                    field,
                                    GapKind::Partial,
                                    format!(
                                        "also set by items[{first}]; kept that value ({}), dropped {}. Capsule \
                                         enforced both, so keep the lower one in {target_path}",
                                        earlier.0, value.0
                                    ),
                                ),
                            }
                        }
                        continue;
                    }
                    origin.insert(resource.clone(), i);
                    target.insert(resource, value);
                }
            }
            if !origin.is_empty() {
                let message = if tenant_scope {
                    "scope Tenant: converted to spec.quota.tenant, a hard limit over the sum of all the tenant's \
                     namespaces. Capsule's per-namespace ResourceQuotas (with `hard` rewritten to what is left) \
                     are not recreated"
                } else {
                    "scope Namespace: converted to spec.quota.namespace, the ResourceQuota `palisade-quota` in \
                     every tenant namespace"
                };
                let kind = if items.len() > 1 {
                    GapKind::Partial
                } else {
                    GapKind::Note
                };
                let merged = if items.len() > 1 {
                    " The items were merged into one."
                } else {
                    ""
                };
                cx.gap(path, kind, format!("{message}.{merged}"));
            }
        }
    }
    if let Some(ranges) = spec.get("limitRanges") {
        let path = "spec.limitRanges";
        if let Some(map) = cx.object(ranges, path, &["items"]) {
            let items = cx.array(map, "items", path);
            for (i, item) in items.iter().enumerate() {
                let field = format!("{path}.items[{i}]");
                let Some(item) = cx.object(item, &field, &["limits"]) else {
                    continue;
                };
                for (j, limit) in cx.array(item, "limits", &field).iter().enumerate() {
                    match serde_json::from_value::<LimitRangeItem>(limit.clone()) {
                        Ok(limit) => quota.limits.push(limit),
                        Err(problem) => cx.error(
                            format!("{field}.limits[{j}]"),
                            format!("not a LimitRangeItem: {problem}"),
                        ),
                    }
                }
            }
            if items.len() > 1 {
                cx.gap(
                    path,
                    GapKind::Note,
                    format!(
                        "Capsule created {} LimitRanges per namespace; their limits were merged into the one LimitRange \
                         `palisade-limits` (spec.quota.limits)",
                        items.len()
                    ),
                );
            }
        }
    }
    if quota != QuotaPolicy::default() {
        out.quota = Some(quota);
    }
}

/// A Kubernetes quantity as a number, for comparing two limits (`500m`, `2`, `16Gi`, `1e3`).
fn parse_quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok()
}

fn convert_network(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec, tenant: &str) {
    let path = "spec.networkPolicies";
    let items = match spec.get("networkPolicies") {
        Some(policies) => match cx.object(policies, path, &["items"]) {
            Some(map) => cx.array(map, "items", path),
            None => &[],
        },
        None => &[],
    };
    if items.is_empty() {
        out.network.isolation = IsolationMode::None;
        cx.gap(
            path,
            GapKind::Note,
            "Capsule had no NetworkPolicies for this tenant, so its pods could reach and be reached by any pod. \
             Kept that: spec.network.isolation is None. To isolate the tenant, set spec.network.isolation: Strict \
             (deny in and out except within the tenant and DNS), then grant what it needs in \
             spec.network.allowFrom and spec.network.egress",
        );
        return;
    }
    out.network.isolation = IsolationMode::Strict;
    for (i, item) in items.iter().enumerate() {
        let field = format!("{path}.items[{i}]");
        let mut carried = Vec::new();
        let mut lost = Vec::new();
        network_item(item, tenant, out, &mut carried, &mut lost);
        let mut message = String::from(
            "not copied: Palisade generates the tenant's isolation itself (isolation Strict: default deny in and \
             out, allow within the tenant, allow DNS)",
        );
        if !carried.is_empty() {
            message.push_str(&format!("; carried over: {}", carried.join(", ")));
        }
        if !lost.is_empty() {
            message.push_str(&format!(
                "; NOT carried over (grant in spec.network or keep as a NetworkPolicy in each namespace): {}",
                lost.join(", ")
            ));
        }
        cx.gap(
            field,
            if lost.is_empty() {
                GapKind::Note
            } else {
                GapKind::Partial
            },
            message,
        );
    }
    out.network.allow_from.tenants.retain(|t| t != tenant);
    let restricts = |direction: &str| {
        items
            .iter()
            .any(|item| match item.get("policyTypes").and_then(Value::as_array) {
                Some(types) => types.iter().any(|t| t.as_str() == Some(direction)),
                // Without policyTypes, a policy always covers ingress, and egress when it has egress rules.
                None => direction == "Ingress" || item.get("egress").is_some(),
            })
    };
    if !restricts("Egress") {
        for cidr in ["0.0.0.0/0", "::/0"] {
            out.network.egress.cidrs.push(EgressCidr {
                cidr: cidr.to_string(),
                except: Vec::new(),
                ports: Vec::new(),
            });
        }
        cx.gap(
            path,
            GapKind::Note,
            "Capsule's policies restricted only ingress, so the tenant's pods could connect anywhere. Palisade's \
             Strict isolation covers both directions: egress to 0.0.0.0/0 and ::/0 was added to \
             spec.network.egress.cidrs to keep outgoing traffic open; narrow or remove it to restrict egress",
        );
    }
    if !restricts("Ingress") {
        cx.gap(
            path,
            GapKind::Partial,
            "Capsule's policies restricted only egress, so any pod could connect to the tenant's pods. Palisade's \
             Strict isolation admits only the tenant itself and what spec.network.allowFrom grants; list the \
             namespaces and tenants that must reach this tenant there",
        );
    }
}

/// Reads one replicated NetworkPolicy and carries over the grants that map onto Palisade's
/// tenant-level ones; describes the rest.
fn network_item(item: &Value, tenant: &str, out: &mut TenantSpec, carried: &mut Vec<String>, lost: &mut Vec<String>) {
    let peers = |rule: &Value, key: &str| rule.get(key).and_then(Value::as_array).cloned();
    for (r, rule) in item
        .get("ingress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(from) = peers(rule, "from").filter(|f| !f.is_empty()) else {
            lost.push(format!("ingress[{r}] allows every source"));
            continue;
        };
        for (p, peer) in from.iter().enumerate() {
            let at = format!("ingress[{r}].from[{p}]");
            match namespace_peer(peer) {
                Some(NamespacePeer::SameNamespace) => {}
                Some(NamespacePeer::Tenant(other)) if other == tenant => {}
                Some(NamespacePeer::Tenant(other)) => {
                    if !out.network.allow_from.tenants.contains(&other) {
                        out.network.allow_from.tenants.push(other.clone());
                    }
                    carried.push(format!("{at} → allowFrom.tenants {other}"));
                }
                Some(NamespacePeer::Namespace(name)) => {
                    if !out.network.allow_from.namespaces.contains(&name) {
                        out.network.allow_from.namespaces.push(name.clone());
                    }
                    carried.push(format!("{at} → allowFrom.namespaces {name}"));
                }
                None => lost.push(format!("{at} ({})", compact(peer))),
            }
        }
    }
    for (r, rule) in item
        .get("egress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(to) = peers(rule, "to").filter(|t| !t.is_empty()) else {
            lost.push(format!("egress[{r}] allows every destination"));
            continue;
        };
        let (ports, named_ports) = port_rules(rule.get("ports"));
        for (p, peer) in to.iter().enumerate() {
            let at = format!("egress[{r}].to[{p}]");
            if let Some(block) = peer.get("ipBlock") {
                let cidr = block
                    .get("cidr")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let except = block
                    .get("except")
                    .and_then(Value::as_array)
                    .map(|e| e.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                if named_ports {
                    lost.push(format!("{at} (named ports)"));
                    continue;
                }
                carried.push(format!("{at} → egress.cidrs {cidr}"));
                out.network.egress.cidrs.push(EgressCidr {
                    cidr,
                    except,
                    ports: ports.clone(),
                });
                continue;
            }
            match namespace_peer(peer) {
                Some(NamespacePeer::SameNamespace) => {}
                Some(NamespacePeer::Tenant(other)) if other == tenant => {}
                Some(NamespacePeer::Namespace(name)) if name == "kube-system" && is_dns_only(&ports) => {
                    carried.push(format!("{at} → egress.dns"));
                }
                _ => lost.push(format!("{at} ({})", compact(peer))),
            }
        }
    }
}

enum NamespacePeer {
    /// Pods of the policy's own namespace: inside the tenant.
    SameNamespace,
    Tenant(String),
    Namespace(String),
}

/// A peer that selects all pods of a namespace (by name) or of a tenant (by Capsule's label).
fn namespace_peer(peer: &Value) -> Option<NamespacePeer> {
    let Some(namespaces) = peer.get("namespaceSelector") else {
        return peer.get("podSelector").map(|_| NamespacePeer::SameNamespace);
    };
    if peer
        .get("podSelector")
        .is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty()))
    {
        return None;
    }
    let map = namespaces.as_object()?;
    if map
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty())
    {
        return None;
    }
    let match_labels = map.get("matchLabels")?.as_object()?;
    if match_labels.len() != 1 {
        return None;
    }
    let (key, value) = match_labels.iter().next()?;
    let value = value.as_str()?.to_string();
    match key.as_str() {
        "capsule.clastix.io/tenant" | "projectcapsule.dev/tenant" => Some(NamespacePeer::Tenant(value)),
        labels::NAMESPACE_NAME => Some(NamespacePeer::Namespace(value)),
        _ => None,
    }
}

/// Numeric ports of a NetworkPolicy rule, and whether it also had named ports.
fn port_rules(ports: Option<&Value>) -> (Vec<PortRule>, bool) {
    let mut rules = Vec::new();
    let mut named = false;
    for port in ports.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_string();
        match port.get("port") {
            Some(Value::Number(n)) => {
                let Some(number) = n.as_u64().and_then(|n| u16::try_from(n).ok()) else {
                    named = true;
                    continue;
                };
                let end_port = port
                    .get("endPort")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok());
                rules.push(PortRule {
                    protocol,
                    port: number,
                    end_port,
                });
            }
            _ => named = true,
        }
    }
    (rules, named)
}

fn is_dns_only(ports: &[PortRule]) -> bool {
    !ports.is_empty() && ports.iter().all(|p| p.port == 53 && p.end_port.is_none())
}

/// A one-line rendering of a JSON value for messages.
fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}

fn convert_services(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let path = "spec.serviceOptions";
    let known = [
        "additionalMetadata",
        "allowedServices",
        "externalIPs",
        "forbiddenLabels",
        "forbiddenAnnotations",
    ];
    let empty = Map::new();
    let map = match spec.get("serviceOptions") {
        Some(options) => cx.object(options, path, &known).unwrap_or(&empty),
        None => &empty,
    };
    let allowed_path = format!("{path}.allowedServices");
    let allowed = match map.get("allowedServices") {
        Some(allowed) => cx
            .object(allowed, &allowed_path, &["nodePort", "externalName", "loadBalancer"])
            .unwrap_or(&empty),
        None => &empty,
    };
    let mut defaulted = Vec::new();
    for (field, target) in [
        ("nodePort", &mut out.services.allow_node_port),
        ("loadBalancer", &mut out.services.allow_load_balancer),
        ("externalName", &mut out.services.allow_external_name),
    ] {
        match cx.bool(allowed, field, &allowed_path) {
            Some(value) => *target = value,
            None => {
                *target = true;
                defaulted.push(field);
            }
        }
    }
    if !defaulted.is_empty() {
        let kept: Vec<String> = defaulted
            .iter()
            .map(|f| format!("spec.services.allow{}: true", capitalize(f)))
            .collect();
        cx.gap(
            allowed_path,
            GapKind::Note,
            format!(
                "Capsule allows NodePort, LoadBalancer and ExternalName Services unless told otherwise, and this \
                 tenant does not say for {}; kept {} so nothing changes. Palisade denies them by default: set \
                 them to false to close them",
                defaulted.join(", "),
                kept.join(", ")
            ),
        );
    }
    let ips_path = format!("{path}.externalIPs");
    match map.get("externalIPs") {
        Some(ips) if !ips.is_null() => {
            if let Some(ips) = cx.object(ips, &ips_path, &["allowed"]) {
                for (i, entry) in cx.strings(ips, "allowed", &ips_path).into_iter().enumerate() {
                    let field = format!("{ips_path}.allowed[{i}]");
                    match to_cidr(&entry) {
                        Some((cidr, changed)) => {
                            if changed {
                                cx.gap(field, GapKind::Note, format!("\"{entry}\" written as the CIDR {cidr}"));
                            }
                            if !out.services.external_ips.contains(&cidr) {
                                out.services.external_ips.push(cidr);
                            }
                        }
                        None => cx.gap(
                            field,
                            GapKind::Dropped,
                            format!("\"{entry}\" is neither an IP address nor a CIDR"),
                        ),
                    }
                }
            }
        }
        _ => cx.gap(
            ips_path,
            GapKind::Note,
            "behaviour change: Capsule left Service externalIPs unrestricted for this tenant, which lets a tenant \
             intercept traffic meant for other addresses (CVE-2020-8554). Palisade allows no externalIPs unless \
             listed; list the CIDRs the tenant needs in spec.services.externalIPs",
        ),
    }
    if map.get("additionalMetadata").is_some_and(|v| !v.is_null()) {
        cx.gap(
            format!("{path}.additionalMetadata"),
            GapKind::Dropped,
            "Palisade does not add labels or annotations to tenant Services and EndpointSlices; set them in the \
             Service manifests",
        );
    }
    for field in ["forbiddenLabels", "forbiddenAnnotations"] {
        if map.get(field).is_some_and(|v| !v.is_null()) {
            cx.gap(
                format!("{path}.{field}"),
                GapKind::Dropped,
                "Palisade has no deny-list of Service metadata keys",
            );
        }
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `entry` as a CIDR, and whether it had to be rewritten (a bare IP, or host bits set).
fn to_cidr(entry: &str) -> Option<(String, bool)> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        let net = IpNet::from(ip);
        return Some((net.to_string(), true));
    }
    let net: IpNet = entry.parse().ok()?;
    let truncated = net.trunc();
    Some((truncated.to_string(), truncated != net))
}

fn convert_registries(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let path = "spec.containerRegistries";
    let Some(registries) = spec.get("containerRegistries") else {
        return;
    };
    let Some(map) = cx.object(registries, path, &["allowed", "allowedRegex"]) else {
        return;
    };
    let listed = cx.strings(map, "allowed", path);
    let mut converted = Vec::new();
    for (i, registry) in listed.iter().enumerate() {
        let host = registry.trim_end_matches('/');
        let prefix = format!("{host}/");
        if host.contains('/') {
            cx.gap(
                format!("{path}.allowed[{i}]"),
                GapKind::Partial,
                format!(
                    "Capsule compared only the registry host of an image, so \"{registry}\" never matched any image; \
                     converted to the prefix `{prefix}`, which now allows the images under it"
                ),
            );
        }
        if !converted.contains(&prefix) {
            converted.push(prefix);
        }
    }
    let exact = !converted.is_empty();
    if exact {
        cx.gap(
            format!("{path}.allowed"),
            GapKind::Note,
            "registries became image prefixes ending in `/` (`docker.io` → `docker.io/`), matched against the \
             fully qualified image. Capsule refused images without a registry (`nginx`); Palisade reads them as \
             `docker.io/library/nginx`, so they are allowed where `docker.io/` is",
        );
    }
    let mut unrestricted = false;
    if let Some(regex) = cx.string(map, "allowedRegex", path).filter(|r| !r.is_empty()) {
        let field = format!("{path}.allowedRegex");
        match translate_regex(&regex, RegexTarget::Registry) {
            Some(translation) if translation.everything => {
                unrestricted = true;
                cx.gap(
                    field,
                    GapKind::Note,
                    format!("`{regex}` allows every registry; spec.workloads.registries left empty (any)"),
                );
            }
            Some(translation) => {
                for pattern in &translation.patterns {
                    if !converted.contains(pattern) {
                        converted.push(pattern.clone());
                    }
                }
                cx.gap(
                    field,
                    GapKind::Partial,
                    translation.describe(&regex, "spec.workloads.registries"),
                );
            }
            None => {
                let kept = if exact {
                    "the exact registries were kept; add the others the expression matched"
                } else {
                    "no registry was listed, so the converted tenant may pull from ANY registry until you list them"
                };
                cx.gap(
                    field,
                    GapKind::Dropped,
                    format!(
                        "regular expression `{regex}` has no equivalent: Palisade takes image prefixes \
                         (`registry.example.com/team/`) in spec.workloads.registries; {kept}"
                    ),
                );
            }
        }
    }
    if !unrestricted {
        out.workloads.registries = converted;
    }
}

fn convert_pull_policies(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    for (i, policy) in cx.strings(spec, "imagePullPolicies", "spec").into_iter().enumerate() {
        let policy = match policy.as_str() {
            "Always" => PullPolicy::Always,
            "IfNotPresent" => PullPolicy::IfNotPresent,
            "Never" => PullPolicy::Never,
            other => {
                cx.error(
                    format!("spec.imagePullPolicies[{i}]"),
                    format!("\"{other}\" is not Always, IfNotPresent or Never"),
                );
                continue;
            }
        };
        if !out.workloads.pull_policies.contains(&policy) {
            out.workloads.pull_policies.push(policy);
        }
    }
}

/// What a translated regular expression is matched against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RegexTarget {
    /// Class names: exact or `prefix*`.
    Class,
    /// Ingress hostnames: exact or `*.domain`.
    Hostname,
    /// Registry hosts: image prefixes.
    Registry,
}

/// Palisade patterns for a regular expression, with what differs.
struct Translation {
    patterns: Vec<String>,
    caveats: Vec<&'static str>,
    /// The expression matches every name (`.*`).
    everything: bool,
}

impl Translation {
    fn describe(&self, regex: &str, target: &str) -> String {
        let patterns: Vec<String> = self.patterns.iter().map(|p| format!("`{p}`")).collect();
        let mut text = format!(
            "regular expression `{regex}` converted to {} in {target}",
            patterns.join(", ")
        );
        if self.caveats.is_empty() {
            text.push_str(" (the same names)");
        } else {
            text.push_str(&format!("; {}", self.caveats.join("; ")));
        }
        text
    }
}

/// One alternative of a simple regular expression: optional anchors around literal text, with
/// "anything" before or after it.
struct Simple {
    anchored_start: bool,
    anchored_end: bool,
    lead: Lead,
    literal: String,
    trailing_any: bool,
    /// An unescaped `.` was read as a literal dot.
    loose_dots: bool,
}

#[derive(PartialEq, Eq)]
enum Lead {
    None,
    /// `.*` / `.+`: anything, dots included.
    Any,
    /// `[^.]+`, `[a-z0-9-]+`, ...: one DNS label.
    OneLabel,
}

/// Patterns equivalent to (or as close as safely possible to) `regex`; `None` when it is not simple.
fn translate_regex(regex: &str, target: RegexTarget) -> Option<Translation> {
    let alternatives = split_alternatives(regex)?;
    let mut patterns = Vec::new();
    let mut caveats = Vec::new();
    let mut note = |caveat: &'static str| {
        if !caveats.contains(&caveat) {
            caveats.push(caveat);
        }
    };
    for alternative in alternatives {
        let simple = parse_simple(&alternative.text, alternative.anchored_start, alternative.anchored_end)?;
        if simple.literal.is_empty() && (simple.lead == Lead::Any || simple.trailing_any) {
            return Some(Translation {
                patterns: Vec::new(),
                caveats: Vec::new(),
                everything: true,
            });
        }
        if simple.loose_dots {
            note("an unescaped `.` matched any character in Capsule and is taken as a literal dot");
        }
        let unanchored_start = !simple.anchored_start && simple.lead == Lead::None;
        let unanchored_end = !simple.anchored_end && !simple.trailing_any;
        let pattern = match target {
            RegexTarget::Class => {
                if simple.lead != Lead::None {
                    return None;
                }
                if simple.trailing_any {
                    format!("{}*", simple.literal)
                } else {
                    simple.literal.clone()
                }
            }
            RegexTarget::Hostname => {
                if simple.trailing_any {
                    return None;
                }
                match simple.lead {
                    Lead::None => simple.literal.clone(),
                    Lead::Any | Lead::OneLabel if simple.literal.starts_with('.') && simple.literal.len() > 1 => {
                        if simple.lead == Lead::Any {
                            note("`.*` also matched names several labels deep; `*.` covers exactly one label");
                        }
                        format!("*{}", simple.literal)
                    }
                    _ => return None,
                }
            }
            RegexTarget::Registry => {
                if simple.lead != Lead::None {
                    return None;
                }
                if simple.trailing_any {
                    simple.literal.clone()
                } else {
                    format!("{}/", simple.literal.trim_end_matches('/'))
                }
            }
        };
        if unanchored_start {
            note(
                "the expression had no `^`, so Capsule also matched names merely containing it; Palisade matches from the start",
            );
        }
        if unanchored_end && !simple.literal.is_empty() {
            note("the expression had no `$`, so Capsule also matched longer names; Palisade matches the name exactly");
        }
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Some(Translation {
        patterns,
        caveats,
        everything: false,
    })
}

struct Alternative {
    text: String,
    anchored_start: bool,
    anchored_end: bool,
}

/// Splits `^(a|b)$`, `(?:a|b)`, `a|b` into alternatives, distributing the anchors. `None` when
/// groups are used any other way.
fn split_alternatives(regex: &str) -> Option<Vec<Alternative>> {
    let (start, rest) = match regex.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, regex),
    };
    let (end, body) = match rest.strip_suffix('$').filter(|b| !b.ends_with('\\')) {
        Some(body) => (true, body),
        None => (false, rest),
    };
    let inner = body
        .strip_prefix("(?:")
        .or_else(|| body.strip_prefix('('))
        .and_then(|b| b.strip_suffix(')'))
        .filter(|b| !b.contains('(') && !b.contains(')'));
    let (text, grouped) = match inner {
        Some(inner) => (inner, true),
        None => (body, false),
    };
    if text.contains('(') || text.contains(')') {
        return None;
    }
    let parts: Vec<&str> = text.split('|').collect();
    if parts.len() > 1 && !grouped && (start || end) {
        // `^a|b$` anchors only the first and last alternatives; too subtle to carry over.
        return None;
    }
    Some(
        parts
            .into_iter()
            .map(|part| Alternative {
                text: part.to_string(),
                anchored_start: start,
                anchored_end: end,
            })
            .collect(),
    )
}

fn parse_simple(text: &str, anchored_start: bool, anchored_end: bool) -> Option<Simple> {
    const ONE_LABEL: [&str; 6] = [
        "[^.]+",
        "[^.]*",
        "[a-z0-9-]+",
        "[a-z0-9]+",
        "[-a-z0-9]+",
        "[a-zA-Z0-9-]+",
    ];
    let mut rest = text;
    let mut lead = Lead::None;
    if let Some(r) = rest.strip_prefix(".*").or_else(|| rest.strip_prefix(".+")) {
        lead = Lead::Any;
        rest = r;
    } else if let Some(class) = ONE_LABEL.iter().find(|c| rest.starts_with(**c)) {
        lead = Lead::OneLabel;
        rest = &rest[class.len()..];
    }
    let mut trailing_any = false;
    if let Some(r) = rest.strip_suffix(".*").or_else(|| rest.strip_suffix(".+"))
        && !r.ends_with('\\')
    {
        trailing_any = true;
        rest = r;
    }
    let mut literal = String::new();
    let mut loose_dots = false;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('.' | '-' | '/' | '_' | ':')) => literal.push(e),
                _ => return None,
            },
            '.' => {
                loose_dots = true;
                literal.push('.');
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | ':' | '@') => literal.push(c),
            _ => return None,
        }
    }
    if literal.is_empty() && lead == Lead::None && !trailing_any {
        return None;
    }
    Some(Simple {
        anchored_start,
        anchored_end,
        lead,
        literal,
        trailing_any,
        loose_dots,
    })
}

/// A label selector as `kubectl -l` text; `Some("")` for an empty selector, `None` when absent.
fn selector_text(cx: &mut Cx, selector: &Value, path: &str) -> Option<String> {
    let map = selector.as_object()?;
    if !map.contains_key("matchLabels") && !map.contains_key("matchExpressions") {
        return Some(String::new());
    }
    let mut parts = Vec::new();
    for (key, value) in cx.string_map(map, "matchLabels", path) {
        parts.push(format!("{key}={value}"));
    }
    for expression in cx.array(map, "matchExpressions", path) {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
        let operator = expression.get("operator").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match operator {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({})", values.join(",")),
        });
    }
    Some(parts.join(","))
}

fn error(field: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError {
        field: field.into(),
        message: message.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => path.to_string(),
        _ => format!("{path}.{key}"),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Gaps and errors collected while reading one Tenant, with typed readers that report a value of
/// the wrong type as an error naming its field.
#[derive(Default)]
struct Cx {
    gaps: Vec<Gap>,
    errors: Vec<ImportError>,
    /// Tenant-wide object counts read from Capsule's custom-resource quota annotations.
    counted_resources: BTreeMap<String, Quantity>,
}

impl Cx {
    fn gap(&mut self, field: impl Into<String>, kind: GapKind, message: impl Into<String>) {
        self.gaps.push(Gap {
            field: field.into(),
            kind,
            message: message.into(),
        });
    }

    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(error(field, message));
    }

    /// `value` as a mapping (null: none); keys not in `known` are reported as gaps.
    fn object<'v>(&mut self, value: &'v Value, path: &str, known: &[&str]) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Null => None,
            Value::Object(map) => {
                for key in map.keys() {
                    if !known.contains(&key.as_str()) {
                        self.gap(join(path, key), GapKind::Dropped, NOT_A_FIELD);
                    }
                }
                Some(map)
            }
            other => {
                self.error(path, format!("expected a mapping, found {}", describe(other)));
                None
            }
        }
    }

    fn string(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match map.get(key)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => {
                self.error(join(path, key), format!("expected a string, found {}", describe(other)));
                None
            }
        }
    }

    fn bool(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<bool> {
        match map.get(key)? {
            Value::Null => None,
            Value::Bool(value) => Some(*value),
            other => {
                self.error(
                    join(path, key),
                    format!("expected true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, map: &'v Map<String, Value>, key: &str, path: &str) -> &'v [Value] {
        match map.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.error(join(path, key), format!("expected a list, found {}", describe(other)));
                &[]
            }
        }
    }

    fn strings(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Vec<String> {
        let field = join(path, key);
        let mut result = Vec::new();
        for (i, item) in self.array(map, key, path).iter().enumerate() {
            match item {
                Value::String(text) => result.push(text.clone()),
                other => self.error(
                    format!("{field}[{i}]"),
                    format!("expected a string, found {}", describe(other)),
                ),
            }
        }
        result
    }

    fn string_map(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> BTreeMap<String, String> {
        let field = join(path, key);
        let mut result = BTreeMap::new();
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (k, v) in entries {
                    match v {
                        Value::String(text) => {
                            result.insert(k.clone(), text.clone());
                        }
                        other => self.error(
                            format!("{field}[{k}]"),
                            format!("expected a string, found {} (quote it)", describe(other)),
                        ),
                    }
                }
            }
            Some(other) => self.error(field, format!("expected a mapping, found {}", describe(other))),
        }
        result
    }

    /// A map of resource name → quantity; numbers are accepted as Kubernetes does.
    fn quantity_map(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> BTreeMap<String, Quantity> {
        let field = join(path, key);
        let mut result = BTreeMap::new();
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (k, v) in entries {
                    match v {
                        Value::String(text) => {
                            result.insert(k.clone(), Quantity(text.clone()));
                        }
                        Value::Number(n) => {
                            result.insert(k.clone(), Quantity(n.to_string()));
                        }
                        other => self.error(
                            format!("{field}[{k}]"),
                            format!("expected a quantity, found {}", describe(other)),
                        ),
                    }
                }
            }
            Some(other) => self.error(field, format!("expected a mapping, found {}", describe(other))),
        }
        result
    }
}
