//! Pods: the quota evaluator's `PodUsageFunc` over `PodRequests`/`PodLimits`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use palisade_tenancy::quantity::Amount;
use serde_json::Value;

use super::{Usage, UsageError, array, max_into, resource_list, string, sum_into};

type List = BTreeMap<String, Amount>;

const HUGEPAGES_PREFIX: &str = "hugepages-";
const REQUESTS_PREFIX: &str = "requests.";

/// The pod's usage at `now` (seconds since the epoch).
pub(super) fn usage(pod: &Value, now: i64) -> Result<Usage, UsageError> {
    let mut used = Usage::new();
    // Object count: every stored pod, terminal or not.
    used.insert("count/pods".to_string(), Amount::units(1));
    if !is_counted(pod, now)? {
        return Ok(used);
    }
    let requests = pod_requests(pod)?;
    let limits = pod_limits(pod)?;
    used.extend(compute_usage(&requests, &limits));
    Ok(used)
}

/// Whether a pod still counts for `pods` and compute resources at `now`: not when it is terminal
/// (phase Succeeded or Failed), nor when it is being deleted and `deletionTimestamp` plus
/// `deletionGracePeriodSeconds` lies before `now` (a pod stuck terminating on a lost node).
pub fn is_counted(pod: &Value, now: i64) -> Result<bool, UsageError> {
    let phase = string(pod.pointer("/status/phase"), "status.phase")?;
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Ok(false);
    }
    let deletion = pod.pointer("/metadata/deletionTimestamp").filter(|v| !v.is_null());
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .filter(|v| !v.is_null());
    if let (Some(deletion), Some(grace)) = (deletion, grace) {
        let deleted_at = serde_json::from_value::<Time>(deletion.clone())
            .map_err(|e| {
                UsageError::at(
                    "metadata.deletionTimestamp",
                    format!("{deletion} is not an RFC 3339 time: {e}"),
                )
            })?
            .0
            .as_second();
        let grace = grace.as_i64().ok_or_else(|| {
            UsageError::at(
                "metadata.deletionGracePeriodSeconds",
                format!("{grace} is not a whole number of seconds"),
            )
        })?;
        if now > deleted_at.saturating_add(grace) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The resource names of a pod's (or one container's) requests and limits, as a quota sees them.
fn compute_usage(requests: &List, limits: &List) -> Usage {
    let mut used = Usage::new();
    used.insert("pods".to_string(), Amount::units(1));
    for base in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(request) = requests.get(base) {
            used.insert(base.to_string(), *request);
            used.insert(format!("{REQUESTS_PREFIX}{base}"), *request);
        }
        if let Some(limit) = limits.get(base) {
            used.insert(format!("limits.{base}"), *limit);
        }
    }
    for (name, request) in requests {
        if name.starts_with(HUGEPAGES_PREFIX) {
            used.insert(name.clone(), *request);
            used.insert(format!("{REQUESTS_PREFIX}{name}"), *request);
        }
        if is_extended_resource(name) {
            // Extended resources are only quotable as `requests.<name>`.
            used.insert(format!("{REQUESTS_PREFIX}{name}"), *request);
        }
    }
    used
}

/// An extended resource (`nvidia.com/gpu`): fully qualified, outside the `kubernetes.io` domain,
/// and not already `requests.`-prefixed.
pub(crate) fn is_extended_resource(name: &str) -> bool {
    // Native resources are unqualified or in the `kubernetes.io` domain (Kubernetes checks for
    // the substring `kubernetes.io/`).
    if !name.contains('/') || name.contains("kubernetes.io/") || name.starts_with(REQUESTS_PREFIX) {
        return false;
    }
    palisade_tenancy::validate::qualified_name_problem(&format!("{REQUESTS_PREFIX}{name}")).is_none()
}

/// Resources a pod may set at pod level (`spec.resources`).
fn is_pod_level_resource(name: &str) -> bool {
    name == "cpu" || name == "memory" || name.starts_with(HUGEPAGES_PREFIX)
}

/// One container of the pod, as read for counting.
struct Container<'v> {
    name: &'v str,
    sidecar: bool,
    requests: List,
    limits: List,
    /// `status.(init)containerStatuses[]` of this container when it carries `resources`.
    status: Option<ContainerStatus>,
}

struct ContainerStatus {
    requests: List,
    limits: List,
    allocated: List,
}

struct PodView<'v> {
    containers: Vec<Container<'v>>,
    init_containers: Vec<Container<'v>>,
    resize_infeasible: bool,
}

fn read(pod: &Value) -> Result<PodView<'_>, UsageError> {
    let mut statuses: BTreeMap<&str, ContainerStatus> = BTreeMap::new();
    for list in ["containerStatuses", "initContainerStatuses"] {
        let field = format!("status.{list}");
        for (i, status) in array(pod.pointer(&format!("/status/{list}")), &field)?
            .iter()
            .enumerate()
        {
            let at = format!("{field}[{i}]");
            let Some(name) = string(status.get("name"), &format!("{at}.name"))? else {
                continue;
            };
            let Some(resources) = status.get("resources").filter(|r| !r.is_null()) else {
                continue;
            };
            statuses.insert(
                name,
                ContainerStatus {
                    requests: resource_list(resources.get("requests"), &format!("{at}.resources.requests"))?,
                    limits: resource_list(resources.get("limits"), &format!("{at}.resources.limits"))?,
                    allocated: resource_list(status.get("allocatedResources"), &format!("{at}.allocatedResources"))?,
                },
            );
        }
    }
    let mut containers_of = |list: &str| -> Result<Vec<Container<'_>>, UsageError> {
        let field = format!("spec.{list}");
        let mut out = Vec::new();
        for (i, container) in array(pod.pointer(&format!("/spec/{list}")), &field)?.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let name = string(container.get("name"), &format!("{at}.name"))?.unwrap_or_default();
            let resources = container.get("resources");
            let sidecar = list == "initContainers"
                && string(container.get("restartPolicy"), &format!("{at}.restartPolicy"))? == Some("Always");
            // Status resources count for app containers and sidecars, never for plain init
            // containers (they have run to completion).
            let status = if list == "containers" || sidecar {
                statuses.remove(name)
            } else {
                None
            };
            out.push(Container {
                name,
                sidecar,
                requests: resource_list(
                    resources.and_then(|r| r.get("requests")),
                    &format!("{at}.resources.requests"),
                )?,
                limits: resource_list(
                    resources.and_then(|r| r.get("limits")),
                    &format!("{at}.resources.limits"),
                )?,
                status,
            });
        }
        Ok(out)
    };
    let containers = containers_of("containers")?;
    let init_containers = containers_of("initContainers")?;
    let mut resize_infeasible = false;
    for (i, condition) in array(pod.pointer("/status/conditions"), "status.conditions")?
        .iter()
        .enumerate()
    {
        if string(condition.get("type"), &format!("status.conditions[{i}].type"))? == Some("PodResizePending") {
            resize_infeasible =
                string(condition.get("reason"), &format!("status.conditions[{i}].reason"))? == Some("Infeasible");
            break;
        }
    }
    Ok(PodView {
        containers,
        init_containers,
        resize_infeasible,
    })
}

impl Container<'_> {
    /// Requests in effect: after an in-place resize, the larger of what the spec asks, what the
    /// kubelet reports and what it allocated; only the reported ones when the resize is infeasible.
    fn effective_requests(&self, resize_infeasible: bool) -> List {
        let Some(status) = &self.status else {
            return self.requests.clone();
        };
        let mut out = List::new();
        if !resize_infeasible {
            max_into(&mut out, &self.requests);
        }
        max_into(&mut out, &status.requests);
        max_into(&mut out, &status.allocated);
        out
    }

    fn effective_limits(&self, resize_infeasible: bool) -> List {
        let Some(status) = &self.status else {
            return self.limits.clone();
        };
        if resize_infeasible {
            return status.limits.clone();
        }
        let mut out = self.limits.clone();
        max_into(&mut out, &status.limits);
        out
    }
}

/// Sum of app containers and sidecars, against the peak of any init container (plus the sidecars
/// already running when it starts), per resource.
fn aggregate(view: &PodView<'_>, of: impl Fn(&Container<'_>) -> List) -> List {
    let mut total = List::new();
    for container in &view.containers {
        sum_into(&mut total, &of(container));
    }
    let mut sidecars = List::new();
    let mut init_peak = List::new();
    for container in &view.init_containers {
        let own = of(container);
        let while_running = if container.sidecar {
            sum_into(&mut total, &own);
            sum_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            sum_into(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max_into(&mut init_peak, &while_running);
    }
    max_into(&mut total, &init_peak);
    total
}

fn pod_level(pod: &Value, which: &str) -> Result<List, UsageError> {
    let field = format!("spec.resources.{which}");
    let list = resource_list(pod.pointer(&format!("/spec/resources/{which}")), &field)?;
    Ok(list
        .into_iter()
        .filter(|(name, _)| is_pod_level_resource(name))
        .collect())
}

/// `PodRequests`: containers aggregated, pod-level requests in their place, overhead added.
fn pod_requests(pod: &Value) -> Result<List, UsageError> {
    let view = read(pod)?;
    let mut requests = aggregate(&view, |c| c.effective_requests(view.resize_infeasible));
    requests.extend(pod_level(pod, "requests")?);
    let overhead = resource_list(pod.pointer("/spec/overhead"), "spec.overhead")?;
    sum_into(&mut requests, &overhead);
    Ok(requests)
}

/// `PodLimits`: containers aggregated, pod-level limits in their place (when the pod sets any
/// pod-level resource), overhead added to the resources that have a limit.
fn pod_limits(pod: &Value) -> Result<List, UsageError> {
    let view = read(pod)?;
    let mut limits = aggregate(&view, |c| c.effective_limits(view.resize_infeasible));
    let pod_requests = pod_level(pod, "requests")?;
    let pod_limits = pod_level(pod, "limits")?;
    if !pod_requests.is_empty() || !pod_limits.is_empty() {
        limits.extend(pod_limits);
    }
    let overhead = resource_list(pod.pointer("/spec/overhead"), "spec.overhead")?;
    for (name, amount) in overhead {
        if let Some(limit) = limits.get_mut(&name) {
            *limit += amount;
        }
    }
    Ok(limits)
}

/// The quota resources Kubernetes requires every container to state explicitly when a quota in
/// the namespace tracks them: of `cpu`, `memory`, `requests.cpu`, `requests.memory`, `limits.cpu`,
/// `limits.memory`, those in `tracked` that some container (app or init) leaves out, each with the
/// names of those containers. The ResourceQuota admission refuses such a pod with
/// `must specify limits.cpu for: app; ...`. Empty when the pod is acceptable.
pub fn missing_constraints<'t>(
    tracked: impl IntoIterator<Item = &'t str>,
    pod: &Value,
) -> Result<Vec<(String, Vec<String>)>, UsageError> {
    const VALIDATED: [&str; 6] = [
        "cpu",
        "memory",
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
    ];
    let required: BTreeSet<&str> = tracked.into_iter().filter(|r| VALIDATED.contains(r)).collect();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if required.is_empty() {
        return Ok(Vec::new());
    }
    let view = read(pod)?;
    for container in view.containers.iter().chain(&view.init_containers) {
        let stated = compute_usage(&container.requests, &container.limits);
        for resource in &required {
            if !stated.contains_key(*resource) {
                missing
                    .entry((*resource).to_string())
                    .or_default()
                    .push(container.name.to_string());
            }
        }
    }
    Ok(missing.into_iter().collect())
}
