//! Pods, including init and ephemeral containers (the `pods/ephemeralcontainers` subresource) and
//! pods written by controllers: registries, pull policies, priority and runtime classes, node
//! selector. Defaults and the node selector are mutated in; the rest is checked.
//!
//! This is the hottest path of the webhook (every pod of every tenant), so the spec is read
//! straight from the request's JSON and the patch is built operation by operation.

use std::collections::BTreeMap;

use kube::core::admission::Operation;
use palisade_api::{ClassAllowList, Tenant};
use serde::Deserialize;
use serde_json::Value;

use super::InTenant;
use crate::verdict::{add, remove};
use crate::{Verdict, normalize_image};

/// The parts of a pod spec the rules read. Deserializing only these (serde skips the rest: env,
/// volumes, probes, resources...) is most of what makes a pod review take microseconds.
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecView {
    #[serde(default)]
    pub containers: Vec<ContainerView>,
    #[serde(default)]
    pub init_containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    pub ephemeral_containers: Option<Vec<ContainerView>>,
    #[serde(default)]
    pub priority_class_name: Option<String>,
    #[serde(default)]
    pub runtime_class_name: Option<String>,
    #[serde(default)]
    pub node_selector: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_pull_policy: Option<String>,
}

pub fn review(context: &InTenant<'_>) -> Verdict {
    let request = context.request;
    let Some(object) = request.object.as_ref() else {
        return Verdict::deny("the request carries no Pod");
    };
    let spec_json = &object.data["spec"];
    let mut spec = match PodSpecView::deserialize(spec_json) {
        Ok(spec) => spec,
        Err(error) => return Verdict::deny(format!("cannot read the Pod's spec: {error}")),
    };
    let tenant = context.tenant;
    let name = context.tenant_name;
    // Only creation sets classes and node selector; updates (images, ephemeral containers) are
    // checked as they come, since those fields are immutable afterwards.
    let operations = if request.operation == Operation::Create {
        match apply_defaults(tenant, name, &mut spec, spec_json) {
            Ok(operations) => operations,
            Err(message) => return Verdict::deny(message),
        }
    } else {
        Vec::new()
    };
    if let Err(message) = check_pod_spec(tenant, name, &spec, "") {
        return Verdict::deny(message);
    }
    Verdict::patch(operations)
}

/// Fills the tenant's default classes and node selector into `spec`, returning the patch that
/// does the same to the request's object.
fn apply_defaults(
    tenant: &Tenant,
    name: &str,
    spec: &mut PodSpecView,
    spec_json: &Value,
) -> Result<Vec<json_patch::PatchOperation>, String> {
    let workloads = &tenant.spec.workloads;
    let mut operations = Vec::new();
    if spec.priority_class_name.is_none()
        && let Some(default) = workloads.priority_classes.as_ref().and_then(|c| c.default.clone())
    {
        operations.push(add(&["spec", "priorityClassName"], Value::String(default.clone())));
        // The Priority admission plugin filled these from the old class; it fills them again for
        // the new one when the webhook is reinvoked (reinvocationPolicy: IfNeeded).
        for field in ["priority", "preemptionPolicy"] {
            if spec_json.get(field).is_some() {
                operations.push(remove(&["spec", field]));
            }
        }
        spec.priority_class_name = Some(default);
    }
    if spec.runtime_class_name.is_none()
        && let Some(default) = workloads.runtime_classes.as_ref().and_then(|c| c.default.clone())
    {
        operations.push(add(&["spec", "runtimeClassName"], Value::String(default.clone())));
        spec.runtime_class_name = Some(default);
    }
    if !workloads.node_selector.is_empty() {
        let had_selector = spec.node_selector.is_some();
        let selector = spec.node_selector.get_or_insert_with(Default::default);
        let mut added = Vec::new();
        for (key, value) in &workloads.node_selector {
            match selector.get(key) {
                Some(existing) if existing != value => {
                    return Err(format!(
                        "tenant \"{name}\" runs its pods on nodes with {key}={value}; the pod's nodeSelector asks for {key}={existing}"
                    ));
                }
                Some(_) => {}
                None => {
                    selector.insert(key.clone(), value.clone());
                    added.push((key, value));
                }
            }
        }
        if !had_selector {
            let whole = serde_json::to_value(&*selector).unwrap_or_default();
            operations.push(add(&["spec", "nodeSelector"], whole));
        } else {
            for (key, value) in added {
                operations.push(add(&["spec", "nodeSelector", key], Value::String(value.clone())));
            }
        }
    }
    Ok(operations)
}

/// Checks a pod spec (a Pod's, or a workload's template with `context` naming where it is)
/// against the tenant's workload rules.
pub fn check_pod_spec(tenant: &Tenant, name: &str, spec: &PodSpecView, context: &str) -> Result<(), String> {
    let workloads = &tenant.spec.workloads;
    let containers = spec
        .containers
        .iter()
        .map(|c| ("container", &c.name, c.image.as_deref(), c.image_pull_policy.as_deref()))
        .chain(spec.init_containers.iter().flatten().map(|c| {
            (
                "init container",
                &c.name,
                c.image.as_deref(),
                c.image_pull_policy.as_deref(),
            )
        }))
        .chain(spec.ephemeral_containers.iter().flatten().map(|c| {
            (
                "ephemeral container",
                &c.name,
                c.image.as_deref(),
                c.image_pull_policy.as_deref(),
            )
        }));
    for (what, container, image, pull_policy) in containers {
        let image = image.unwrap_or_default();
        if !workloads.registries.is_empty() {
            let qualified = normalize_image(image);
            if !workloads
                .registries
                .iter()
                .any(|prefix| qualified.starts_with(prefix.as_str()))
            {
                return Err(format!(
                    "tenant \"{name}\" allows images only from {}; {what} \"{container}\"{context} uses {qualified}",
                    workloads.registries.join(", ")
                ));
            }
        }
        if !workloads.pull_policies.is_empty()
            && let Some(policy) = pull_policy
            && !workloads.pull_policies.iter().any(|p| p.as_str() == policy)
        {
            let allowed: Vec<&str> = workloads.pull_policies.iter().map(|p| p.as_str()).collect();
            return Err(format!(
                "tenant \"{name}\" allows imagePullPolicy {}; {what} \"{container}\"{context} uses {policy}",
                allowed.join(", ")
            ));
        }
    }
    check_class(
        name,
        "priority class",
        workloads.priority_classes.as_ref(),
        spec.priority_class_name.as_deref(),
        context,
    )?;
    check_class(
        name,
        "runtime class",
        workloads.runtime_classes.as_ref(),
        spec.runtime_class_name.as_deref(),
        context,
    )?;
    for (key, value) in &workloads.node_selector {
        if let Some(existing) = spec.node_selector.as_ref().and_then(|s| s.get(key))
            && existing != value
        {
            return Err(format!(
                "tenant \"{name}\" runs its pods on nodes with {key}={value}; the nodeSelector{context} asks for {key}={existing}"
            ));
        }
    }
    Ok(())
}

/// A class name against an allow-list; an unset class passes (a default is mutated in on pods).
pub fn check_class(
    tenant: &str,
    what: &str,
    list: Option<&ClassAllowList>,
    used: Option<&str>,
    context: &str,
) -> Result<(), String> {
    let (Some(list), Some(used)) = (list, used) else {
        return Ok(());
    };
    if list.allows(used) {
        return Ok(());
    }
    Err(format!(
        "tenant \"{tenant}\" allows the {what} {}; \"{used}\"{context} is not one of them",
        list.allowed.join(", ")
    ))
}
