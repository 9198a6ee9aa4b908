//! Label selectors (`matchLabels` AND `matchExpressions`) with Kubernetes matching rules.

use std::collections::BTreeMap;
use std::fmt;

/// Labels of a namespace or pod.
pub type Labels = BTreeMap<String, String>;

/// A `matchExpressions` operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// The label is present with one of the values.
    In,
    /// The label is absent, or present with none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl Operator {
    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Operator> {
        match s {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            _ => None,
        }
    }
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: Operator,
    /// Values (In/NotIn only).
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            // NotIn also matches objects that lack the key.
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A validated label selector. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    /// `matchLabels`.
    pub match_labels: Labels,
    /// `matchExpressions`.
    pub match_expressions: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything (`{}`).
    pub fn everything() -> Self {
        Selector::default()
    }

    /// A selector on one label.
    pub fn label(key: &str, value: &str) -> Self {
        let mut match_labels = Labels::new();
        match_labels.insert(key.to_string(), value.to_string());
        Selector {
            match_labels,
            match_expressions: Vec::new(),
        }
    }

    /// True for `{}`.
    pub fn is_everything(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Kubernetes matching: every `matchLabels` pair AND every expression.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Label keys this selector looks at.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.match_labels
            .keys()
            .map(String::as_str)
            .chain(self.match_expressions.iter().map(|r| r.key.as_str()))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_everything() {
            return f.write_str("{}");
        }
        let mut parts: Vec<String> = self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            });
        }
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, operator: Operator, values: &[&str]) -> Selector {
        Selector {
            match_labels: Labels::new(),
            match_expressions: vec![Requirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn table() {
        let with_a = labels(&[("tenant", "a")]);
        let with_b = labels(&[("tenant", "b")]);
        let without = labels(&[("other", "x")]);
        let cases: Vec<(Selector, &Labels, bool)> = vec![
            (Selector::everything(), &without, true),
            (Selector::label("tenant", "a"), &with_a, true),
            (Selector::label("tenant", "a"), &with_b, false),
            (expr("tenant", Operator::In, &["a", "c"]), &with_a, true),
            (expr("tenant", Operator::In, &["a"]), &without, false),
            (expr("tenant", Operator::NotIn, &["a"]), &with_a, false),
            (expr("tenant", Operator::NotIn, &["a"]), &with_b, true),
            // NotIn matches objects without the key.
            (expr("tenant", Operator::NotIn, &["a"]), &without, true),
            (expr("tenant", Operator::Exists, &[]), &without, false),
            (expr("tenant", Operator::DoesNotExist, &[]), &without, true),
        ];
        for (i, (sel, l, want)) in cases.iter().enumerate() {
            assert_eq!(sel.matches(l), *want, "case {i}: {sel} on {l:?}");
        }
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let mut sel = expr("tier", Operator::Exists, &[]);
        sel.match_labels.insert("app".into(), "web".into());
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "x")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert!(!sel.matches(&labels(&[("tier", "x")])));
    }
}
