//! Lenient serde shapes of the Kubernetes objects the engine reads. Unknown fields are ignored;
//! validation happens when they are converted into the model.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `metadata`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Option<BTreeMap<String, Value>>,
    pub annotations: Option<BTreeMap<String, Value>>,
    pub owner_references: Vec<OwnerRef>,
}

/// `metadata.ownerReferences[]`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub controller: Option<bool>,
}

/// A container's port.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: Option<Value>,
    pub protocol: Option<String>,
}

/// A container.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    pub ports: Vec<ContainerPort>,
}

/// `PodSpec` (the parts that matter).
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    /// KubeVirt VirtualMachine template networks.
    pub networks: Vec<VmNetwork>,
    /// Volumes (KubeVirt cloud-init network data gives VM addresses).
    pub volumes: Vec<Volume>,
}

/// A volume; only KubeVirt `cloudInitNoCloud` matters.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct Volume {
    pub cloud_init_no_cloud: Option<CloudInit>,
}

/// `cloudInitNoCloud`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct CloudInit {
    pub network_data: Option<String>,
}

/// A KubeVirt network (`pod: {}` or `multus: {networkName}`).
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct VmNetwork {
    pub multus: Option<Multus>,
}

/// `multus`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct Multus {
    pub network_name: String,
}

/// `status` of a Pod.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pub pod_ips: Vec<PodIp>,
}

/// `status.podIPs[]`.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct PodIp {
    pub ip: String,
}

/// A Pod.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct Pod {
    pub metadata: Meta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

/// `spec.template`.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct Template {
    pub metadata: Meta,
    pub spec: PodSpec,
}

/// A workload's spec (Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job,
/// VirtualMachine) or a CronJob's `jobTemplate`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadSpec {
    pub template: Option<Template>,
    pub job_template: Option<Box<JobTemplate>>,
}

/// `spec.jobTemplate` of a CronJob.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct JobTemplate {
    pub spec: WorkloadSpec,
}

/// A workload object.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct Workload {
    pub metadata: Meta,
    pub spec: WorkloadSpec,
}

/// A label selector.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default, rename_all = "camelCase")]
pub struct Selector {
    pub match_labels: Option<BTreeMap<String, Value>>,
    pub match_expressions: Option<Vec<Requirement>>,
}

/// `matchExpressions[]`.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    pub values: Option<Vec<Value>>,
}

/// A NetworkPolicy.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct NetworkPolicy {
    pub metadata: Meta,
    pub spec: NetworkPolicySpec,
}

/// `NetworkPolicySpec`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    pub pod_selector: Option<Selector>,
    pub policy_types: Option<Vec<String>>,
    pub ingress: Option<Vec<NpRule>>,
    pub egress: Option<Vec<NpRule>>,
}

/// An ingress or egress rule.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct NpRule {
    pub from: Option<Vec<NpPeer>>,
    pub to: Option<Vec<NpPeer>>,
    pub ports: Option<Vec<NpPort>>,
}

/// `NetworkPolicyPeer`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct NpPeer {
    pub pod_selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub ip_block: Option<IpBlock>,
}

/// `IPBlock`.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct IpBlock {
    pub cidr: String,
    pub except: Option<Vec<String>>,
}

/// `NetworkPolicyPort`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct NpPort {
    pub protocol: Option<String>,
    pub port: Option<Value>,
    pub end_port: Option<Value>,
}

/// An AdminNetworkPolicy or BaselineAdminNetworkPolicy.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct AdminPolicy {
    pub metadata: Meta,
    pub spec: AdminSpec,
}

/// Their spec.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct AdminSpec {
    pub priority: Option<Value>,
    pub subject: Option<AdminSubject>,
    pub ingress: Vec<AdminRule>,
    pub egress: Vec<AdminRule>,
}

/// `subject` (and the `pods` peer shape).
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct AdminSubject {
    pub namespaces: Option<Selector>,
    pub pods: Option<AdminPods>,
}

/// `pods: {namespaceSelector, podSelector}`.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct AdminPods {
    pub namespace_selector: Option<Selector>,
    pub pod_selector: Option<Selector>,
}

/// An admin rule.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct AdminRule {
    pub name: String,
    pub action: String,
    pub from: Vec<AdminPeer>,
    pub to: Vec<AdminPeer>,
    pub ports: Option<Vec<AdminPort>>,
}

/// An admin peer.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct AdminPeer {
    pub namespaces: Option<Selector>,
    pub pods: Option<AdminPods>,
    pub networks: Option<Vec<String>>,
    pub nodes: Option<Value>,
}

/// An admin port.
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
pub struct AdminPort {
    pub port_number: Option<PortNumber>,
    pub port_range: Option<PortRange>,
    pub named_port: Option<String>,
}

/// `portNumber`.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct PortNumber {
    pub protocol: Option<String>,
    pub port: Option<Value>,
}

/// `portRange`.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct PortRange {
    pub protocol: Option<String>,
    pub start: Option<Value>,
    pub end: Option<Value>,
}
