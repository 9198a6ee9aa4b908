//! One direction of one connection: AdminNetworkPolicy tiers, then NetworkPolicy, then the
//! BaselineAdminNetworkPolicy, then the system default.

use super::{Analysis, CPeer, CRule};
use crate::model::{Action, ContainerPort};
use crate::ports::ConnSet;
use std::borrow::Cow;

/// Ingress (checked on the destination) or egress (checked on the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Into the subject.
    Ingress,
    /// Out of the subject.
    Egress,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Ingress => 0,
            Direction::Egress => 1,
        }
    }

    /// `Ingress` / `Egress`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// The other end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A workload class.
    Class(usize),
    /// An external address range.
    Atom(usize),
    /// The ingress controller (a pod with no labels in a namespace with no labels).
    IngressController,
}

/// One step of an explanation: these connections were allowed or denied for this reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The connections concerned.
    pub conns: ConnSet,
    /// Allowed (true) or denied.
    pub allowed: bool,
    /// Which rule of which policy, or the default.
    pub reason: String,
}

fn note(trace: &mut Option<&mut Vec<Step>>, conns: &ConnSet, allowed: bool, reason: impl FnOnce() -> String) {
    if let Some(t) = trace.as_deref_mut()
        && !conns.is_empty()
    {
        t.push(Step {
            conns: conns.clone(),
            allowed,
            reason: reason(),
        });
    }
}

fn rule_name(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" '{name}'")
    }
}

impl Analysis<'_> {
    pub(super) fn peer_matches(&self, p: CPeer, t: Target) -> bool {
        match (p, t) {
            (CPeer::Pods(i), Target::Class(c)) => self.classes[c].pod_sets.get(i),
            (CPeer::Pods(i), Target::IngressController) => self.controller_pod_sets.get(i),
            (CPeer::Pods(_), Target::Atom(_)) | (CPeer::Nothing, _) => false,
            (CPeer::Ips(_), Target::IngressController) => false,
            (CPeer::Ips(i), Target::Atom(a)) => self.ip_atoms[i].get(a),
            (CPeer::Ips(i), Target::Class(c)) => {
                self.options.ipblock_matches_pod_ips && self.classes[c].ip_peers.get(i)
            }
        }
    }

    fn rule_matches(&self, r: &CRule, t: Target) -> bool {
        match &r.peers {
            None => true,
            Some(ps) => ps.iter().any(|&p| self.peer_matches(p, t)),
        }
    }

    fn ports_of(&self, t: Target) -> Option<&[ContainerPort]> {
        match t {
            Target::Class(c) => Some(&self.classes[c].ports),
            Target::Atom(_) | Target::IngressController => None,
        }
    }

    /// True when nothing restricts `dir` for the class: every connection is allowed.
    pub(super) fn open(&self, class: usize, dir: Direction) -> bool {
        let c = &self.classes[class];
        let d = dir.index();
        c.nps[d].is_empty()
            && c.denies[d].is_empty()
            && c.anps.iter().all(|&i| self.admin_rules[i][d].is_empty())
            && (!c.banp || self.banp_rules[d].is_empty())
    }

    /// What `dir` allows for `subject` (a class) with `peer` at the other end.
    pub fn direction(
        &self,
        dir: Direction,
        subject: usize,
        peer: Target,
        mut trace: Option<&mut Vec<Step>>,
    ) -> Cow<'_, ConnSet> {
        if trace.is_none() && self.open(subject, dir) {
            return Cow::Borrowed(&self.all);
        }
        let allowed = self.allowed(dir, subject, peer, trace.as_deref_mut());
        let d = dir.index();
        let denies = &self.classes[subject].denies[d];
        if denies.is_empty() || allowed.is_empty() {
            return Cow::Owned(allowed);
        }
        // Cilium deny rules win over every allow.
        let dst_ports = match dir {
            Direction::Ingress => Some(self.classes[subject].ports.as_slice()),
            Direction::Egress => self.ports_of(peer),
        };
        let mut denied = ConnSet::none();
        for &pi in denies {
            for (ri, rule) in self.np_deny[pi][d].iter().enumerate() {
                if self.rule_matches(rule, peer) {
                    let hit = rule.conns(dst_ports).intersect(&allowed).subtract(&denied);
                    note(&mut trace, &hit, false, || {
                        format!(
                            "{} {}Deny rule #{} (deny wins over allow)",
                            self.cluster.network_policies[pi].describe(),
                            dir.as_str().to_lowercase(),
                            ri + 1
                        )
                    });
                    denied = denied.union(&hit);
                }
            }
        }
        Cow::Owned(allowed.subtract(&denied))
    }

    /// What the allow tiers (ANP, NetworkPolicy/Cilium allow, BANP, default) give `dir`.
    fn allowed(&self, dir: Direction, subject: usize, peer: Target, mut trace: Option<&mut Vec<Step>>) -> ConnSet {
        let d = dir.index();
        let class = &self.classes[subject];
        let dst_ports = match dir {
            Direction::Ingress => Some(class.ports.as_slice()),
            Direction::Egress => self.ports_of(peer),
        };
        let mut allowed = ConnSet::none();
        let mut undecided = ConnSet::all();
        let mut passed = ConnSet::none();
        'anps: for &ai in &class.anps {
            let policy = &self.cluster.admin_policies[ai];
            for (ri, rule) in self.admin_rules[ai][d].iter().enumerate() {
                if undecided.is_empty() {
                    break 'anps;
                }
                if !self.rule_matches(rule, peer) {
                    continue;
                }
                let hit = rule.conns(dst_ports).intersect(&undecided);
                if hit.is_empty() {
                    continue;
                }
                let action = policy.ingress_or_egress(dir)[ri].action;
                let why = || {
                    format!(
                        "AdminNetworkPolicy '{}' (priority {}) {} rule #{}{} ({action:?})",
                        policy.name,
                        policy.priority.unwrap_or_default(),
                        dir.as_str(),
                        ri + 1,
                        rule_name(&policy.ingress_or_egress(dir)[ri].name)
                    )
                };
                match action {
                    Action::Allow => {
                        note(&mut trace, &hit, true, why);
                        allowed = allowed.union(&hit);
                    }
                    Action::Deny => note(&mut trace, &hit, false, why),
                    Action::Pass => passed = passed.union(&hit),
                }
                undecided = undecided.subtract(&hit);
            }
        }
        let rest = undecided.union(&passed);
        if rest.is_empty() {
            return allowed;
        }
        if !class.nps[d].is_empty() {
            let mut np_allowed = ConnSet::none();
            for &pi in &class.nps[d] {
                let policy = &self.cluster.network_policies[pi];
                for (ri, rule) in self.np_rules[pi][d].iter().flatten().enumerate() {
                    if !self.rule_matches(rule, peer) {
                        continue;
                    }
                    let hit = rule.conns(dst_ports).intersect(&rest);
                    note(&mut trace, &hit.subtract(&np_allowed), true, || {
                        format!("{} {} rule #{}", policy.describe(), dir.as_str(), ri + 1)
                    });
                    np_allowed = np_allowed.union(&hit);
                }
            }
            note(&mut trace, &rest.subtract(&np_allowed), false, || {
                let names: Vec<String> = class.nps[d]
                    .iter()
                    .map(|&pi| self.cluster.network_policies[pi].describe())
                    .collect();
                format!(
                    "{} isolate {} and no {} rule allows it",
                    names.join(", "),
                    dir.as_str().to_lowercase(),
                    dir.as_str()
                )
            });
            return allowed.union(&np_allowed);
        }
        let mut rest = rest;
        if class.banp
            && let Some(banp) = &self.cluster.baseline
        {
            for (ri, rule) in self.banp_rules[d].iter().enumerate() {
                if rest.is_empty() {
                    break;
                }
                if !self.rule_matches(rule, peer) {
                    continue;
                }
                let hit = rule.conns(dst_ports).intersect(&rest);
                if hit.is_empty() {
                    continue;
                }
                let r = &banp.ingress_or_egress(dir)[ri];
                let why = || {
                    format!(
                        "BaselineAdminNetworkPolicy '{}' {} rule #{}{} ({:?})",
                        banp.name,
                        dir.as_str(),
                        ri + 1,
                        rule_name(&r.name),
                        r.action
                    )
                };
                if r.action == Action::Allow {
                    note(&mut trace, &hit, true, why);
                    allowed = allowed.union(&hit);
                } else {
                    note(&mut trace, &hit, false, why);
                }
                rest = rest.subtract(&hit);
            }
        }
        note(&mut trace, &rest, true, || {
            format!(
                "no policy restricts {} here (system default: allow)",
                dir.as_str().to_lowercase()
            )
        });
        allowed.union(&rest)
    }

    /// The connections from `src` to `dst` (at least one must be a class): egress at the source
    /// AND ingress at the destination; an external end has no check of its own.
    pub fn pair(&self, src: Target, dst: Target) -> Cow<'_, ConnSet> {
        let egress = match src {
            Target::Class(c) => self.direction(Direction::Egress, c, dst, None),
            Target::Atom(_) | Target::IngressController => Cow::Borrowed(&self.all),
        };
        if egress.is_empty() {
            return egress;
        }
        let ingress = match dst {
            Target::Class(c) => self.direction(Direction::Ingress, c, src, None),
            Target::Atom(_) | Target::IngressController => Cow::Borrowed(&self.all),
        };
        if egress.is_all() {
            return ingress;
        }
        if ingress.is_all() {
            return egress;
        }
        Cow::Owned(egress.intersect(&ingress))
    }
}
