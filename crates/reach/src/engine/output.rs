//! Expanding class pairs into the per-endpoint connectivity list, and its text/JSON forms.

use super::{Analysis, Target};
use crate::bitset::FxHashMap;
use crate::ipv4;
use crate::ports::ConnSet;
use serde::Serialize;

/// One line of the connectivity list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// `ns/name[Kind]` or `a.b.c.d-e.f.g.h[External]`.
    pub src: String,
    /// Same spelling as `src`.
    pub dst: String,
    /// The allowed connections.
    #[serde(serialize_with = "as_text")]
    pub conn: ConnSet,
}

fn as_text<S: serde::Serializer>(c: &ConnSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(c)
}

impl Analysis<'_> {
    /// Display name of an endpoint index: workloads first, then atoms.
    pub fn endpoint_names(&self, t: Target) -> Vec<String> {
        match t {
            Target::Class(c) => self.classes[c]
                .members
                .iter()
                .map(|&w| self.cluster.workloads[w].display_name())
                .collect(),
            Target::Atom(a) => {
                let (lo, hi) = self.atoms[a];
                vec![ipv4::display_range(lo, hi)]
            }
            Target::IngressController => vec![super::INGRESS_CONTROLLER.to_string()],
        }
    }

    /// The whole connectivity list, sorted like the corpus (by line text); self-pairs omitted.
    pub fn connections(&self) -> Vec<Connection> {
        // Endpoint names, computed once: workloads, then external ranges, then the controller.
        let w = self.cluster.workloads.len();
        let mut names: Vec<String> = self.cluster.workloads.iter().map(|x| x.display_name()).collect();
        names.extend(self.atoms.iter().map(|&(lo, hi)| ipv4::display_range(lo, hi)));
        names.push(super::INGRESS_CONTROLLER.to_string());
        let controller = names.len() - 1;
        let ids = |t: Target| -> Vec<usize> {
            match t {
                Target::Class(c) => self.classes[c].members.clone(),
                Target::Atom(a) => vec![w + a],
                Target::IngressController => vec![controller],
            }
        };
        let mut conns: Vec<ConnSet> = Vec::new();
        let mut conn_index: FxHashMap<ConnSet, usize> = FxHashMap::default();
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        self.for_each_class_pair(|src, dst, conn| {
            let ci = *conn_index.entry(conn.clone()).or_insert_with(|| {
                conns.push(conn.clone());
                conns.len() - 1
            });
            let dsts = ids(dst);
            for s in ids(src) {
                pairs.extend(dsts.iter().filter(|&&d| d != s).map(|&d| (s, d, ci)));
            }
        });
        for (wi, conn) in self.ingress_controller_connections() {
            conns.push(conn);
            pairs.push((controller, wi, conns.len() - 1));
        }
        // Names never contain one another as a prefix (each ends its only `[...]` or is
        // `{ingress-controller}`), so ordering by (src, dst) is ordering by line text.
        pairs.sort_unstable_by(|a, b| (&names[a.0], &names[a.1]).cmp(&(&names[b.0], &names[b.1])));
        pairs
            .into_iter()
            .map(|(s, d, c)| Connection {
                src: names[s].clone(),
                dst: names[d].clone(),
                conn: conns[c].clone(),
            })
            .collect()
    }
}

/// `src => dst : conns`.
pub fn format_line(c: &Connection) -> String {
    format!("{} => {} : {}", c.src, c.dst, c.conn)
}

/// The corpus text format: one line per connection, newline-terminated.
pub fn format_text(list: &[Connection]) -> String {
    let mut s = String::new();
    for c in list {
        s.push_str(&format_line(c));
        s.push('\n');
    }
    s
}

/// `[{"src":…,"dst":…,"conn":…}]`, pretty-printed.
pub fn format_json(list: &[Connection]) -> String {
    serde_json::to_string_pretty(list).unwrap_or_else(|_| "[]".to_string())
}
