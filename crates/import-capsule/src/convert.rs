//! The entry points, and one Capsule Tenant converted field by field into a Palisade Tenant:
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
//! an [`ImportError::ConvertField`] naming the field, as the Capsule API server itself would have refused them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use palisade_api::{Tenant, TenantSpec, labels};
use serde_json::Value;

use crate::classes::{CLASS_GATEWAY, CLASS_PRIORITY, CLASS_RUNTIME, CLASS_STORAGE, class_list, convert_ingress};
use crate::conversion::{Conversion, GapKind, ImportError};
use crate::cx::{Cx, describe};
use crate::namespaces::convert_namespace_options;
use crate::network::convert_network;
use crate::owners::{convert_owners, convert_permissions, convert_role_bindings, convert_rules};
use crate::quota::convert_quotas;
use crate::workloads::{convert_pull_policies, convert_registries, convert_services};

/// The only Capsule API version this importer reads.
pub const API_VERSION: &str = "capsule.clastix.io/v1beta2";
const GROUP_PREFIX: &str = "capsule.clastix.io/";

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
            return Err(vec![list_error(format!(
                "expected a list of Tenants, found {}",
                describe(items)
            ))]);
        };
        if items.is_empty() {
            return Err(vec![list_error("the list is empty: no Tenant to import")]);
        }
        let mut conversions = Vec::new();
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match convert_tenant_with(item, &format!("{source}: items[{i}]"), options) {
                Ok(conversion) => conversions.push(conversion),
                Err(problems) => {
                    errors.extend(
                        problems
                            .into_iter()
                            .map(|problem| problem.within(&format!("items[{i}]"))),
                    );
                }
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
        return Err(vec![ImportError::ConvertField {
            field: "metadata.name".to_string(),
            message: "a Tenant needs a name".to_string(),
        }]);
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
    for problem in palisade_tenancy::validate(&tenant) {
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

fn list_error(message: impl Into<String>) -> ImportError {
    ImportError::SplitList {
        field: "items".to_string(),
        message: message.into(),
    }
}

/// Whether `value` is a Capsule `v1beta2` Tenant, and if not, what it is.
fn check_type(value: &Value) -> Result<(), ImportError> {
    if !value.is_object() {
        return Err(type_error(
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
        return Err(type_error(
            "apiVersion",
            format!(
                "only {API_VERSION} Tenants can be imported; found {version}: convert with \
                 `kubectl get tenants.v1beta2.capsule.clastix.io -o yaml` first"
            ),
        ));
    }
    if api_version.starts_with("palisade.dev/") {
        return Err(type_error(
            "kind",
            format!("this is already a Palisade {kind}; nothing to import"),
        ));
    }
    let what = match (api_version.is_empty(), kind.is_empty()) {
        (_, true) => "a document without `kind`".to_string(),
        (true, false) => format!("a {kind} without `apiVersion`"),
        (false, false) => format!("a {api_version} {kind}"),
    };
    Err(type_error(
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

fn type_error(field: &str, message: String) -> ImportError {
    ImportError::CheckType {
        field: field.to_string(),
        message,
    }
}
