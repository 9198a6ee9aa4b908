//! NetworkPolicy (networking.k8s.io/v1) → model, with the API server's defaulting.

use crate::error::Error;
use crate::model::{IpBlock, NamespaceScope, NetworkPolicy, NpRule, Origin, Peer, PodSet, PolicyKind, PortItem, Ports};
use crate::parse::fields::{self, Ctx, NumberOrName};
use crate::parse::raw;
use crate::ports::PortSet;
use crate::selector::Selector;

/// Converts one NetworkPolicy in namespace `namespace`.
pub fn convert(
    ctx: &Ctx<'_>,
    raw: &raw::NetworkPolicy,
    namespace: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<NetworkPolicy, Error> {
    let spec = &raw.spec;
    let pod_selector = match &spec.pod_selector {
        Some(s) => fields::selector(ctx, "spec.podSelector", s)?,
        None => Selector::everything(),
    };
    // policyTypes defaulting: [Ingress], plus Egress when egress rules exist.
    let (isolates_ingress, isolates_egress) = match &spec.policy_types {
        Some(types) if !types.is_empty() => {
            let mut ing = false;
            let mut eg = false;
            for (i, t) in types.iter().enumerate() {
                match t.as_str() {
                    "Ingress" => ing = true,
                    "Egress" => eg = true,
                    other => {
                        return Err(ctx.invalid(
                            &format!("spec.policyTypes[{i}]"),
                            format!("unknown policy type {other:?}; expected Ingress or Egress"),
                        ));
                    }
                }
            }
            (ing, eg)
        }
        _ => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    };
    let ingress = if isolates_ingress {
        Some(rules(
            ctx,
            "spec.ingress",
            spec.ingress.as_deref(),
            namespace,
            notes,
            true,
        )?)
    } else {
        None
    };
    let egress = if isolates_egress {
        Some(rules(
            ctx,
            "spec.egress",
            spec.egress.as_deref(),
            namespace,
            notes,
            false,
        )?)
    } else {
        None
    };
    Ok(NetworkPolicy {
        kind: PolicyKind::NetworkPolicy,
        namespace: namespace.to_string(),
        name: name.to_string(),
        pod_selector,
        ingress,
        egress,
        subject: None,
        deny: [Vec::new(), Vec::new()],
        origin: Origin {
            source: ctx.file.to_string(),
        },
    })
}

fn rules(
    ctx: &Ctx<'_>,
    field: &str,
    raw: Option<&[raw::NpRule]>,
    namespace: &str,
    notes: &mut Vec<String>,
    ingress: bool,
) -> Result<Vec<NpRule>, Error> {
    let mut out = Vec::new();
    for (i, r) in raw.unwrap_or(&[]).iter().enumerate() {
        let f = format!("{field}[{i}]");
        let (peer_field, raw_peers) = if ingress { ("from", &r.from) } else { ("to", &r.to) };
        let peers = match raw_peers {
            Some(list) if !list.is_empty() => {
                let mut peers = Vec::new();
                for (j, p) in list.iter().enumerate() {
                    let pf = format!("{f}.{peer_field}[{j}]");
                    peers.push(peer(ctx, &pf, p, namespace, notes)?);
                }
                Some(peers)
            }
            _ => None,
        };
        out.push(NpRule {
            peers,
            ports: ports(ctx, &format!("{f}.ports"), r.ports.as_deref())?,
        });
    }
    Ok(out)
}

fn peer(ctx: &Ctx<'_>, field: &str, p: &raw::NpPeer, namespace: &str, notes: &mut Vec<String>) -> Result<Peer, Error> {
    if let Some(block) = &p.ip_block {
        if p.pod_selector.is_some() || p.namespace_selector.is_some() {
            return Err(ctx.invalid(
                field,
                "ipBlock cannot be combined with podSelector or namespaceSelector in one peer",
            ));
        }
        return Ok(Peer::Ips(
            ip_block(ctx, &format!("{field}.ipBlock"), block, notes)?
                .into_iter()
                .collect(),
        ));
    }
    let pods = match &p.pod_selector {
        Some(s) => fields::selector(ctx, &format!("{field}.podSelector"), s)?,
        None => Selector::everything(),
    };
    let namespaces = match (&p.namespace_selector, &p.pod_selector) {
        (Some(s), _) => NamespaceScope::Selector(fields::selector(ctx, &format!("{field}.namespaceSelector"), s)?),
        (None, Some(_)) => NamespaceScope::Named(namespace.to_string()),
        (None, None) => {
            return Err(ctx.invalid(field, "a peer must set podSelector, namespaceSelector or ipBlock"));
        }
    };
    Ok(Peer::Pods(PodSet { namespaces, pods }))
}

/// Converts an ipBlock; `None` when it is IPv6 (ignored, with a note).
pub fn ip_block(
    ctx: &Ctx<'_>,
    field: &str,
    b: &raw::IpBlock,
    notes: &mut Vec<String>,
) -> Result<Option<IpBlock>, Error> {
    let Some(range) = fields::cidr(ctx, &format!("{field}.cidr"), &b.cidr)? else {
        notes.push(format!(
            "{}: {}: {field}: IPv6 block {} ignored",
            ctx.file, ctx.object, b.cidr
        ));
        return Ok(None);
    };
    let mut except = Vec::new();
    for (i, e) in b.except.iter().flatten().enumerate() {
        let ef = format!("{field}.except[{i}]");
        let Some(r) = fields::cidr(ctx, &ef, e)? else {
            continue;
        };
        if r.0 < range.0 || r.1 > range.1 {
            return Err(ctx.invalid(
                &ef,
                format!("{e} is not inside cidr {}; every except must lie in the cidr", b.cidr),
            ));
        }
        except.push(r);
    }
    Ok(Some(IpBlock {
        cidr: b.cidr.clone(),
        range,
        except,
    }))
}

fn ports(ctx: &Ctx<'_>, field: &str, raw: Option<&[raw::NpPort]>) -> Result<Ports, Error> {
    let Some(list) = raw.filter(|l| !l.is_empty()) else {
        return Ok(Ports::any());
    };
    let mut items = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let proto = fields::protocol(ctx, &format!("{f}.protocol"), p.protocol.as_deref())?;
        let item = match &p.port {
            None => {
                if p.end_port.is_some() {
                    return Err(ctx.invalid(&format!("{f}.endPort"), "endPort requires port"));
                }
                PortItem::Numbers(proto, PortSet::all())
            }
            Some(v) => match fields::number_or_name(ctx, &format!("{f}.port"), v)? {
                NumberOrName::Number(n) => {
                    let end = match &p.end_port {
                        Some(e) => {
                            let end = fields::port_number(ctx, &format!("{f}.endPort"), e)?;
                            if end < n {
                                return Err(ctx.invalid(
                                    &format!("{f}.endPort"),
                                    format!("endPort {end} is below port {n}; expected endPort >= port"),
                                ));
                            }
                            end
                        }
                        None => n,
                    };
                    PortItem::Numbers(proto, PortSet::range(n, end))
                }
                NumberOrName::Name(name) => {
                    if p.end_port.is_some() {
                        return Err(ctx.invalid(
                            &format!("{f}.endPort"),
                            "endPort requires a numeric port, not a named port",
                        ));
                    }
                    PortItem::Named(Some(proto), name)
                }
            },
        };
        items.push(item);
    }
    Ok(Ports { items: Some(items) })
}

/// Converts admin-policy `networks` CIDRs into one ipBlock each.
pub fn networks(ctx: &Ctx<'_>, field: &str, nets: &[String], notes: &mut Vec<String>) -> Result<Vec<IpBlock>, Error> {
    let mut out = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        let raw = raw::IpBlock {
            cidr: n.clone(),
            except: None,
        };
        if let Some(b) = ip_block(ctx, &format!("{field}[{i}]"), &raw, notes)? {
            out.push(b);
        }
    }
    Ok(out)
}
