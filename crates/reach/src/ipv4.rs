//! External address ranges: 0.0.0.0/0 split at every boundary the policies mention.

use crate::model::{Cluster, IpBlock, Peer};
use std::net::Ipv4Addr;

fn blocks_of(peers: &[Peer]) -> impl Iterator<Item = &IpBlock> {
    peers.iter().flat_map(|p| match p {
        Peer::Ips(b) => b.as_slice(),
        _ => &[],
    })
}

/// The ipBlock / networks blocks of the policies' ingress rules (`ingress`) or egress rules.
/// External sources are split by the ingress blocks, external destinations by the egress blocks.
pub fn blocks(cluster: &Cluster, ingress: bool) -> Vec<&IpBlock> {
    let mut out = Vec::new();
    for p in &cluster.network_policies {
        let rules = if ingress { &p.ingress } else { &p.egress };
        let deny = &p.deny[usize::from(!ingress)];
        for r in rules.iter().flatten().chain(deny) {
            out.extend(blocks_of(r.peers.as_deref().unwrap_or(&[])));
        }
    }
    for p in cluster.admin_policies.iter().chain(&cluster.baseline) {
        let rules = if ingress { &p.ingress } else { &p.egress };
        for r in rules {
            out.extend(blocks_of(&r.peers));
        }
    }
    out
}

/// The addresses of a block (cidr minus exceptions) as disjoint inclusive intervals.
pub fn intervals(b: &IpBlock) -> Vec<(u64, u64)> {
    let mut excepts: Vec<(u64, u64)> = b
        .except
        .iter()
        .map(|&(lo, hi)| (u64::from(lo), u64::from(hi)))
        .collect();
    excepts.sort_unstable();
    let mut out = Vec::new();
    let mut start = u64::from(b.range.0);
    let end = u64::from(b.range.1);
    for (lo, hi) in excepts {
        if hi < start {
            continue;
        }
        if lo > start {
            out.push((start, lo - 1));
        }
        start = start.max(hi + 1);
    }
    if start <= end {
        out.push((start, end));
    }
    out
}

/// Splits 0.0.0.0-255.255.255.255 at the start and after the end of every interval of every
/// block's address set (so adjacent exceptions do not split).
pub fn atoms(blocks: &[&IpBlock]) -> Vec<(u32, u32)> {
    let mut cuts: Vec<u64> = vec![0, 1 << 32];
    for b in blocks {
        for (lo, hi) in intervals(b) {
            cuts.push(lo);
            cuts.push(hi + 1);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .filter_map(|w| Some((u32::try_from(w[0]).ok()?, u32::try_from(w[1] - 1).ok()?)))
        .collect()
}

/// `a.b.c.d-e.f.g.h[External]`.
pub fn display_range(lo: u32, hi: u32) -> String {
    format!("{}-{}[External]", Ipv4Addr::from(lo), Ipv4Addr::from(hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_cidr_and_except_boundaries() {
        let b = IpBlock {
            cidr: "10.0.0.0/8".into(),
            range: (0x0a00_0000, 0x0aff_ffff),
            except: vec![(0x0a01_0000, 0x0a01_ffff)],
        };
        let a = atoms(&[&b]);
        let shown: Vec<String> = a.iter().map(|&(l, h)| display_range(l, h)).collect();
        assert_eq!(
            shown,
            [
                "0.0.0.0-9.255.255.255[External]",
                "10.0.0.0-10.0.255.255[External]",
                "10.1.0.0-10.1.255.255[External]",
                "10.2.0.0-10.255.255.255[External]",
                "11.0.0.0-255.255.255.255[External]",
            ]
        );
        assert_eq!(atoms(&[]), vec![(0, u32::MAX)]);
    }
}
