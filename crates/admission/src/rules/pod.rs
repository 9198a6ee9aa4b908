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
use crate::Verdict;
use crate::image::{RegistryEntry, parse_image, parse_registry_entry};
use crate::verdict::{add, remove};

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
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub volumes: Option<Vec<VolumeView>>,
}

/// A pod volume, as far as the rules read it: its name, which source types it uses, and the
/// storage class of an ephemeral volume's claim template.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct VolumeView {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ephemeral: Option<EphemeralView>,
    #[serde(flatten)]
    pub sources: BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralView {
    #[serde(default)]
    pub volume_claim_template: Option<ClaimTemplateView>,
}

/// A PersistentVolumeClaim template (StatefulSet `volumeClaimTemplates`, ephemeral volumes).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClaimTemplateView {
    #[serde(default)]
    pub metadata: Option<ClaimTemplateMeta>,
    #[serde(default)]
    pub spec: Option<ClaimTemplateSpec>,
}

#[derive(Deserialize, Debug, Default)]
pub struct ClaimTemplateMeta {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClaimTemplateSpec {
    #[serde(default)]
    pub storage_class_name: Option<String>,
}

/// Inline volume sources that reach storage over the network by address and credentials,
/// outside any PersistentVolume Palisade can tie to a tenant.
pub const NETWORK_VOLUME_SOURCES: &[&str] = &[
    "nfs",
    "iscsi",
    "cephfs",
    "rbd",
    "glusterfs",
    "fc",
    "flocker",
    "quobyte",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "azureFile",
    "azureDisk",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "cinder",
    "vsphereVolume",
    "photonPersistentDisk",
    "flexVolume",
];

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
    // Volumes and the node are fixed at creation; checking them on updates would only stop a
    // pod admitted before these rules from being relabelled or garbage-collected.
    if request.operation == Operation::Create {
        if let Err(message) = check_volumes(tenant, name, &spec, "") {
            return Verdict::deny(message);
        }
        if !context.requester.username.starts_with("system:node:")
            && let Err(message) = check_node_name(name, spec.node_name.as_deref(), "")
        {
            return Verdict::deny(message);
        }
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
    let entries: Vec<Option<RegistryEntry>> = workloads
        .registries
        .iter()
        .map(|entry| parse_registry_entry(entry))
        .collect();
    for (what, container, image, pull_policy) in containers {
        let image = image.unwrap_or_default();
        let parsed = parse_image(image.trim());
        if !workloads.registries.is_empty() {
            let parsed = match &parsed {
                Ok(parsed) => parsed,
                Err(problem) => {
                    return Err(format!(
                        "tenant \"{name}\" allows images only from {}; {what} \"{container}\"{context} uses \"{image}\", which is not a valid image reference ({problem})",
                        workloads.registries.join(", ")
                    ));
                }
            };
            if !entries.iter().flatten().any(|entry| entry.allows(parsed)) {
                return Err(format!(
                    "tenant \"{name}\" allows images only from {}; {what} \"{container}\"{context} uses {}",
                    workloads.registries.join(", "),
                    parsed.qualified()
                ));
            }
        }
        if !workloads.pull_policies.is_empty()
            && let Some(policy) = pull_policy
            && !workloads.pull_policies.iter().any(|p| p.as_str() == policy)
        {
            let allowed: Vec<&str> = workloads.pull_policies.iter().map(|p| p.as_str()).collect();
            // The API server fills imagePullPolicy in before admission, so a policy equal to its
            // default may not have been written by anyone: say so, and how to choose.
            let defaulted = parsed
                .as_ref()
                .is_ok_and(|parsed| parsed.defaulted_pull_policy() == policy);
            let origin = if defaulted {
                format!(
                    " (the API server's default for {} when none is set: set imagePullPolicy to {} explicitly{})",
                    if policy == "Always" {
                        "an image tagged :latest or not tagged"
                    } else {
                        "a tagged image"
                    },
                    allowed.join(" or "),
                    if policy == "Always" { ", or tag the image" } else { "" }
                )
            } else {
                String::new()
            };
            return Err(format!(
                "tenant \"{name}\" allows imagePullPolicy {}; {what} \"{container}\"{context} uses {policy}{origin}",
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

/// Inline network volumes (unless the Tenant allows them) and the storage class of ephemeral
/// volumes' claim templates.
pub fn check_volumes(tenant: &Tenant, name: &str, spec: &PodSpecView, context: &str) -> Result<(), String> {
    for volume in spec.volumes.iter().flatten() {
        if !tenant.spec.workloads.allow_inline_network_volumes
            && let Some(source) = NETWORK_VOLUME_SOURCES
                .iter()
                .find(|source| volume.sources.contains_key(**source))
        {
            return Err(format!(
                "tenant \"{name}\" does not allow inline network volumes (spec.workloads.allowInlineNetworkVolumes is false); volume \"{}\"{context} is a {source} volume: use a PersistentVolumeClaim of an allowed storage class instead",
                volume.name
            ));
        }
        if let Some(template) = volume.ephemeral.as_ref().and_then(|e| e.volume_claim_template.as_ref()) {
            let what = format!(" (ephemeral volume \"{}\"{context})", volume.name);
            check_claim_template(tenant, name, template, &what)?;
        }
    }
    Ok(())
}

/// A claim template's storage class against the tenant's allow-list (an unset class gets the
/// default when the claim is made).
pub fn check_claim_template(
    tenant: &Tenant,
    name: &str,
    template: &ClaimTemplateView,
    context: &str,
) -> Result<(), String> {
    let class = template.spec.as_ref().and_then(|s| s.storage_class_name.as_deref());
    check_class(
        name,
        "storage class",
        tenant.spec.storage.classes.as_ref(),
        class,
        context,
    )
}

/// `spec.nodeName` set by its author binds the pod to a node without the scheduler: no taints,
/// no pool, no capacity. Tenants never get to choose a node by name (their node selector picks
/// the pool); the scheduler sets nodeName through `pods/binding`, which is not this path, and the
/// kubelet's mirror pods are the node's own.
pub fn check_node_name(name: &str, node_name: Option<&str>, context: &str) -> Result<(), String> {
    match node_name.filter(|n| !n.is_empty()) {
        None => Ok(()),
        Some(node) => Err(format!(
            "tenant \"{name}\" pods are placed by the scheduler: spec.nodeName{context} names node \"{node}\", which would bypass the scheduler, taints and the tenant's node pool; remove spec.nodeName (use the tenant's node selector, or nodeAffinity within it)"
        )),
    }
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
