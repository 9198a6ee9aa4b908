//! The ingress controller as a source: it reaches the workloads behind the Services that
//! Ingress / Route objects expose, on the exposed ports, if the workloads' ingress rules allow a
//! pod from a namespace with no labels.

use super::{Analysis, Direction, Target};
use crate::model::{ExposedPort, PortRef, ServicePort, Workload};
use crate::ports::{ConnSet, PortSet};

/// How the ingress controller is written in the connectivity list.
pub const INGRESS_CONTROLLER: &str = "{ingress-controller}";

fn selected(sp: &ServicePort, port: &ExposedPort) -> bool {
    match port {
        ExposedPort::All => true,
        ExposedPort::ServicePort(PortRef::Number(n)) => sp.port == *n,
        ExposedPort::ServicePort(PortRef::Name(x)) => sp.name.as_deref() == Some(x.as_str()),
        ExposedPort::RouteTarget(PortRef::Number(n)) => sp.target == PortRef::Number(*n) || sp.port == *n,
        ExposedPort::RouteTarget(PortRef::Name(x)) => {
            sp.name.as_deref() == Some(x.as_str()) || sp.target == PortRef::Name(x.clone())
        }
    }
}

impl Analysis<'_> {
    /// The connections Ingress/Route objects expose on workload `w` (before policies).
    pub fn exposed(&self, w: &Workload) -> ConnSet {
        let mut out = ConnSet::none();
        for e in &self.cluster.exposures {
            if e.namespace != w.namespace {
                continue;
            }
            let services = self
                .cluster
                .services
                .iter()
                .filter(|s| s.namespace == e.namespace && s.name == e.service);
            for svc in services {
                if !svc.selector.iter().all(|(k, v)| w.labels.get(k) == Some(v)) {
                    continue;
                }
                for sp in svc.ports.iter().filter(|sp| selected(sp, &e.port)) {
                    match &sp.target {
                        // As in the corpus: a pod that declares container ports is reached only on
                        // those (Kubernetes treats the declarations as informational).
                        PortRef::Number(t)
                            if w.ports.is_empty()
                                || w.ports.iter().any(|cp| cp.port == *t && cp.protocol == sp.protocol) =>
                        {
                            out = out.union(&ConnSet::ports(sp.protocol, PortSet::range(*t, *t)));
                        }
                        PortRef::Number(_) => {}
                        PortRef::Name(x) => {
                            for cp in w.ports.iter().filter(|cp| cp.name.as_deref() == Some(x)) {
                                out = out.union(&ConnSet::ports(cp.protocol, PortSet::range(cp.port, cp.port)));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// For each workload the ingress controller can reach: (workload index, connections).
    pub fn ingress_controller_connections(&self) -> Vec<(usize, ConnSet)> {
        if self.cluster.exposures.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (wi, w) in self.cluster.workloads.iter().enumerate() {
            let exposed = self.exposed(w);
            if exposed.is_empty() {
                continue;
            }
            let ingress = self.direction(Direction::Ingress, self.class_of[wi], Target::IngressController, None);
            let conn = exposed.intersect(&ingress);
            if !conn.is_empty() {
                out.push((wi, conn));
            }
        }
        out
    }
}
