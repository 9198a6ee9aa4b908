//! The connectivity report in the corpus text format. With user-defined (OVN-Kubernetes UDN/CUDN)
//! or secondary (Multus NAD) networks, or KubeVirt VMs, the report has one section per network
//! and a workload-to-networks mapping; each network is analysed on its own, since traffic never
//! crosses between them.

use crate::engine::{Analysis, Connection, Options, format_text};
use crate::model::{Cluster, NetworkDef, Workload};
use std::collections::BTreeMap;

/// The namespace label that opts a namespace into a primary user-defined network.
pub const PRIMARY_UDN_LABEL: &str = "k8s.ovn.org/primary-user-defined-network";

/// A workload's primary network.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Primary {
    /// The default cluster network.
    PodNetwork,
    /// The namespace's primary UserDefinedNetwork (keyed by namespace).
    Udn(String),
    /// A primary ClusterUserDefinedNetwork (keyed by name).
    Cudn(String),
}

/// The primary network of each workload.
pub fn primary_networks(cluster: &Cluster) -> Vec<Primary> {
    let ns_labels: BTreeMap<&str, &crate::selector::Labels> = cluster
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), &n.labels))
        .collect();
    cluster
        .workloads
        .iter()
        .map(|w| {
            // OVN-Kubernetes gives a namespace a primary user-defined network only when the
            // namespace carries this label (set at creation).
            let labels = ns_labels.get(w.namespace.as_str());
            if !labels.is_some_and(|l| l.contains_key(PRIMARY_UDN_LABEL)) {
                return Primary::PodNetwork;
            }
            for net in &cluster.networks {
                match net {
                    NetworkDef::Udn {
                        namespace,
                        primary: true,
                        ..
                    } if *namespace == w.namespace => return Primary::Udn(namespace.clone()),
                    NetworkDef::Cudn {
                        name,
                        namespaces,
                        primary: true,
                    } if ns_labels
                        .get(w.namespace.as_str())
                        .is_some_and(|l| namespaces.matches(l)) =>
                    {
                        return Primary::Cudn(name.clone());
                    }
                    _ => {}
                }
            }
            Primary::PodNetwork
        })
        .collect()
}

fn sub_cluster(cluster: &Cluster, keep: impl Fn(usize, &Workload) -> bool) -> Cluster {
    Cluster {
        workloads: cluster
            .workloads
            .iter()
            .enumerate()
            .filter(|(i, w)| keep(*i, w))
            .map(|(_, w)| w.clone())
            .collect(),
        ..cluster.clone()
    }
}

fn lines(cluster: &Cluster, options: Options, rename_udn: bool, externals: bool) -> Vec<Connection> {
    let analysis = Analysis::new(cluster, options);
    let mut list = analysis.connections();
    if !externals {
        list.retain(|c| !c.src.ends_with("[External]") && !c.dst.ends_with("[External]"));
    }
    if rename_udn {
        let rename = |s: &mut String| {
            if let Some((ns, rest)) = s.split_once('/')
                && !s.ends_with("[External]")
            {
                *s = format!("{ns}[udn]/{rest}");
            }
        };
        for c in &mut list {
            rename(&mut c.src);
            rename(&mut c.dst);
        }
    }
    list
}

/// True when the report needs per-network sections.
pub fn is_multi_network(cluster: &Cluster) -> bool {
    !cluster.networks.is_empty()
        || cluster
            .workloads
            .iter()
            .any(|w| w.kind == "VirtualMachine" || !w.secondary_networks.is_empty())
}

/// The whole report.
pub fn connlist_report(cluster: &Cluster, options: Options) -> String {
    if !is_multi_network(cluster) {
        return format_text(&Analysis::new(cluster, options).connections());
    }
    let primaries = primary_networks(cluster);
    let mut sections: Vec<String> = Vec::new();
    let pod = sub_cluster(cluster, |i, _| primaries[i] == Primary::PodNetwork);
    let mut text = String::new();
    if !cluster.networks.is_empty() {
        text.push_str("Permitted connectivity analyzed in Pod network:\n");
    }
    if pod.workloads.is_empty() {
        text.push_str("all input workloads are configured with (C)UDN as their primary network interface\n");
    } else {
        let list = lines(&pod, options, false, true);
        if list.is_empty() {
            text.push_str("All connections are not allowed for the workloads in the pod-network\n");
        }
        text.push_str(&format_text(&list));
    }
    sections.push(text);
    let mut others: Vec<&Primary> = primaries.iter().filter(|p| **p != Primary::PodNetwork).collect();
    others.sort();
    others.dedup();
    for p in others {
        let sub = sub_cluster(cluster, |i, _| primaries[i] == *p);
        let (title, rename) = match p {
            Primary::Udn(ns) => (format!("primary UDN {ns}"), true),
            Primary::Cudn(n) => (format!("primary CUDN {n}"), false),
            Primary::PodNetwork => continue,
        };
        sections.push(format!(
            "Permitted connectivity analyzed in {title}:\n{}",
            format_text(&lines(&sub, options, rename, true))
        ));
    }
    let mut nads: Vec<&String> = cluster.workloads.iter().flat_map(|w| &w.secondary_networks).collect();
    nads.sort();
    nads.dedup();
    for nad in nads {
        let mut sub = sub_cluster(cluster, |_, w| w.secondary_networks.contains(nad));
        // On a secondary network there is no "outside": ipBlocks of MultiNetworkPolicies select
        // the workloads' addresses on that network.
        for w in &mut sub.workloads {
            w.ips = w.secondary_ips.clone();
        }
        let mut nad_options = options;
        nad_options.ipblock_matches_pod_ips = true;
        sub.network_policies = cluster
            .multi_network_policies
            .iter()
            .filter(|(_, targets)| targets.contains(nad))
            .map(|(p, _)| p.clone())
            .collect();
        sub.admin_policies.clear();
        sub.baseline = None;
        sub.exposures.clear();
        let name = nad;
        sections.push(format!(
            "Permitted connectivity analyzed in secondary NAD {name}:\n{}",
            format_text(&lines(&sub, nad_options, false, false))
        ));
    }
    let mut mapping = String::from("Workload-to-Networks Mapping:\n");
    let mut rows: Vec<(String, usize)> = cluster
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| (w.display_name(), i))
        .collect();
    rows.sort();
    for (name, i) in rows {
        let primary = match &primaries[i] {
            Primary::PodNetwork => "pod-network".to_string(),
            Primary::Udn(ns) => format!("{ns}[UDN]"),
            Primary::Cudn(n) => format!("{n}[CUDN]"),
        };
        mapping.push_str(&format!("{name}: \n\tPrimary Network: {primary}\n"));
        let secondary = &cluster.workloads[i].secondary_networks;
        if !secondary.is_empty() {
            let names: Vec<String> = secondary.iter().map(|n| format!("{n}[NAD]")).collect();
            mapping.push_str(&format!("\tSecondary Networks: {}\n", names.join(",")));
        }
    }
    sections.push(mapping);
    sections.join("\n")
}
