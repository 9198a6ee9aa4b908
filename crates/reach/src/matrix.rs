//! Tenant × tenant view: which tenants can open connections to which, and the check that no
//! tenant reaches another in a way the destination's Tenant did not grant.

use crate::engine::{Analysis, Target};
use crate::error::Error;
use crate::parse::fields::{self, Ctx};
use crate::parse::raw;
use crate::ports::{ConnSet, PortSet};
use crate::selector::{Labels, Selector};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

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
    /// Pod labels of the destination (empty for external addresses), for narrowed grants.
    pub dst_labels: Labels,
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
    /// `spec.network.allowFrom.tenants`: every port of every pod of this tenant.
    pub from_tenants: BTreeSet<String>,
    /// `spec.network.allowFrom.tenantGrants`: some ports and/or some pods of this tenant.
    pub narrowed: Vec<NarrowedGrant>,
}

/// One `spec.network.allowFrom.tenantGrants[index]` entry of the destination tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NarrowedGrant {
    /// The tenant whose pods may connect in.
    pub tenant: String,
    /// Position in `tenantGrants`, for messages.
    pub index: usize,
    /// The granted ports (every connection when the grant lists no port).
    pub conns: ConnSet,
    /// The granting tenant's pods the grant opens (`{}` when it has no podSelector).
    pub pods: Selector,
}

impl NarrowedGrant {
    fn field(&self, field: &str) -> String {
        format!("spec.network.allowFrom.tenantGrants[{}].{field}", self.index)
    }
}

impl Grant {
    /// Reads a Tenant's `spec.network` as JSON (isolation, `allowFrom.tenants` and
    /// `allowFrom.tenantGrants` with their ports, protocols, `endPort`s and pod selectors).
    /// `tenant` names the Tenant in errors.
    pub fn from_network_spec(tenant: &str, network: &Value) -> Result<Grant, Error> {
        let ctx = Ctx {
            file: "Tenant",
            object: format!("Tenant {tenant}"),
        };
        let open = network.get("isolation").and_then(Value::as_str) == Some("None");
        let allow_from = network.get("allowFrom");
        let list = |key: &str| {
            allow_from
                .and_then(|a| a.get(key))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut from_tenants = BTreeSet::new();
        for (i, t) in list("tenants").iter().enumerate() {
            let name = t.as_str().ok_or_else(|| {
                ctx.invalid(
                    &format!("spec.network.allowFrom.tenants[{i}]"),
                    "expected a tenant name",
                )
            })?;
            from_tenants.insert(name.to_string());
        }
        let mut narrowed = Vec::new();
        for (index, g) in list("tenantGrants").iter().enumerate() {
            let field = |f: &str| format!("spec.network.allowFrom.tenantGrants[{index}].{f}");
            let tenant = g
                .get("tenant")
                .and_then(Value::as_str)
                .ok_or_else(|| ctx.invalid(&field("tenant"), "expected the granted tenant's name"))?
                .to_string();
            let mut conns = ConnSet::none();
            let ports = g.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
            for (j, p) in ports.iter().enumerate() {
                let f = field(&format!("ports[{j}]"));
                let protocol = fields::protocol(
                    &ctx,
                    &format!("{f}.protocol"),
                    p.get("protocol").and_then(Value::as_str),
                )?;
                let port = fields::port_number(&ctx, &format!("{f}.port"), p.get("port").unwrap_or(&Value::Null))?;
                let end = match p.get("endPort") {
                    None | Some(Value::Null) => port,
                    Some(v) => fields::port_number(&ctx, &format!("{f}.endPort"), v)?,
                };
                if end < port {
                    return Err(ctx.invalid(
                        &format!("{f}.endPort"),
                        format!("expected at least port {port}, got {end}"),
                    ));
                }
                conns = conns.union(&ConnSet::ports(protocol, PortSet::range(port, end)));
            }
            if ports.is_empty() {
                conns = ConnSet::all();
            }
            let pods = match g.get("podSelector") {
                None | Some(Value::Null) => Selector::everything(),
                Some(v) => {
                    let raw: raw::Selector = serde_json::from_value(v.clone())
                        .map_err(|e| ctx.invalid(&field("podSelector"), format!("expected a label selector: {e}")))?;
                    fields::selector(&ctx, &field("podSelector"), &raw)?
                }
            };
            narrowed.push(NarrowedGrant {
                tenant,
                index,
                conns,
                pods,
            });
        }
        Ok(Grant {
            open,
            from_tenants,
            narrowed,
        })
    }
}

/// A flow between two tenants that the destination's Tenant does not grant, or not all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ungranted<'m> {
    /// Source tenant.
    pub src: &'m str,
    /// Destination tenant (whose spec decides).
    pub dst: &'m str,
    /// The flow.
    pub flow: &'m Flow,
    /// The part of the flow's connections no grant covers.
    pub outside: ConnSet,
    /// Why, and which field of the destination's Tenant to change to grant it.
    pub why: String,
}

impl fmt::Display for Ungranted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenant {} => tenant {}: {} => {} : {} ({})",
            self.src, self.dst, self.flow.src, self.flow.dst, self.outside, self.why
        )
    }
}

/// Checks one flow from `src` against what `d` grants: `None` when covered.
fn uncovered(src: &str, d: &str, grant: Option<&Grant>, flow: &Flow) -> Option<(ConnSet, String)> {
    let Some(grant) =
        grant.filter(|g| g.open || g.from_tenants.contains(src) || g.narrowed.iter().any(|n| n.tenant == src))
    else {
        return Some((
            flow.conn.clone(),
            format!("Tenant {d} does not list {src} in spec.network.allowFrom.tenants or tenantGrants"),
        ));
    };
    if grant.open || grant.from_tenants.contains(src) {
        return None;
    }
    let entries: Vec<&NarrowedGrant> = grant.narrowed.iter().filter(|n| n.tenant == src).collect();
    let selecting: Vec<&&NarrowedGrant> = entries.iter().filter(|n| n.pods.matches(&flow.dst_labels)).collect();
    if selecting.is_empty() {
        let fields: Vec<String> = entries
            .iter()
            .map(|n| format!("{} ({})", n.field("podSelector"), n.pods))
            .collect();
        return Some((
            flow.conn.clone(),
            format!(
                "pod {} is outside the grant: Tenant {d} grants {src} only the pods of {}; widen the podSelector or stop what opens this pod",
                flow.dst,
                fields.join(", ")
            ),
        ));
    }
    let granted = selecting.iter().fold(ConnSet::none(), |acc, n| acc.union(&n.conns));
    let outside = flow.conn.subtract(&granted);
    if outside.is_empty() {
        return None;
    }
    let fields: Vec<String> = selecting
        .iter()
        .map(|n| format!("{} ({})", n.field("ports"), n.conns))
        .collect();
    Some((
        outside.clone(),
        format!(
            "{outside} of pod {} is outside the grant: Tenant {d} grants {src} only {}; add the port there or stop what opens it",
            flow.dst,
            fields.join(", ")
        ),
    ))
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
    let members = |t: Target| -> Vec<(String, String, Labels)> {
        match t {
            Target::Class(c) => analysis.classes[c]
                .members
                .iter()
                .map(|&w| {
                    let workload = &cluster.workloads[w];
                    (group_of(w), workload.display_name(), workload.labels.clone())
                })
                .collect(),
            other => analysis
                .endpoint_names(other)
                .into_iter()
                .map(|n| (EXTERNAL.to_string(), n, Labels::new()))
                .collect(),
        }
    };
    analysis.for_each_class_pair(|src, dst, conn| {
        let dsts = members(dst);
        for (sg, sn, _) in members(src) {
            for (dg, dn, dl) in &dsts {
                if sn == *dn {
                    continue;
                }
                let cell = m.cells.entry((sg.clone(), dg.clone())).or_default();
                cell.conns = cell.conns.union(conn);
                cell.flows.push(Flow {
                    src: sn.clone(),
                    dst: dn.clone(),
                    conn: conn.clone(),
                    dst_labels: dl.clone(),
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
/// without a grant entry grants nothing): no grant of the source tenant at all, a pod no
/// `tenantGrants` entry of the source selects, or ports beyond those the selecting entries list.
pub fn ungranted<'m>(m: &'m TenantMatrix, grants: &BTreeMap<String, Grant>) -> Vec<Ungranted<'m>> {
    let mut out = Vec::new();
    for ((s, d), cell) in &m.cells {
        let tenant = |g: &str| g != NO_TENANT && g != EXTERNAL;
        if s == d || !tenant(s) || !tenant(d) {
            continue;
        }
        for flow in &cell.flows {
            if let Some((outside, why)) = uncovered(s, d, grants.get(d), flow) {
                out.push(Ungranted {
                    src: s,
                    dst: d,
                    flow,
                    outside,
                    why,
                });
            }
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
        .map(|g| ungranted(m, g).into_iter().map(|u| (u.src, u.dst)).collect())
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
