//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) → model.

use crate::error::Error;
use crate::model::{Action, AdminPolicy, AdminRule, NamespaceScope, Origin, Peer, PodSet, PortItem, Ports};
use crate::parse::fields::{self, Ctx};
use crate::parse::{netpol, raw};
use crate::ports::PortSet;
use crate::selector::Selector;

/// Converts one admin policy; `baseline` for the BANP (no priority, no Pass).
pub fn convert(
    ctx: &Ctx<'_>,
    raw: &raw::AdminPolicy,
    name: &str,
    baseline: bool,
    notes: &mut Vec<String>,
) -> Result<AdminPolicy, Error> {
    let spec = &raw.spec;
    let priority = if baseline {
        None
    } else {
        let v = spec
            .priority
            .as_ref()
            .ok_or_else(|| ctx.invalid("spec.priority", "required; expected 0-1000"))?;
        let p = v
            .as_u64()
            .filter(|&p| p <= 1000)
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| ctx.invalid("spec.priority", format!("got {v}; expected 0-1000")))?;
        Some(p)
    };
    let subject = match &spec.subject {
        Some(s) => pods_or_namespaces(ctx, "spec.subject", s.namespaces.as_ref(), s.pods.as_ref())?,
        None => return Err(ctx.invalid("spec.subject", "required; expected namespaces or pods")),
    };
    let ingress = rules(ctx, "spec.ingress", &spec.ingress, baseline, true, notes)?;
    let egress = rules(ctx, "spec.egress", &spec.egress, baseline, false, notes)?;
    Ok(AdminPolicy {
        name: name.to_string(),
        priority,
        subject,
        ingress,
        egress,
        origin: Origin {
            source: ctx.file.to_string(),
        },
    })
}

fn pods_or_namespaces(
    ctx: &Ctx<'_>,
    field: &str,
    namespaces: Option<&raw::Selector>,
    pods: Option<&raw::AdminPods>,
) -> Result<PodSet, Error> {
    match (namespaces, pods) {
        (Some(ns), None) => Ok(PodSet {
            namespaces: NamespaceScope::Selector(fields::selector(ctx, &format!("{field}.namespaces"), ns)?),
            pods: Selector::everything(),
        }),
        (None, Some(p)) => Ok(PodSet {
            namespaces: NamespaceScope::Selector(match &p.namespace_selector {
                Some(s) => fields::selector(ctx, &format!("{field}.pods.namespaceSelector"), s)?,
                None => Selector::everything(),
            }),
            pods: match &p.pod_selector {
                Some(s) => fields::selector(ctx, &format!("{field}.pods.podSelector"), s)?,
                None => Selector::everything(),
            },
        }),
        _ => Err(ctx.invalid(field, "expected exactly one of namespaces or pods")),
    }
}

fn rules(
    ctx: &Ctx<'_>,
    field: &str,
    raw: &[raw::AdminRule],
    baseline: bool,
    ingress: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<AdminRule>, Error> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let action = match (r.action.as_str(), baseline) {
            ("Allow", _) => Action::Allow,
            ("Deny", _) => Action::Deny,
            ("Pass", false) => Action::Pass,
            (other, _) => {
                let expected = if baseline {
                    "Allow or Deny"
                } else {
                    "Allow, Deny or Pass"
                };
                return Err(ctx.invalid(
                    &format!("{f}.action"),
                    format!("unknown action {other:?}; expected {expected}"),
                ));
            }
        };
        let (pf, list) = if ingress { ("from", &r.from) } else { ("to", &r.to) };
        let mut peers = Vec::new();
        for (j, p) in list.iter().enumerate() {
            let pfield = format!("{f}.{pf}[{j}]");
            peers.push(peer(ctx, &pfield, p, notes)?);
        }
        out.push(AdminRule {
            name: r.name.clone(),
            action,
            peers,
            ports: ports(ctx, &format!("{f}.ports"), r.ports.as_deref())?,
        });
    }
    Ok(out)
}

fn peer(ctx: &Ctx<'_>, field: &str, p: &raw::AdminPeer, notes: &mut Vec<String>) -> Result<Peer, Error> {
    if let Some(nets) = &p.networks {
        return Ok(Peer::Ips(netpol::networks(
            ctx,
            &format!("{field}.networks"),
            nets,
            notes,
        )?));
    }
    if p.nodes.is_some() {
        notes.push(format!(
            "{}: {}: {field}: `nodes` peers are not modelled (nodes are not endpoints); the peer matches no workload",
            ctx.file, ctx.object
        ));
        return Ok(Peer::Unsupported("nodes".to_string()));
    }
    if p.namespaces.is_none() && p.pods.is_none() {
        return Err(ctx.invalid(field, "expected one of namespaces, pods, networks or nodes"));
    }
    Ok(Peer::Pods(pods_or_namespaces(
        ctx,
        field,
        p.namespaces.as_ref(),
        p.pods.as_ref(),
    )?))
}

fn ports(ctx: &Ctx<'_>, field: &str, raw: Option<&[raw::AdminPort]>) -> Result<Ports, Error> {
    let Some(list) = raw else {
        return Ok(Ports::any());
    };
    let mut items = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if let Some(n) = &p.port_number {
            let proto = fields::protocol(ctx, &format!("{f}.portNumber.protocol"), n.protocol.as_deref())?;
            let v = n.port.clone().unwrap_or_default();
            let port = fields::port_number(ctx, &format!("{f}.portNumber.port"), &v)?;
            items.push(PortItem::Numbers(proto, PortSet::range(port, port)));
        } else if let Some(r) = &p.port_range {
            let proto = fields::protocol(ctx, &format!("{f}.portRange.protocol"), r.protocol.as_deref())?;
            let start = fields::port_number(
                ctx,
                &format!("{f}.portRange.start"),
                &r.start.clone().unwrap_or_default(),
            )?;
            let end = fields::port_number(ctx, &format!("{f}.portRange.end"), &r.end.clone().unwrap_or_default())?;
            if end < start {
                return Err(ctx.invalid(
                    &format!("{f}.portRange.end"),
                    format!("end {end} is below start {start}"),
                ));
            }
            items.push(PortItem::Numbers(proto, PortSet::range(start, end)));
        } else if let Some(name) = &p.named_port {
            items.push(PortItem::Named(None, name.clone()));
        } else {
            return Err(ctx.invalid(&f, "expected one of portNumber, portRange or namedPort"));
        }
    }
    Ok(Ports { items: Some(items) })
}
