//! Expanding class pairs into the per-endpoint connectivity list, and its text/JSON forms.

use super::{Analysis, Target};
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
        let mut out = Vec::new();
        self.for_each_class_pair(|src, dst, conn| {
            let dsts = self.endpoint_names(dst);
            for s in self.endpoint_names(src) {
                for d in &dsts {
                    if s != *d {
                        out.push(Connection {
                            src: s.clone(),
                            dst: d.clone(),
                            conn: conn.clone(),
                        });
                    }
                }
            }
        });
        for (wi, conn) in self.ingress_controller_connections() {
            out.push(Connection {
                src: super::INGRESS_CONTROLLER.to_string(),
                dst: self.cluster.workloads[wi].display_name(),
                conn,
            });
        }
        let mut keyed: Vec<(String, Connection)> = out.into_iter().map(|c| (format_line(&c), c)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, c)| c).collect()
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
