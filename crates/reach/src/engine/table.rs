//! Fast all-pairs evaluation. Classes that are selected by the same policies in a direction share
//! a *profile*; for each profile, targets that match the same peers of its rules (and expose the
//! same named ports) get the same answer, computed once. A pair is then two table lookups and a
//! memoised intersection.

use super::{Analysis, CPeer, CRule, Direction, Target};
use crate::bitset::FxHashMap;
use crate::ports::ConnSet;

const NONE: u32 = 0;
const ALL: u32 = 1;

/// Interned connection sets.
struct Conns {
    sets: Vec<ConnSet>,
    index: FxHashMap<ConnSet, u32>,
}

impl Conns {
    fn new() -> Self {
        let mut c = Conns {
            sets: Vec::new(),
            index: FxHashMap::default(),
        };
        c.intern(ConnSet::none());
        c.intern(ConnSet::all());
        c
    }

    fn intern(&mut self, c: ConnSet) -> u32 {
        if let Some(&i) = self.index.get(&c) {
            return i;
        }
        let i = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
        self.sets.push(c.clone());
        self.index.insert(c, i);
        i
    }
}

/// The key under which a class's rules in one direction are evaluated.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ProfileKey {
    nps: Vec<usize>,
    denies: Vec<usize>,
    anps: Vec<usize>,
    banp: bool,
    /// The subject's own named ports, when ingress rules use named ports.
    ports: Option<usize>,
}

struct Profile {
    rep: usize,
    list: usize,
}

/// A distinct peer list (with whether target named ports matter): every target's key, and one
/// representative target per key.
struct PeerList {
    target_key: Vec<u32>,
    rep_target: Vec<Target>,
}

/// One direction's table.
struct DirTable {
    of_class: Vec<Option<usize>>,
    /// Per profile: its peer list and the answer per target key.
    answers: Vec<(usize, Vec<u32>)>,
    lists: Vec<PeerList>,
}

impl DirTable {
    /// The answer for `subject` (a class) with `target` (an index into classes then atoms).
    fn get(&self, subject: usize, target: usize) -> u32 {
        match self.of_class[subject] {
            None => ALL,
            Some(p) => {
                let (list, answers) = &self.answers[p];
                let key = self.lists[*list].target_key[target];
                answers[key as usize]
            }
        }
    }
}

impl Analysis<'_> {
    fn rules_of(&self, key: &ProfileKey, d: usize) -> Vec<&CRule> {
        let mut out: Vec<&CRule> = Vec::new();
        for &i in &key.anps {
            out.extend(&self.admin_rules[i][d]);
        }
        for &i in &key.nps {
            out.extend(self.np_rules[i][d].iter().flatten());
        }
        if key.banp {
            out.extend(&self.banp_rules[d]);
        }
        for &i in &key.denies {
            out.extend(&self.np_deny[i][d]);
        }
        out
    }

    /// Per direction: each class's profile (None = open) and each profile's answers.
    fn tables(&self, conns: &mut Conns) -> [DirTable; 2] {
        let mut port_ids: FxHashMap<&[crate::model::ContainerPort], u32> = FxHashMap::default();
        let class_ports: Vec<u32> = self
            .classes
            .iter()
            .map(|c| {
                let n = u32::try_from(port_ids.len()).unwrap_or(u32::MAX);
                *port_ids.entry(c.ports.as_slice()).or_insert(n)
            })
            .collect();
        let targets: Vec<Target> = (0..self.classes.len())
            .map(Target::Class)
            .chain((0..self.atoms.len()).map(Target::Atom))
            .collect();
        [Direction::Ingress, Direction::Egress].map(|dir| {
            let d = match dir {
                Direction::Ingress => 0,
                Direction::Egress => 1,
            };
            let mut keys: FxHashMap<ProfileKey, usize> = FxHashMap::default();
            let mut list_index: FxHashMap<(Vec<CPeer>, bool), usize> = FxHashMap::default();
            let mut lists: Vec<PeerList> = Vec::new();
            let mut profiles: Vec<Profile> = Vec::new();
            let mut of_class = Vec::with_capacity(self.classes.len());
            for (ci, c) in self.classes.iter().enumerate() {
                if self.open(ci, dir) {
                    of_class.push(None);
                    continue;
                }
                let mut key = ProfileKey {
                    nps: c.nps[d].clone(),
                    denies: c.denies[d].clone(),
                    anps: c
                        .anps
                        .iter()
                        .copied()
                        .filter(|&i| !self.admin_rules[i][d].is_empty())
                        .collect(),
                    banp: c.banp && !self.banp_rules[d].is_empty(),
                    ports: None,
                };
                let rules = self.rules_of(&key, d);
                let named = rules.iter().any(|r| r.fixed.is_none());
                if named && dir == Direction::Ingress {
                    key.ports = Some(class_ports[ci] as usize);
                }
                if let Some(&pi) = keys.get(&key) {
                    of_class.push(Some(pi));
                    continue;
                }
                let mut peers: Vec<CPeer> = Vec::new();
                for r in &rules {
                    for p in r.peers.iter().flatten() {
                        if !peers.contains(p) {
                            peers.push(*p);
                        }
                    }
                }
                let target_ports = named && dir == Direction::Egress;
                let list = match list_index.get(&(peers.clone(), target_ports)) {
                    Some(&l) => l,
                    None => {
                        lists.push(self.peer_list(&peers, target_ports, dir, &targets, &class_ports));
                        list_index.insert((peers, target_ports), lists.len() - 1);
                        lists.len() - 1
                    }
                };
                profiles.push(Profile { rep: ci, list });
                keys.insert(key, profiles.len() - 1);
                of_class.push(Some(profiles.len() - 1));
            }
            let answers = profiles
                .iter()
                .map(|p| {
                    let answers = lists[p.list]
                        .rep_target
                        .iter()
                        .map(|&t| conns.intern(self.direction(dir, p.rep, t, None).into_owned()))
                        .collect();
                    (p.list, answers)
                })
                .collect();
            DirTable {
                of_class,
                answers,
                lists,
            }
        })
    }

    /// For each peer, the targets (classes, then atoms offset by the class count) it matches.
    fn peer_targets(&self, peer: CPeer) -> Vec<usize> {
        let n = self.classes.len();
        match peer {
            CPeer::Nothing => Vec::new(),
            CPeer::Pods(i) => self.pod_set_classes.get(i).cloned().unwrap_or_default(),
            CPeer::Ips(i) => {
                let mut out: Vec<usize> = Vec::new();
                if self.options.ipblock_matches_pod_ips {
                    out.extend((0..n).filter(|&c| self.classes[c].ip_peers.get(i)));
                }
                out.extend(
                    (0..self.atoms.len())
                        .filter(|&a| self.ip_atoms[i].get(a))
                        .map(|a| n + a),
                );
                out
            }
        }
    }

    /// Keys every target by which of `peers` it matches (and its named ports when they matter).
    fn peer_list(
        &self,
        peers: &[CPeer],
        target_ports: bool,
        dir: Direction,
        targets: &[Target],
        class_ports: &[u32],
    ) -> PeerList {
        let words = peers.len().div_ceil(64).max(1);
        let mut bits = vec![0u64; targets.len() * words];
        for (i, &peer) in peers.iter().enumerate() {
            for t in self.peer_targets(peer) {
                if let Some(w) = bits.get_mut(t * words + i / 64) {
                    *w |= 1 << (i % 64);
                }
            }
        }
        let mut index: FxHashMap<(&[u64], u32), u32> = FxHashMap::default();
        // Most targets match none of the peers: their key depends only on `ports`.
        let mut unmatched: FxHashMap<u32, u32> = FxHashMap::default();
        let mut rep_target = Vec::new();
        let target_key = targets
            .iter()
            .enumerate()
            .map(|(ti, &t)| {
                let ports = match t {
                    Target::Class(c) if target_ports => class_ports[c],
                    Target::Class(_) => u32::MAX - 1,
                    // Sources split by ingress blocks, destinations by egress blocks.
                    Target::Atom(a) if (a < self.source_atoms) == (dir == Direction::Ingress) => u32::MAX - 2,
                    Target::Atom(_) | Target::IngressController => u32::MAX - 3,
                };
                let n = u32::try_from(rep_target.len()).unwrap_or(u32::MAX);
                let key = &bits[ti * words..(ti + 1) * words];
                if key.iter().all(|&w| w == 0) {
                    return *unmatched.entry(ports).or_insert_with(|| {
                        rep_target.push(t);
                        n
                    });
                }
                *index.entry((key, ports)).or_insert_with(|| {
                    rep_target.push(t);
                    n
                })
            })
            .collect();
        PeerList { target_key, rep_target }
    }

    /// Calls `f(src, dst, conns)` for every ordered pair of endpoints (workload classes and external
    /// ranges, at least one a class) with a non-empty connection set. Class members are not expanded;
    /// a class is paired with itself when it has several members.
    pub fn for_each_class_pair(&self, mut f: impl FnMut(Target, Target, &ConnSet)) {
        let mut conns = Conns::new();
        let [ing, eg] = self.tables(&mut conns);
        let n = self.classes.len();
        let mut meet: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        for src in 0..n {
            for dst in 0..n {
                if src == dst && self.classes[src].members.len() < 2 {
                    continue;
                }
                let e = eg.get(src, dst);
                if e == NONE {
                    continue;
                }
                let i = ing.get(dst, src);
                let c = match (e, i) {
                    (_, NONE) => continue,
                    (ALL, x) | (x, ALL) => x,
                    (a, b) if a == b => a,
                    (a, b) => *meet.entry((a, b)).or_insert_with(|| {
                        let m = conns.sets[a as usize].intersect(&conns.sets[b as usize]);
                        conns.intern(m)
                    }),
                };
                if c != NONE {
                    f(Target::Class(src), Target::Class(dst), &conns.sets[c as usize]);
                }
            }
            for a in self.source_atoms..self.atoms.len() {
                let e = eg.get(src, n + a);
                if e != NONE {
                    f(Target::Class(src), Target::Atom(a), &conns.sets[e as usize]);
                }
            }
        }
        for a in 0..self.source_atoms {
            for dst in 0..n {
                let i = ing.get(dst, n + a);
                if i != NONE {
                    f(Target::Atom(a), Target::Class(dst), &conns.sets[i as usize]);
                }
            }
        }
    }
}
