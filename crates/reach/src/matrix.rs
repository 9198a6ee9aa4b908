//! Tenant × tenant view: which tenants can open connections to which, and the check that no
//! tenant reaches another in a way the destination's Tenant did not grant.

use crate::engine::{Analysis, Target};
use crate::ports::ConnSet;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The namespace label that binds a namespace to its tenant.
pub const TENANT_LABEL: &str = "palisade.dev/tenant";
/// Row/column of workloads in namespaces of no tenant.
pub const NO_TENANT: &str = "(no tenant)";
/// Row/column of external addresses.
pub const EXTERNAL: &str = "(external)";

/// One allowed flow between two endpoints.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    /// Source endpoint.
    pub src: String,
    /// Destination endpoint.
    pub dst: String,
    /// Allowed connections.
    pub conn: ConnSet,
}

/// What one tenant can open to another.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// Union of the flows' connections.
    pub conns: ConnSet,
    /// Every flow.
    pub flows: Vec<Flow>,
}

/// Rows are sources, columns destinations.
#[derive(Clone, Debug, Default)]
pub struct TenantMatrix {
    /// Tenants (sorted), then `(no tenant)` and `(external)` when present.
    pub groups: Vec<String>,
    /// Non-empty cells by (source group, destination group).
    pub cells: BTreeMap<(String, String), Cell>,
}

/// What a destination tenant's spec grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// Network isolation is off (`isolation: None`): every source is accepted.
    pub open: bool,
    /// `spec.network.allowFrom.tenants` and the tenants of `spec.network.allowFrom.tenantGrants`
    /// (a narrowed grant counts here as a grant of the tenant; which ports and pods it opens is
    /// what Palisade renders).
    pub from_tenants: BTreeSet<String>,
}

/// Builds the matrix from the analysis (tenants from the namespaces' `palisade.dev/tenant` label).
pub fn tenant_matrix(analysis: &Analysis<'_>) -> TenantMatrix {
    let cluster = analysis.cluster;
    let ns_tenant: BTreeMap<&str, &str> = cluster
        .namespaces
        .iter()
        .filter_map(|n| Some((n.name.as_str(), n.labels.get(TENANT_LABEL)?.as_str())))
        .collect();
    let group_of = |w: usize| -> String {
        let ns = cluster.workloads[w].namespace.as_str();
        ns_tenant.get(ns).map_or(NO_TENANT.to_string(), |t| t.to_string())
    };
    let mut m = TenantMatrix::default();
    let members = |t: Target| -> Vec<(String, String)> {
        match t {
            Target::Class(c) => analysis.classes[c]
                .members
                .iter()
                .map(|&w| (group_of(w), cluster.workloads[w].display_name()))
                .collect(),
            other => analysis
                .endpoint_names(other)
                .into_iter()
                .map(|n| (EXTERNAL.to_string(), n))
                .collect(),
        }
    };
    analysis.for_each_class_pair(|src, dst, conn| {
        let dsts = members(dst);
        for (sg, sn) in members(src) {
            for (dg, dn) in &dsts {
                if sn == *dn {
                    continue;
                }
                let cell = m.cells.entry((sg.clone(), dg.clone())).or_default();
                cell.conns = cell.conns.union(conn);
                cell.flows.push(Flow {
                    src: sn.clone(),
                    dst: dn.clone(),
                    conn: conn.clone(),
                });
            }
        }
    });
    let mut tenants: BTreeSet<String> = ns_tenant.values().map(|t| t.to_string()).collect();
    let mut extra = Vec::new();
    for (s, d) in m.cells.keys() {
        for g in [s, d] {
            if (g == NO_TENANT || g == EXTERNAL) && !extra.contains(g) {
                extra.push(g.clone());
            } else if g != NO_TENANT && g != EXTERNAL {
                tenants.insert(g.clone());
            }
        }
    }
    extra.sort_by_key(|g| g == EXTERNAL);
    m.groups = tenants.into_iter().chain(extra).collect();
    for cell in m.cells.values_mut() {
        cell.flows.sort();
    }
    m
}

/// Flows from one tenant to another that the destination tenant's grant does not cover (a tenant
/// without a grant entry grants nothing).
pub fn ungranted<'m>(m: &'m TenantMatrix, grants: &BTreeMap<String, Grant>) -> Vec<(&'m str, &'m str, &'m Flow)> {
    let mut out = Vec::new();
    for ((s, d), cell) in &m.cells {
        let tenant = |g: &str| g != NO_TENANT && g != EXTERNAL;
        if s == d || !tenant(s) || !tenant(d) {
            continue;
        }
        let granted = grants.get(d).is_some_and(|g| g.open || g.from_tenants.contains(s));
        if !granted {
            out.extend(cell.flows.iter().map(|f| (s.as_str(), d.as_str(), f)));
        }
    }
    out
}

fn cell_text(c: Option<&Cell>) -> String {
    match c {
        None => "-".to_string(),
        Some(c) => format!("{} ({} flows)", c.conns, c.flows.len()),
    }
}

/// A text table (rows: source, columns: destination).
pub fn format_text(m: &TenantMatrix) -> String {
    let mut cols: Vec<Vec<String>> = vec![
        std::iter::once("from \\ to".to_string())
            .chain(m.groups.iter().cloned())
            .collect(),
    ];
    for d in &m.groups {
        let mut col = vec![d.clone()];
        for s in &m.groups {
            col.push(cell_text(m.cells.get(&(s.clone(), d.clone()))));
        }
        cols.push(col);
    }
    let widths: Vec<usize> = cols
        .iter()
        .map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in 0..=m.groups.len() {
        let line: Vec<String> = cols
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:<w$}", c[row], w = *w))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: tenants as rows and columns, cells coloured by what is allowed,
/// the flows on hover; cells with flows the destination did not grant are outlined.
pub fn format_html(m: &TenantMatrix, grants: Option<&BTreeMap<String, Grant>>) -> String {
    let bad: BTreeSet<(&str, &str)> = grants
        .map(|g| ungranted(m, g).into_iter().map(|(s, d, _)| (s, d)).collect())
        .unwrap_or_default();
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>palisade reach: tenant matrix</title>\n<style>\nbody{font-family:sans-serif;margin:2em}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.4em .6em;text-align:center;font-size:.9em}\nth{background:#f0f0f0}td.none{background:#fafafa;color:#aaa}td.self{background:#d4edda}td.some{background:#ffe8a1}td.all{background:#f5b7b1}\ntd.bad{outline:3px solid #c0392b;outline-offset:-3px;font-weight:bold}td[title]{cursor:help}.legend span{display:inline-block;padding:.2em .6em;margin-right:.5em;border:1px solid #ccc}\n</style></head><body>\n<h1>Tenant reachability</h1>\n<p>Rows are sources, columns destinations. Hover a cell for its flows.</p>\n<p class=\"legend\"><span class=\"self\" style=\"background:#d4edda\">within a tenant</span><span style=\"background:#ffe8a1\">some ports</span><span style=\"background:#f5b7b1\">all connections</span><span style=\"outline:3px solid #c0392b\">not granted by the destination's Tenant</span></p>\n<table>\n<tr><th>from \\ to</th>",
    );
    for d in &m.groups {
        let _ = write!(h, "<th>{}</th>", escape(d));
    }
    h.push_str("</tr>\n");
    for s in &m.groups {
        let _ = write!(h, "<tr><th>{}</th>", escape(s));
        for d in &m.groups {
            match m.cells.get(&(s.clone(), d.clone())) {
                None => h.push_str("<td class=\"none\">-</td>"),
                Some(c) => {
                    let mut class = if s == d {
                        "self"
                    } else if c.conns.is_all() {
                        "all"
                    } else {
                        "some"
                    }
                    .to_string();
                    let is_bad = bad.contains(&(s.as_str(), d.as_str()));
                    if is_bad {
                        class.push_str(" bad");
                    }
                    let mut title = String::new();
                    if is_bad {
                        title.push_str("NOT GRANTED by the destination's Tenant\n");
                    }
                    const SHOWN: usize = 40;
                    for f in c.flows.iter().take(SHOWN) {
                        let _ = writeln!(title, "{} => {} : {}", f.src, f.dst, f.conn);
                    }
                    if c.flows.len() > SHOWN {
                        let _ = writeln!(title, "... and {} more", c.flows.len() - SHOWN);
                    }
                    let _ = write!(
                        h,
                        "<td class=\"{class}\" title=\"{}\">{}<br><small>{} flows</small></td>",
                        escape(title.trim_end()),
                        escape(&c.conns.to_string()),
                        c.flows.len()
                    );
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
