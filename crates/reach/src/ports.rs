//! Port-range sets and per-protocol connection sets.

use std::fmt;

/// Lowest and highest port numbers a connection set covers.
pub const MIN_PORT: u16 = 1;
/// Highest port number.
pub const MAX_PORT: u16 = 65535;

/// The transport protocols NetworkPolicy knows, in the corpus's (alphabetical) output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// SCTP
    Sctp,
    /// TCP
    Tcp,
    /// UDP
    Udp,
}

impl Protocol {
    /// All protocols in output order.
    pub const ALL: [Protocol; 3] = [Protocol::Sctp, Protocol::Tcp, Protocol::Udp];

    /// Parses `TCP`, `UDP` or `SCTP` (case-sensitive, as the API server requires).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    fn index(self) -> usize {
        match self {
            Protocol::Sctp => 0,
            Protocol::Tcp => 1,
            Protocol::Udp => 2,
        }
    }
}

/// A set of ports: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// No port.
    pub fn empty() -> Self {
        PortSet { ranges: Vec::new() }
    }

    /// Every port 1-65535.
    pub fn all() -> Self {
        PortSet {
            ranges: vec![(MIN_PORT, MAX_PORT)],
        }
    }

    /// The inclusive range `from..=to` (empty when `from > to`).
    pub fn range(from: u16, to: u16) -> Self {
        let from = from.max(MIN_PORT);
        if from > to {
            return PortSet::empty();
        }
        PortSet {
            ranges: vec![(from, to)],
        }
    }

    /// True when no port is in the set.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// True when every port is in the set.
    pub fn is_all(&self) -> bool {
        self.ranges == [(MIN_PORT, MAX_PORT)]
    }

    /// True when `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= port && port <= b)
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// Set union.
    pub fn union(&self, other: &PortSet) -> PortSet {
        if other.ranges.is_empty() {
            return self.clone();
        }
        if self.ranges.is_empty() {
            return other.clone();
        }
        let mut all: Vec<(u16, u16)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match out.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        PortSet { ranges: out }
    }

    /// Set intersection.
    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a1, b1) = self.ranges[i];
            let (a2, b2) = other.ranges[j];
            let (a, b) = (a1.max(a2), b1.min(b2));
            if a <= b {
                out.push((a, b));
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet { ranges: out }
    }

    /// Ports in `self` and not in `other`.
    pub fn subtract(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        for &(a, b) in &self.ranges {
            let mut start = u32::from(a);
            let end = u32::from(b);
            for &(c, d) in &other.ranges {
                let (c, d) = (u32::from(c), u32::from(d));
                if d < start || c > end {
                    continue;
                }
                if c > start {
                    out.push((start, c - 1));
                }
                start = d + 1;
                if start > end {
                    break;
                }
            }
            if start <= end {
                out.push((start, end));
            }
        }
        PortSet {
            ranges: out
                .into_iter()
                .filter_map(|(a, b)| Some((u16::try_from(a).ok()?, u16::try_from(b).ok()?)))
                .collect(),
        }
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// Allowed connections: one port set per protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnSet {
    ports: [PortSet; 3],
}

impl ConnSet {
    /// Nothing allowed.
    pub fn none() -> Self {
        ConnSet::default()
    }

    /// Every port of every protocol.
    pub fn all() -> Self {
        ConnSet {
            ports: [PortSet::all(), PortSet::all(), PortSet::all()],
        }
    }

    /// Every port of one protocol.
    pub fn protocol(protocol: Protocol) -> Self {
        ConnSet::ports(protocol, PortSet::all())
    }

    /// The given ports of one protocol.
    pub fn ports(protocol: Protocol, ports: PortSet) -> Self {
        let mut c = ConnSet::none();
        c.ports[protocol.index()] = ports;
        c
    }

    /// The port set of one protocol.
    pub fn get(&self, protocol: Protocol) -> &PortSet {
        &self.ports[protocol.index()]
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.ports.iter().all(PortSet::is_empty)
    }

    /// True when everything is allowed.
    pub fn is_all(&self) -> bool {
        self.ports.iter().all(PortSet::is_all)
    }

    /// True when `protocol`/`port` is allowed.
    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        self.get(protocol).contains(port)
    }

    /// Set union.
    pub fn union(&self, other: &ConnSet) -> ConnSet {
        ConnSet {
            ports: [0, 1, 2].map(|i| self.ports[i].union(&other.ports[i])),
        }
    }

    /// Set intersection.
    pub fn intersect(&self, other: &ConnSet) -> ConnSet {
        if self.is_all() {
            return other.clone();
        }
        if other.is_all() {
            return self.clone();
        }
        ConnSet {
            ports: [0, 1, 2].map(|i| self.ports[i].intersect(&other.ports[i])),
        }
    }

    /// Connections in `self` and not in `other`.
    pub fn subtract(&self, other: &ConnSet) -> ConnSet {
        ConnSet {
            ports: [0, 1, 2].map(|i| self.ports[i].subtract(&other.ports[i])),
        }
    }
}

impl fmt::Display for ConnSet {
    /// `All Connections`, `No Connections`, or e.g. `SCTP 1-9002,9004-65535,TCP 1-65535`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("All Connections");
        }
        if self.is_empty() {
            return f.write_str("No Connections");
        }
        let mut first = true;
        for p in Protocol::ALL {
            let set = self.get(p);
            if set.is_empty() {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{} {set}", p.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_merges_adjacent_and_overlapping() {
        let a = PortSet::range(1, 79).union(&PortSet::range(81, 100));
        assert_eq!(a.to_string(), "1-79,81-100");
        let b = a.union(&PortSet::range(80, 80));
        assert_eq!(b.to_string(), "1-100");
        assert_eq!(PortSet::range(5, 9).union(&PortSet::range(1, 6)).to_string(), "1-9");
    }

    #[test]
    fn subtract_and_intersect() {
        let all = PortSet::all();
        let hole = all.subtract(&PortSet::range(9003, 9003));
        assert_eq!(hole.to_string(), "1-9002,9004-65535");
        assert_eq!(
            hole.intersect(&PortSet::range(9000, 9010)).to_string(),
            "9000-9002,9004-9010"
        );
        assert!(all.subtract(&all).is_empty());
        assert_eq!(all.subtract(&PortSet::range(1, 1)).to_string(), "2-65535");
        assert_eq!(all.subtract(&PortSet::range(65535, 65535)).to_string(), "1-65534");
    }

    #[test]
    fn conn_set_formats_like_the_corpus() {
        assert_eq!(ConnSet::all().to_string(), "All Connections");
        let c = ConnSet::all().subtract(&ConnSet::ports(Protocol::Sctp, PortSet::range(9003, 9003)));
        assert_eq!(c.to_string(), "SCTP 1-9002,9004-65535,TCP 1-65535,UDP 1-65535");
        let d = ConnSet::ports(Protocol::Udp, PortSet::range(10053, 10053))
            .union(&ConnSet::ports(Protocol::Tcp, PortSet::range(10053, 10054)));
        assert_eq!(d.to_string(), "TCP 10053-10054,UDP 10053");
        assert_eq!(ConnSet::none().to_string(), "No Connections");
    }

    #[test]
    fn port_zero_is_not_a_port() {
        assert!(PortSet::range(0, 0).is_empty());
        assert_eq!(PortSet::range(0, 65535), PortSet::all());
    }
}
