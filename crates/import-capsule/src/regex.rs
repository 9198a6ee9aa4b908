//! Capsule's regular expressions, translated where they are simple enough to be exact names, prefixes or wildcards.

/// What a translated regular expression is matched against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegexTarget {
    /// Class names: exact or `prefix*`.
    Class,
    /// Ingress hostnames: exact or `*.domain`.
    Hostname,
    /// Registry hosts: image prefixes.
    Registry,
}

/// Palisade patterns for a regular expression, with what differs.
pub(crate) struct Translation {
    pub(crate) patterns: Vec<String>,
    caveats: Vec<&'static str>,
    /// The expression matches every name (`.*`).
    pub(crate) everything: bool,
}

impl Translation {
    pub(crate) fn describe(&self, regex: &str, target: &str) -> String {
        let patterns: Vec<String> = self.patterns.iter().map(|p| format!("`{p}`")).collect();
        let mut text = format!(
            "regular expression `{regex}` converted to {} in {target}",
            patterns.join(", ")
        );
        if self.caveats.is_empty() {
            text.push_str(" (the same names)");
        } else {
            text.push_str(&format!("; {}", self.caveats.join("; ")));
        }
        text
    }
}

/// One alternative of a simple regular expression: optional anchors around literal text, with
/// "anything" before or after it.
struct Simple {
    anchored_start: bool,
    anchored_end: bool,
    lead: Lead,
    literal: String,
    trailing_any: bool,
    /// An unescaped `.` was read as a literal dot.
    loose_dots: bool,
}

#[derive(PartialEq, Eq)]
enum Lead {
    None,
    /// `.*` / `.+`: anything, dots included.
    Any,
    /// `[^.]+`, `[a-z0-9-]+`, ...: one DNS label.
    OneLabel,
}

/// Patterns equivalent to (or as close as safely possible to) `regex`; `None` when it is not simple.
pub(crate) fn translate_regex(regex: &str, target: RegexTarget) -> Option<Translation> {
    let alternatives = split_alternatives(regex)?;
    let mut patterns = Vec::new();
    let mut caveats = Vec::new();
    let mut note = |caveat: &'static str| {
        if !caveats.contains(&caveat) {
            caveats.push(caveat);
        }
    };
    for alternative in alternatives {
        let simple = parse_simple(&alternative.text, alternative.anchored_start, alternative.anchored_end)?;
        if simple.literal.is_empty() && (simple.lead == Lead::Any || simple.trailing_any) {
            return Some(Translation {
                patterns: Vec::new(),
                caveats: Vec::new(),
                everything: true,
            });
        }
        if simple.loose_dots {
            note("an unescaped `.` matched any character in Capsule and is taken as a literal dot");
        }
        let unanchored_start = !simple.anchored_start && simple.lead == Lead::None;
        let unanchored_end = !simple.anchored_end && !simple.trailing_any;
        let pattern = match target {
            RegexTarget::Class => {
                if simple.lead != Lead::None {
                    return None;
                }
                if simple.trailing_any {
                    format!("{}*", simple.literal)
                } else {
                    simple.literal.clone()
                }
            }
            RegexTarget::Hostname => {
                if simple.trailing_any {
                    return None;
                }
                match simple.lead {
                    Lead::None => simple.literal.clone(),
                    Lead::Any | Lead::OneLabel if simple.literal.starts_with('.') && simple.literal.len() > 1 => {
                        if simple.lead == Lead::Any {
                            note("`.*` also matched names several labels deep; `*.` covers exactly one label");
                        }
                        format!("*{}", simple.literal)
                    }
                    _ => return None,
                }
            }
            RegexTarget::Registry => {
                if simple.lead != Lead::None {
                    return None;
                }
                if simple.trailing_any {
                    simple.literal.clone()
                } else {
                    format!("{}/", simple.literal.trim_end_matches('/'))
                }
            }
        };
        if unanchored_start {
            note(
                "the expression had no `^`, so Capsule also matched names merely containing it; Palisade matches from the start",
            );
        }
        if unanchored_end && !simple.literal.is_empty() {
            note("the expression had no `$`, so Capsule also matched longer names; Palisade matches the name exactly");
        }
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Some(Translation {
        patterns,
        caveats,
        everything: false,
    })
}

struct Alternative {
    text: String,
    anchored_start: bool,
    anchored_end: bool,
}

/// Splits `^(a|b)$`, `(?:a|b)`, `a|b` into alternatives, distributing the anchors. `None` when
/// groups are used any other way.
fn split_alternatives(regex: &str) -> Option<Vec<Alternative>> {
    let (start, rest) = match regex.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, regex),
    };
    let (end, body) = match rest.strip_suffix('$').filter(|b| !b.ends_with('\\')) {
        Some(body) => (true, body),
        None => (false, rest),
    };
    let inner = body
        .strip_prefix("(?:")
        .or_else(|| body.strip_prefix('('))
        .and_then(|b| b.strip_suffix(')'))
        .filter(|b| !b.contains('(') && !b.contains(')'));
    let (text, grouped) = match inner {
        Some(inner) => (inner, true),
        None => (body, false),
    };
    if text.contains('(') || text.contains(')') {
        return None;
    }
    let parts: Vec<&str> = text.split('|').collect();
    if parts.len() > 1 && !grouped && (start || end) {
        // `^a|b$` anchors only the first and last alternatives; too subtle to carry over.
        return None;
    }
    Some(
        parts
            .into_iter()
            .map(|part| Alternative {
                text: part.to_string(),
                anchored_start: start,
                anchored_end: end,
            })
            .collect(),
    )
}

fn parse_simple(text: &str, anchored_start: bool, anchored_end: bool) -> Option<Simple> {
    const ONE_LABEL: [&str; 6] = [
        "[^.]+",
        "[^.]*",
        "[a-z0-9-]+",
        "[a-z0-9]+",
        "[-a-z0-9]+",
        "[a-zA-Z0-9-]+",
    ];
    let mut rest = text;
    let mut lead = Lead::None;
    if let Some(r) = rest.strip_prefix(".*").or_else(|| rest.strip_prefix(".+")) {
        lead = Lead::Any;
        rest = r;
    } else if let Some(class) = ONE_LABEL.iter().find(|c| rest.starts_with(**c)) {
        lead = Lead::OneLabel;
        rest = &rest[class.len()..];
    }
    let mut trailing_any = false;
    if let Some(r) = rest.strip_suffix(".*").or_else(|| rest.strip_suffix(".+"))
        && !r.ends_with('\\')
    {
        trailing_any = true;
        rest = r;
    }
    let mut literal = String::new();
    let mut loose_dots = false;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('.' | '-' | '/' | '_' | ':')) => literal.push(e),
                _ => return None,
            },
            '.' => {
                loose_dots = true;
                literal.push('.');
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | ':' | '@') => literal.push(c),
            _ => return None,
        }
    }
    if literal.is_empty() && lead == Lead::None && !trailing_any {
        return None;
    }
    Some(Simple {
        anchored_start,
        anchored_end,
        lead,
        literal,
        trailing_any,
        loose_dots,
    })
}
