//! The engine's input: namespaces, workloads and policies, already parsed and validated.

use crate::ports::{ConnSet, PortSet, Protocol};
use crate::selector::{Labels, Selector};
use std::net::Ipv4Addr;

/// Where an object came from, for messages: the file (or other source) and `Kind ns/name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// File name or other source name.
    pub source: String,
}

/// A namespace and its labels (`kubernetes.io/metadata.name` always included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
}

/// A named container port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    /// Port name, when named.
    pub name: Option<String>,
    /// Port number.
    pub port: u16,
    /// Protocol (default TCP).
    pub protocol: Protocol,
}

/// One endpoint: a workload (whose pods collapse into it) or a bare pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Namespace.
    pub namespace: String,
    /// Name of the workload (or of the pod's owner, or of the bare pod).
    pub name: String,
    /// Kind printed in brackets: Deployment, ReplicaSet, Pod, ...
    pub kind: String,
    /// Pod labels.
    pub labels: Labels,
    /// Container ports (for named-port resolution).
    pub ports: Vec<ContainerPort>,
    /// Pod IPs, when known (used only when ipBlocks may match pod IPs).
    pub ips: Vec<Ipv4Addr>,
    /// Secondary networks (NetworkAttachmentDefinitions), by name.
    pub secondary_networks: Vec<String>,
    /// Addresses on secondary networks, when known (KubeVirt cloud-init network data).
    pub secondary_ips: Vec<Ipv4Addr>,
    /// Where it was defined.
    pub origin: Origin,
}

impl Workload {
    /// `ns/name[Kind]`, the corpus spelling.
    pub fn display_name(&self) -> String {
        format!("{}/{}[{}]", self.namespace, self.name, self.kind)
    }
}

/// An IPv4 block with exceptions, as inclusive `u32` bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpBlock {
    /// The CIDR as written.
    pub cidr: String,
    /// Inclusive range of the CIDR.
    pub range: (u32, u32),
    /// Inclusive ranges of the exceptions.
    pub except: Vec<(u32, u32)>,
}

impl IpBlock {
    /// True when `ip` is in the CIDR and in no exception.
    pub fn contains(&self, ip: u32) -> bool {
        self.range.0 <= ip && ip <= self.range.1 && !self.except.iter().any(|&(a, b)| a <= ip && ip <= b)
    }

    /// True when the whole range `lo..=hi` lies in the block (ranges never straddle a boundary).
    pub fn contains_range(&self, lo: u32, hi: u32) -> bool {
        self.contains(lo) && self.contains(hi)
    }
}

/// Which namespaces a pod peer looks in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceScope {
    /// Only this namespace (a NetworkPolicy peer with a podSelector alone).
    Named(String),
    /// Namespaces matching the selector.
    Selector(Selector),
    /// Cilium endpoint selector: the pod selector is matched against Cilium's endpoint labels
    /// (`k8s:<pod label>`, `k8s:io.kubernetes.pod.namespace`,
    /// `k8s:io.cilium.k8s.namespace.labels.<namespace label>`), within this namespace if given.
    Cilium(Option<String>),
}

/// The kind of a policy in the NetworkPolicy tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PolicyKind {
    /// networking.k8s.io/v1 NetworkPolicy.
    #[default]
    NetworkPolicy,
    /// Multus MultiNetworkPolicy.
    MultiNetworkPolicy,
    /// cilium.io/v2 CiliumNetworkPolicy.
    CiliumNetworkPolicy,
    /// cilium.io/v2 CiliumClusterwideNetworkPolicy.
    CiliumClusterwideNetworkPolicy,
}

impl PolicyKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "NetworkPolicy",
            PolicyKind::MultiNetworkPolicy => "MultiNetworkPolicy",
            PolicyKind::CiliumNetworkPolicy => "CiliumNetworkPolicy",
            PolicyKind::CiliumClusterwideNetworkPolicy => "CiliumClusterwideNetworkPolicy",
        }
    }
}

/// A set of pods: namespaces in scope AND pods matching the selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodSet {
    /// Namespaces.
    pub namespaces: NamespaceScope,
    /// Pods within them.
    pub pods: Selector,
}

/// A peer of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// In-cluster pods.
    Pods(PodSet),
    /// External addresses (NetworkPolicy ipBlock; AdminNetworkPolicy networks).
    Ips(Vec<IpBlock>),
    /// A peer type the engine cannot evaluate (e.g. ANP `nodes`); matches nothing.
    Unsupported(String),
}

/// A port item of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortItem {
    /// Numeric ports (or all ports of a protocol).
    Numbers(Protocol, PortSet),
    /// A named port resolved on the destination pod; `None` protocol = the container port's.
    Named(Option<Protocol>, String),
}

/// The `ports` of a rule; `None` = all ports and protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    /// Items, ORed. `None` means every connection.
    pub items: Option<Vec<PortItem>>,
}

impl Ports {
    /// All ports of every protocol.
    pub fn any() -> Self {
        Ports { items: None }
    }

    /// True when some item is a named port.
    pub fn has_named(&self) -> bool {
        self.items.iter().flatten().any(|i| matches!(i, PortItem::Named(..)))
    }

    /// The allowed connections towards a destination with `dst_ports` (None = external).
    pub fn resolve(&self, dst_ports: Option<&[ContainerPort]>) -> ConnSet {
        let Some(items) = &self.items else {
            return ConnSet::all();
        };
        let mut out = ConnSet::none();
        for item in items {
            match item {
                PortItem::Numbers(p, set) => out = out.union(&ConnSet::ports(*p, set.clone())),
                PortItem::Named(proto, name) => {
                    for cp in dst_ports.unwrap_or(&[]) {
                        if cp.name.as_deref() == Some(name.as_str()) && proto.is_none_or(|p| p == cp.protocol) {
                            out = out.union(&ConnSet::ports(cp.protocol, PortSet::range(cp.port, cp.port)));
                        }
                    }
                }
            }
        }
        out
    }
}

/// A NetworkPolicy rule: peers (None = all, including external) and ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpRule {
    /// `from`/`to`; `None` when absent or empty (all peers).
    pub peers: Option<Vec<Peer>>,
    /// `ports`.
    pub ports: Ports,
}

/// A NetworkPolicy (policyTypes defaulting applied), or a Cilium policy in the same tier: allow
/// rules are a union across policies; Cilium deny rules win over every allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Kind.
    pub kind: PolicyKind,
    /// Namespace (empty for cluster-wide Cilium policies).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.podSelector`.
    pub pod_selector: Selector,
    /// Ingress rules when the policy isolates ingress, else `None`.
    pub ingress: Option<Vec<NpRule>>,
    /// Egress rules when the policy isolates egress, else `None`.
    pub egress: Option<Vec<NpRule>>,
    /// The pods it applies to, when not `pod_selector` in `namespace` (Cilium endpoint selectors).
    pub subject: Option<PodSet>,
    /// Deny rules (Cilium `ingressDeny`, `egressDeny`).
    pub deny: [Vec<NpRule>; 2],
    /// Where it was defined.
    pub origin: Origin,
}

impl NetworkPolicy {
    /// `Kind ns/name` or `Kind name` for cluster-wide policies.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} '{}'", self.kind.as_str(), self.name)
        } else {
            format!("{} '{}/{}'", self.kind.as_str(), self.namespace, self.name)
        }
    }
}

/// AdminNetworkPolicy rule action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Allow (ends evaluation).
    Allow,
    /// Deny (ends evaluation).
    Deny,
    /// Pass to NetworkPolicy and BaselineAdminNetworkPolicy.
    Pass,
}

/// An AdminNetworkPolicy / BaselineAdminNetworkPolicy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminRule {
    /// Rule name.
    pub name: String,
    /// Action.
    pub action: Action,
    /// Peers (ORed).
    pub peers: Vec<Peer>,
    /// Ports.
    pub ports: Ports,
}

/// An AdminNetworkPolicy (with a priority) or the BaselineAdminNetworkPolicy (without).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPolicy {
    /// Name.
    pub name: String,
    /// Priority (ANP); `None` for the BANP.
    pub priority: Option<u32>,
    /// The pods the policy applies to.
    pub subject: PodSet,
    /// Ingress rules in order.
    pub ingress: Vec<AdminRule>,
    /// Egress rules in order.
    pub egress: Vec<AdminRule>,
    /// Where it was defined.
    pub origin: Origin,
}

impl AdminPolicy {
    /// `AdminNetworkPolicy` or `BaselineAdminNetworkPolicy`.
    pub fn kind(&self) -> &'static str {
        if self.priority.is_some() {
            "AdminNetworkPolicy"
        } else {
            "BaselineAdminNetworkPolicy"
        }
    }
}

/// Everything the engine analyses.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// Namespaces (explicit and implied).
    pub namespaces: Vec<Namespace>,
    /// Workloads and bare pods.
    pub workloads: Vec<Workload>,
    /// NetworkPolicies.
    pub network_policies: Vec<NetworkPolicy>,
    /// AdminNetworkPolicies.
    pub admin_policies: Vec<AdminPolicy>,
    /// The BaselineAdminNetworkPolicy, if any.
    pub baseline: Option<AdminPolicy>,
    /// User-defined networks and network attachment definitions.
    pub networks: Vec<NetworkDef>,
    /// MultiNetworkPolicies (NetworkPolicy semantics on secondary networks), with the networks
    /// (by name) each applies to.
    pub multi_network_policies: Vec<(NetworkPolicy, Vec<String>)>,
    /// Services.
    pub services: Vec<Service>,
    /// Services exposed through Ingress / Route objects.
    pub exposures: Vec<Exposure>,
    /// Notes (ignored kinds, collapsed pods, ignored IPv6 blocks, ...).
    pub notes: Vec<String>,
}

impl AdminPolicy {
    /// The rules of one direction.
    pub fn ingress_or_egress(&self, dir: crate::engine::Direction) -> &[AdminRule] {
        match dir {
            crate::engine::Direction::Ingress => &self.ingress,
            crate::engine::Direction::Egress => &self.egress,
        }
    }
}

/// A port reference: a number or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    /// By number.
    Number(u16),
    /// By name.
    Name(String),
}

/// A Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// Port name.
    pub name: Option<String>,
    /// The Service's port.
    pub port: u16,
    /// The pods' port (defaults to `port`).
    pub target: PortRef,
    /// Protocol.
    pub protocol: crate::ports::Protocol,
}

/// A Service with a selector (only those route traffic to workloads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.selector`.
    pub selector: Labels,
    /// Ports.
    pub ports: Vec<ServicePort>,
}

/// How an Ingress or Route picks the Service's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExposedPort {
    /// Ingress: the Service port with this number or name.
    ServicePort(PortRef),
    /// Route: the Service port with this name or target port (number or name).
    RouteTarget(PortRef),
    /// Route without `port`: every Service port.
    All,
}

/// A Service that an Ingress or Route exposes to the ingress controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// Namespace of the Ingress/Route and the Service.
    pub namespace: String,
    /// Service name.
    pub service: String,
    /// Which port.
    pub port: ExposedPort,
    /// `Ingress ns/name` or `Route ns/name`, for explanations.
    pub by: String,
}

/// A network other than the default pod network (OVN-Kubernetes UDN/CUDN, Multus NAD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkDef {
    /// A namespace's UserDefinedNetwork.
    Udn {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Primary (replaces the pod network) or secondary.
        primary: bool,
    },
    /// A ClusterUserDefinedNetwork spanning the namespaces it selects.
    Cudn {
        /// Name.
        name: String,
        /// Namespaces.
        namespaces: Selector,
        /// Primary or secondary.
        primary: bool,
    },
    /// A NetworkAttachmentDefinition (secondary network).
    Nad {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}
