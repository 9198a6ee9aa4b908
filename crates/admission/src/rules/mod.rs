//! One module per kind of object. [`dispatch`] routes a request to its rules.

pub mod forged_labels;
pub mod fresh_namespace;
pub mod gateway;
pub mod ingress;
pub mod managed;
pub mod namespace;
pub mod network_policy;
pub mod pod;
pub mod pvc;
pub mod role_binding;
pub mod service;
pub mod subresource;
pub mod tenant;
pub mod workload;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};
use palisade_api::Tenant;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{AdmissionConfig, ClusterView, Requester, Verdict};

/// A request about an object in a tenant namespace.
pub struct InTenant<'a> {
    pub request: &'a AdmissionRequest<DynamicObject>,
    pub requester: &'a Requester,
    pub view: &'a dyn ClusterView,
    pub config: &'a AdmissionConfig,
    pub tenant: &'a Tenant,
    pub tenant_name: &'a str,
    pub namespace: &'a str,
}

pub fn dispatch(
    request: &AdmissionRequest<DynamicObject>,
    requester: &Requester,
    view: &dyn ClusterView,
    config: &AdmissionConfig,
) -> Verdict {
    let group = request.kind.group.as_str();
    let kind = request.kind.kind.as_str();
    match (group, kind) {
        ("", "Namespace") => return namespace::review(request, requester, view, config),
        ("palisade.dev", "Tenant") => return tenant::review(request, view),
        _ => {}
    }
    let Some(namespace) = request.namespace.as_deref() else {
        return Verdict::Allow;
    };
    let Some(labels) = view.namespace_labels(namespace) else {
        // The API server sends us only requests in tenant namespaces, so a namespace we do not
        // know is one our cache has not caught up with (the webhook reads it live first): a
        // rule that cannot decide does not pass.
        return Verdict::deny(format!(
            "Palisade does not know namespace \"{namespace}\" yet, so it cannot check this request; retry in a moment"
        ));
    };
    let Some(tenant_name) = labels.get(palisade_api::labels::TENANT).map(String::as_str) else {
        return Verdict::Allow;
    };
    let Some(tenant) = view.tenant(tenant_name) else {
        // Fail closed: a namespace bound to a tenant Palisade cannot see is not a free-for-all.
        // Which tenant is not said: the requester may not be one of its users.
        return Verdict::deny(format!(
            "namespace \"{namespace}\" is bound to a tenant Palisade does not know yet; retry in a moment, or ask your platform team"
        ));
    };
    let context = InTenant {
        request,
        requester,
        view,
        config,
        tenant,
        tenant_name,
        namespace,
    };
    if let Some(denial) = managed::review(&context) {
        return denial;
    }
    if tenant.spec.cordoned && !requester.is_system_component() && request.operation != Operation::Connect {
        return Verdict::deny(format!(
            "tenant \"{tenant_name}\" is cordoned: its namespaces are read-only until the platform team lifts the cordon"
        ));
    }
    if request.operation == Operation::Delete {
        return Verdict::Allow;
    }
    if let Some(subresource) = request.sub_resource.as_deref().filter(|s| !s.is_empty()) {
        return subresource::review(&context, subresource);
    }
    if let Some(denial) = forged_labels::review(&context) {
        return denial;
    }
    if let Some(denial) = fresh_namespace::review(&context) {
        return denial;
    }
    match (group, kind) {
        ("", "Pod") => pod::review(&context),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job" | "CronJob")
        | ("", "ReplicationController") => workload::review(&context),
        ("", "Service") => service::review(&context),
        ("networking.k8s.io", "Ingress") => ingress::review(&context),
        ("gateway.networking.k8s.io", "Gateway" | "HTTPRoute" | "GRPCRoute" | "TLSRoute") => gateway::review(&context),
        ("", "PersistentVolumeClaim") => pvc::review(&context),
        ("networking.k8s.io", "NetworkPolicy") => network_policy::review(&context),
        ("rbac.authorization.k8s.io", "RoleBinding") if !requester.is_system_component() => {
            role_binding::review(&context)
        }
        _ => Verdict::Allow,
    }
}

/// The request's object as JSON (`metadata` included).
pub fn object_json(object: Option<&DynamicObject>) -> Option<Value> {
    serde_json::to_value(object?).ok()
}

/// The request's object as a typed Kubernetes object; a body that does not parse is denied rather
/// than waved through.
pub fn typed<T: DeserializeOwned>(object: Option<&DynamicObject>, what: &str) -> Result<T, Verdict> {
    let value = object_json(object).ok_or_else(|| Verdict::deny(format!("the request carries no {what}")))?;
    serde_json::from_value(value).map_err(|error| Verdict::deny(format!("cannot read the {what}: {error}")))
}

/// The class default of an allow-list, patched in on creation when the object names no class.
pub fn default_class(
    request: &AdmissionRequest<DynamicObject>,
    used: Option<&str>,
    list: Option<&palisade_api::ClassAllowList>,
    field: &[&str],
) -> Verdict {
    let default = list.and_then(|l| l.default.as_deref());
    match (request.operation == Operation::Create, used, default) {
        (true, None, Some(default)) => {
            Verdict::patch(vec![crate::verdict::add(field, Value::String(default.to_string()))])
        }
        _ => Verdict::Allow,
    }
}

/// `kind "name"` of the request's object, for messages.
pub fn described(request: &AdmissionRequest<DynamicObject>) -> String {
    format!("{} \"{}\"", request.kind.kind, request.name)
}
