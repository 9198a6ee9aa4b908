//! Pods, including init and ephemeral containers (the `pods/ephemeralcontainers` subresource) and
//! pods written by controllers: registries, pull policies, priority and runtime classes, node
//! selector. Defaults and the node selector are mutated in; the rest is checked.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::core::admission::Operation;
use palisade_api::{ClassAllowList, Tenant};

use super::{InTenant, object_json, typed};
use crate::{Verdict, normalize_image};

pub fn review(context: &InTenant<'_>) -> Verdict {
    let request = context.request;
    let pod: Pod = match typed(request.object.as_ref(), "Pod") {
        Ok(pod) => pod,
        Err(denial) => return denial,
    };
    let Some(spec) = pod.spec.as_ref() else {
        return Verdict::deny("the Pod has no spec");
    };
    let tenant = context.tenant;
    let name = context.tenant_name;
    // Only creation sets classes and node selector; updates (images, ephemeral containers) are
    // checked as they come, since those fields are immutable afterwards.
    let mutated = if request.operation == Operation::Create {
        match defaults(tenant, name, spec) {
            Ok(mutated) => mutated,
            Err(message) => return Verdict::deny(message),
        }
    } else {
        spec.clone()
    };
    if let Err(message) = check_pod_spec(tenant, name, &mutated, "") {
        return Verdict::deny(message);
    }
    if mutated == *spec {
        return Verdict::Allow;
    }
    let Some(before) = object_json(request.object.as_ref()) else {
        return Verdict::deny("the request carries no Pod");
    };
    let mut after = before.clone();
    let mutated_json = serde_json::to_value(&mutated).unwrap_or_default();
    for field in ["priorityClassName", "runtimeClassName", "nodeSelector"] {
        if mutated_json[field] != before["spec"][field] {
            after["spec"][field] = mutated_json[field].clone();
        }
    }
    if after["spec"]["priorityClassName"] != before["spec"]["priorityClassName"]
        && let Some(spec) = after["spec"].as_object_mut()
    {
        // The Priority admission plugin filled these from the old class; it fills them again for
        // the new one when the webhook is reinvoked (reinvocationPolicy: IfNeeded).
        spec.remove("priority");
        spec.remove("preemptionPolicy");
    }
    crate::Verdict::patch_between(&before, &after)
}

/// The pod spec with the tenant's default classes and node selector filled in.
fn defaults(tenant: &Tenant, name: &str, spec: &PodSpec) -> Result<PodSpec, String> {
    let workloads = &tenant.spec.workloads;
    let mut spec = spec.clone();
    if spec.priority_class_name.is_none() {
        spec.priority_class_name = workloads.priority_classes.as_ref().and_then(|c| c.default.clone());
    }
    if spec.runtime_class_name.is_none() {
        spec.runtime_class_name = workloads.runtime_classes.as_ref().and_then(|c| c.default.clone());
    }
    if !workloads.node_selector.is_empty() {
        let selector = spec.node_selector.get_or_insert_with(BTreeMap::new);
        for (key, value) in &workloads.node_selector {
            match selector.get(key) {
                Some(existing) if existing != value => {
                    return Err(format!(
                        "tenant \"{name}\" runs its pods on nodes with {key}={value}; the pod's nodeSelector asks for {key}={existing}"
                    ));
                }
                _ => {
                    selector.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Ok(spec)
}

/// Checks a pod spec (a Pod's, or a workload's template with `context` naming where it is)
/// against the tenant's workload rules.
pub fn check_pod_spec(tenant: &Tenant, name: &str, spec: &PodSpec, context: &str) -> Result<(), String> {
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
