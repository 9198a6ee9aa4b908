//! `--explain SRC DST`: which rule of which policy allows or denies each direction.

use crate::engine::{Analysis, Direction, INGRESS_CONTROLLER, Step, Target};
use crate::error::Error;
use crate::ports::ConnSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// Resolves an endpoint name: `ns/name[Kind]`, `ns/name` (when unique), an IPv4 address (the
/// external range holding it), or `{ingress-controller}` (as a source).
pub fn resolve(analysis: &Analysis<'_>, name: &str, as_source: bool) -> Result<(Target, String), Error> {
    if name == INGRESS_CONTROLLER {
        if !as_source {
            return Err(Error::Lookup {
                what: name.to_string(),
                message: "the ingress controller is only a source".to_string(),
            });
        }
        return Ok((Target::IngressController, name.to_string()));
    }
    let ip_text = name.split('-').next().unwrap_or(name).trim_end_matches("[External]");
    if let Ok(ip) = ip_text.parse::<Ipv4Addr>() {
        let ip = u32::from(ip);
        let range = if as_source {
            0..analysis.source_atoms
        } else {
            analysis.source_atoms..analysis.atoms.len()
        };
        for a in range {
            let (lo, hi) = analysis.atoms[a];
            if lo <= ip && ip <= hi {
                return Ok((Target::Atom(a), crate::ipv4::display_range(lo, hi)));
            }
        }
    }
    let workloads = &analysis.cluster.workloads;
    let matches: Vec<usize> = (0..workloads.len())
        .filter(|&i| {
            let w = &workloads[i];
            w.display_name() == name || format!("{}/{}", w.namespace, w.name) == name
        })
        .collect();
    match matches.as_slice() {
        [i] => Ok((Target::Class(analysis.class_of[*i]), workloads[*i].display_name())),
        [] => Err(Error::Lookup {
            what: name.to_string(),
            message: "no such workload; expected ns/name[Kind], ns/name, an IPv4 address or {ingress-controller}"
                .to_string(),
        }),
        several => Err(Error::Lookup {
            what: name.to_string(),
            message: format!(
                "ambiguous; it names {}",
                several
                    .iter()
                    .map(|&i| workloads[i].display_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

fn steps_text(out: &mut String, steps: &[Step]) {
    for s in steps {
        let verdict = if s.allowed { "allowed" } else { "denied " };
        let _ = writeln!(out, "    {verdict} {}: {}", s.conns, s.reason);
    }
}

/// The explanation of `src => dst`, as text.
pub fn explain(analysis: &Analysis<'_>, src: &str, dst: &str) -> Result<String, Error> {
    let (s, s_name) = resolve(analysis, src, true)?;
    let (d, d_name) = resolve(analysis, dst, false)?;
    let Target::Class(dst_class) = d else {
        if let Target::Class(src_class) = s {
            let mut steps = Vec::new();
            let egress = analysis.direction(Direction::Egress, src_class, d, Some(&mut steps));
            let mut out = format!("{s_name} => {d_name}\n  Allowed: {egress}\n");
            let _ = writeln!(out, "  Egress from {s_name}:");
            steps_text(&mut out, &steps);
            let _ = writeln!(out, "  Ingress to {d_name}: external, not checked");
            return Ok(out);
        }
        return Err(Error::Lookup {
            what: format!("{src} => {dst}"),
            message: "at least one end must be a workload".to_string(),
        });
    };
    let mut eg_steps = Vec::new();
    let egress = match s {
        Target::Class(c) => analysis
            .direction(Direction::Egress, c, d, Some(&mut eg_steps))
            .into_owned(),
        _ => ConnSet::all(),
    };
    let mut in_steps = Vec::new();
    let ingress = analysis.direction(Direction::Ingress, dst_class, s, Some(&mut in_steps));
    let mut allowed = egress.intersect(&ingress);
    let mut out = format!("{s_name} => {d_name}\n");
    if s == Target::IngressController {
        let exposed = analysis
            .cluster
            .workloads
            .iter()
            .find(|w| w.display_name() == d_name)
            .map(|w| analysis.exposed(w))
            .unwrap_or_default();
        allowed = allowed.intersect(&exposed);
        let _ = writeln!(out, "  Exposed by Ingress/Route objects: {exposed}");
    }
    let _ = writeln!(out, "  Allowed: {allowed}");
    match s {
        Target::Class(_) => {
            let _ = writeln!(out, "  Egress from {s_name}:");
            steps_text(&mut out, &eg_steps);
        }
        _ => {
            let _ = writeln!(out, "  Egress from {s_name}: not checked (outside the cluster's pods)");
        }
    }
    let _ = writeln!(out, "  Ingress to {d_name}:");
    steps_text(&mut out, &in_steps);
    Ok(out)
}
