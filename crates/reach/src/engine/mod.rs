//! The analysis: compile policies against the cluster once, group indistinguishable workloads into
//! classes, then evaluate class pairs.

mod eval;
mod ingress;
mod output;
mod table;

pub use eval::{Direction, Step, Target};
pub use ingress::INGRESS_CONTROLLER;
pub use output::{Connection, format_json, format_line, format_text};

use crate::bitset::BitSet;
use crate::bitset::FxHashMap;
use crate::ipv4;
use crate::model::{Cluster, ContainerPort, IpBlock, NamespaceScope, Peer, PodSet, PortItem, Ports};
use crate::ports::ConnSet;
use crate::selector::Selector;
use std::collections::BTreeSet;

/// Choices Kubernetes leaves to the CNI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Whether ipBlock / networks peers also match pod IPs (from `status.podIP`). The corpus's
    /// behaviour (default) is no: ipBlocks match external addresses only.
    pub ipblock_matches_pod_ips: bool,
    /// Give every workload its own class (no grouping). Slower; for cross-checking the grouping.
    pub ungrouped: bool,
}

/// A compiled peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum CPeer {
    Pods(usize),
    Ips(usize),
    Nothing,
}

/// A compiled rule.
#[derive(Clone, Debug)]
struct CRule {
    /// `None` = every peer (NetworkPolicy rule without from/to).
    peers: Option<Vec<CPeer>>,
    ports: Ports,
    /// The rule's connections when it has no named port.
    fixed: Option<ConnSet>,
}

impl CRule {
    fn conns(&self, dst_ports: Option<&[ContainerPort]>) -> ConnSet {
        match &self.fixed {
            Some(c) => c.clone(),
            None => self.ports.resolve(dst_ports),
        }
    }
}

/// A class of workloads that no policy tells apart.
#[derive(Clone, Debug)]
pub struct Class {
    /// Workload indices (into `Cluster::workloads`).
    pub members: Vec<usize>,
    pod_sets: BitSet,
    ip_peers: BitSet,
    ports: Vec<ContainerPort>,
    /// NetworkPolicy indices isolating ingress / egress.
    nps: [Vec<usize>; 2],
    /// Policy indices with deny rules (Cilium) for ingress / egress.
    denies: [Vec<usize>; 2],
    /// AdminNetworkPolicy indices selecting the class, by priority.
    anps: Vec<usize>,
    banp: bool,
}

/// The compiled analysis of one cluster.
pub struct Analysis<'c> {
    /// The input.
    pub cluster: &'c Cluster,
    options: Options,
    /// External address ranges, inclusive: first those that split sources (from ingress blocks),
    /// then those that split destinations (from egress blocks).
    pub atoms: Vec<(u32, u32)>,
    /// `atoms[..source_atoms]` are the source ranges.
    pub source_atoms: usize,
    /// Workload classes.
    pub classes: Vec<Class>,
    /// Class of each workload.
    pub class_of: Vec<usize>,
    pod_sets: Vec<PodSet>,
    /// Pod sets that contain the ingress controller.
    controller_pod_sets: BitSet,
    /// Per pod set, the classes in it.
    pod_set_classes: Vec<Vec<usize>>,
    ip_peers: Vec<IpPeer>,
    /// Per ip peer, the atoms it covers.
    ip_atoms: Vec<BitSet>,
    np_rules: Vec<[Option<Vec<CRule>>; 2]>,
    np_deny: Vec<[Vec<CRule>; 2]>,
    admin_rules: Vec<[Vec<CRule>; 2]>,
    banp_rules: [Vec<CRule>; 2],
    all: ConnSet,
}

#[derive(Default)]
struct Interner {
    pod_sets: Vec<PodSet>,
    pod_index: FxHashMap<PodSet, usize>,
    ip_peers: Vec<IpPeer>,
    named_ports: BTreeSet<String>,
}

impl Interner {
    fn pod_set(&mut self, p: &PodSet) -> usize {
        if let Some(&i) = self.pod_index.get(p) {
            return i;
        }
        self.pod_sets.push(p.clone());
        self.pod_index.insert(p.clone(), self.pod_sets.len() - 1);
        self.pod_sets.len() - 1
    }

    fn peer(&mut self, p: &Peer) -> CPeer {
        match p {
            Peer::Pods(ps) => CPeer::Pods(self.pod_set(ps)),
            Peer::Ips(blocks) => {
                self.ip_peers.push(blocks.clone());
                CPeer::Ips(self.ip_peers.len() - 1)
            }
            Peer::Unsupported(_) => CPeer::Nothing,
        }
    }

    fn rule(&mut self, peers: Option<&[Peer]>, ports: &Ports) -> CRule {
        for item in ports.items.iter().flatten() {
            if let PortItem::Named(_, n) = item {
                self.named_ports.insert(n.clone());
            }
        }
        CRule {
            peers: peers.map(|ps| ps.iter().map(|p| self.peer(p)).collect()),
            fixed: (!ports.has_named()).then(|| ports.resolve(None)),
            ports: ports.clone(),
        }
    }
}

/// The blocks of one ipBlock / networks peer.
type IpPeer = Vec<IpBlock>;

/// True when all of `lo..=hi` lies in one of the blocks (outside its exceptions).
fn ip_in(peer: &[IpBlock], lo: u32, hi: u32) -> bool {
    peer.iter()
        .any(|b| b.range.0 <= lo && hi <= b.range.1 && !b.except.iter().any(|(c, d)| *c <= hi && lo <= *d))
}

impl<'c> Analysis<'c> {
    /// Compiles the cluster's policies and groups its workloads.
    pub fn new(cluster: &'c Cluster, options: Options) -> Self {
        let mut int = Interner::default();
        let np_subject: Vec<usize> = cluster
            .network_policies
            .iter()
            .map(|p| {
                int.pod_set(&p.subject.clone().unwrap_or_else(|| PodSet {
                    namespaces: NamespaceScope::Named(p.namespace.clone()),
                    pods: p.pod_selector.clone(),
                }))
            })
            .collect();
        let np_rules: Vec<[Option<Vec<CRule>>; 2]> = cluster
            .network_policies
            .iter()
            .map(|p| {
                [&p.ingress, &p.egress].map(|rules| {
                    rules
                        .as_ref()
                        .map(|rs| rs.iter().map(|r| int.rule(r.peers.as_deref(), &r.ports)).collect())
                })
            })
            .collect();
        let np_deny: Vec<[Vec<CRule>; 2]> = cluster
            .network_policies
            .iter()
            .map(|p| {
                p.deny
                    .each_ref()
                    .map(|rs| rs.iter().map(|r| int.rule(r.peers.as_deref(), &r.ports)).collect())
            })
            .collect();
        let admin_subject: Vec<usize> = cluster.admin_policies.iter().map(|p| int.pod_set(&p.subject)).collect();
        let admin_rules: Vec<[Vec<CRule>; 2]> = cluster
            .admin_policies
            .iter()
            .map(|p| [&p.ingress, &p.egress].map(|rs| rs.iter().map(|r| int.rule(Some(&r.peers), &r.ports)).collect()))
            .collect();
        let banp_subject = cluster.baseline.as_ref().map(|b| int.pod_set(&b.subject));
        let banp_rules = match &cluster.baseline {
            Some(b) => {
                [&b.ingress, &b.egress].map(|rs| rs.iter().map(|r| int.rule(Some(&r.peers), &r.ports)).collect())
            }
            None => [Vec::new(), Vec::new()],
        };

        let mut atoms = ipv4::atoms(&ipv4::blocks(cluster, true));
        let source_atoms = atoms.len();
        atoms.extend(ipv4::atoms(&ipv4::blocks(cluster, false)));
        let ip_atoms: Vec<BitSet> = int
            .ip_peers
            .iter()
            .map(|peer| {
                let mut bits = BitSet::new(atoms.len());
                for (i, &(lo, hi)) in atoms.iter().enumerate() {
                    if ip_in(peer, lo, hi) {
                        bits.set(i);
                    }
                }
                bits
            })
            .collect();

        let pod_set_bits = pod_set_membership(cluster, &int.pod_sets);

        // Group workloads by what policies can see of them.
        let mut class_index: FxHashMap<(BitSet, BitSet, Vec<ContainerPort>), usize> = FxHashMap::default();
        let mut classes: Vec<Class> = Vec::new();
        let mut class_of = Vec::with_capacity(cluster.workloads.len());
        for (wi, (w, bits)) in cluster.workloads.iter().zip(pod_set_bits).enumerate() {
            let mut ipbits = BitSet::new(int.ip_peers.len());
            if options.ipblock_matches_pod_ips {
                for (pi, peer) in int.ip_peers.iter().enumerate() {
                    if w.ips.iter().any(|ip| ip_in(peer, u32::from(*ip), u32::from(*ip))) {
                        ipbits.set(pi);
                    }
                }
            }
            let ports: Vec<ContainerPort> = w
                .ports
                .iter()
                .filter(|p| p.name.as_ref().is_some_and(|n| int.named_ports.contains(n)))
                .cloned()
                .collect();
            // Ungrouped: an extra bit unique to the workload keeps it alone in its class.
            let mut bits = bits;
            if options.ungrouped {
                let mut own = BitSet::new(cluster.workloads.len() + int.pod_sets.len());
                own.set(int.pod_sets.len() + wi);
                for i in 0..int.pod_sets.len() {
                    if bits.get(i) {
                        own.set(i);
                    }
                }
                bits = own;
            }
            let key = (bits, ipbits, ports);
            let ci = match class_index.get(&key) {
                Some(&ci) => ci,
                None => {
                    let (bits, ipbits, ports) = key.clone();
                    classes.push(Class {
                        members: Vec::new(),
                        pod_sets: bits,
                        ip_peers: ipbits,
                        ports,
                        nps: [Vec::new(), Vec::new()],
                        denies: [Vec::new(), Vec::new()],
                        anps: Vec::new(),
                        banp: false,
                    });
                    class_index.insert(key, classes.len() - 1);
                    classes.len() - 1
                }
            };
            classes[ci].members.push(wi);
            class_of.push(ci);
        }
        for c in &mut classes {
            for (pi, rules) in np_rules.iter().enumerate() {
                if c.pod_sets.get(np_subject[pi]) {
                    for (d, r) in rules.iter().enumerate() {
                        if r.is_some() {
                            c.nps[d].push(pi);
                        }
                        if !np_deny[pi][d].is_empty() {
                            c.denies[d].push(pi);
                        }
                    }
                }
            }
            c.anps = (0..cluster.admin_policies.len())
                .filter(|&i| c.pod_sets.get(admin_subject[i]))
                .collect();
            c.anps.sort_by_key(|&i| {
                let p = &cluster.admin_policies[i];
                (p.priority, p.name.clone())
            });
            c.banp = banp_subject.is_some_and(|s| c.pod_sets.get(s));
        }
        let mut pod_set_classes = vec![Vec::new(); int.pod_sets.len()];
        for (ci, c) in classes.iter().enumerate() {
            for (pi, members) in pod_set_classes.iter_mut().enumerate() {
                if c.pod_sets.get(pi) {
                    members.push(ci);
                }
            }
        }
        let no_labels = crate::selector::Labels::new();
        let mut controller_pod_sets = BitSet::new(int.pod_sets.len());
        for (i, ps) in int.pod_sets.iter().enumerate() {
            if let NamespaceScope::Selector(s) = &ps.namespaces
                && s.matches(&no_labels)
                && ps.pods.matches(&no_labels)
            {
                controller_pod_sets.set(i);
            }
        }
        Analysis {
            cluster,
            controller_pod_sets,
            pod_set_classes,
            options,
            atoms,
            source_atoms,
            classes,
            class_of,
            pod_sets: int.pod_sets,
            ip_peers: int.ip_peers,
            ip_atoms,
            np_rules,
            np_deny,
            admin_rules,
            banp_rules,
            all: ConnSet::all(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Number of distinct selector pairs (namespace scope × pod selector) the policies use.
    pub fn pod_set_count(&self) -> usize {
        self.pod_sets.len()
    }

    /// Number of distinct ipBlock / networks peers.
    pub fn ip_peer_count(&self) -> usize {
        self.ip_peers.len()
    }
}

/// Cilium's endpoint labels of a workload: pod labels, the namespace name and the namespace's
/// labels, each with the `k8s:` source prefix, `any:` and without prefix.
pub fn cilium_labels(w: &crate::model::Workload, ns_labels: &crate::selector::Labels) -> crate::selector::Labels {
    let mut out = crate::selector::Labels::new();
    let mut add = |k: &str, v: &str| {
        for prefix in ["k8s:", "any:", ""] {
            out.insert(format!("{prefix}{k}"), v.to_string());
        }
    };
    for (k, v) in &w.labels {
        add(k, v);
    }
    add(CILIUM_NAMESPACE, &w.namespace);
    for (k, v) in ns_labels {
        add(&format!("{CILIUM_NAMESPACE_LABELS}{k}"), v);
    }
    out
}

/// Cilium's label for the namespace name.
pub const CILIUM_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Cilium's prefix for namespace labels.
pub const CILIUM_NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels.";

/// Pod sets (index, pod selector) of one namespace scope, and whether they match Cilium labels.
type ScopeSets<'a> = (&'a [(usize, &'a Selector)], bool);

/// For each workload, which pod sets contain it.
fn pod_set_membership(cluster: &Cluster, pod_sets: &[PodSet]) -> Vec<BitSet> {
    // Intern namespace scopes and pod selectors so each is evaluated once per namespace / workload.
    let mut by_scope: FxHashMap<&NamespaceScope, Vec<(usize, &Selector)>> = FxHashMap::default();
    for (i, ps) in pod_sets.iter().enumerate() {
        by_scope.entry(&ps.namespaces).or_default().push((i, &ps.pods));
    }
    let ns_index: FxHashMap<&str, usize> = cluster
        .namespaces
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    // Per namespace: the scopes that include it, and whether they match on Cilium labels.
    let mut scopes_of_ns: Vec<Vec<ScopeSets<'_>>> = vec![Vec::new(); cluster.namespaces.len()];
    for (scope, sets) in &by_scope {
        for (ni, ns) in cluster.namespaces.iter().enumerate() {
            let inside = match scope {
                NamespaceScope::Named(n) => *n == ns.name,
                NamespaceScope::Selector(s) => s.matches(&ns.labels),
                NamespaceScope::Cilium(restriction) => restriction.as_ref().is_none_or(|n| *n == ns.name),
            };
            if inside {
                scopes_of_ns[ni].push((sets.as_slice(), matches!(scope, NamespaceScope::Cilium(_))));
            }
        }
    }
    cluster
        .workloads
        .iter()
        .map(|w| {
            let mut bits = BitSet::new(pod_sets.len());
            if let Some(&ni) = ns_index.get(w.namespace.as_str()) {
                let mut cilium: Option<crate::selector::Labels> = None;
                for (sets, on_cilium_labels) in &scopes_of_ns[ni] {
                    let labels = if *on_cilium_labels {
                        cilium.get_or_insert_with(|| cilium_labels(w, &cluster.namespaces[ni].labels))
                    } else {
                        &w.labels
                    };
                    for (i, sel) in sets.iter() {
                        if sel.matches(labels) {
                            bits.set(*i);
                        }
                    }
                }
            }
            bits
        })
        .collect()
}
