//! Whether a live object holds what Palisade applied: the tests' check that the cluster holds what
//! the renderer says. Pure. (The controller itself compares fingerprints and manifest hashes, see
//! [`crate::cache`], because it keeps no whole objects.)

use serde_json::Value;

/// Whether `live` holds every field of `desired`: objects are compared key by key (the live
/// object may have more), lists item by item with the same length, scalars by equality; a field
/// absent from `live` matches a desired null, `[]` or `{}`.
pub fn satisfies(live: &Value, desired: &Value) -> bool {
    mismatch(live, desired, "").is_none()
}

/// The first path where `live` does not hold `desired`, with why.
pub fn mismatch(live: &Value, desired: &Value, path: &str) -> Option<String> {
    match (live, desired) {
        (Value::Object(live), Value::Object(desired)) => desired.iter().find_map(|(key, want)| {
            let here = format!("{path}.{key}");
            match live.get(key) {
                Some(have) => mismatch(have, want, &here),
                None if is_empty(want) => None,
                None => Some(format!("{here} is missing (want {want})")),
            }
        }),
        (Value::Array(live), Value::Array(desired)) => {
            if live.len() != desired.len() {
                return Some(format!("{path} has {} items, want {}", live.len(), desired.len()));
            }
            live.iter()
                .zip(desired)
                .enumerate()
                .find_map(|(i, (have, want))| mismatch(have, want, &format!("{path}[{i}]")))
        }
        (Value::Null, want) if is_empty(want) => None,
        // The API server may store a `100.0` as `100` (Calico's `order`): compare by value.
        (Value::Number(have), Value::Number(want)) if have.as_f64() == want.as_f64() => None,
        (have, want) if have == want => None,
        (have, want) => Some(format!("{path} is {have}, want {want}")),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("equal", json!({"a": 1}), json!({"a": 1}), true),
            (
                "extra live fields are fine",
                json!({"a": 1, "b": 2}),
                json!({"a": 1}),
                true,
            ),
            ("changed scalar", json!({"a": 2}), json!({"a": 1}), false),
            (
                "a float stored as an integer",
                json!({"order": 100}),
                json!({"order": 100.0}),
                true,
            ),
            (
                "a different number",
                json!({"order": 101}),
                json!({"order": 100.0}),
                false,
            ),
            ("missing field", json!({}), json!({"a": 1}), false),
            (
                "dropped empty list",
                json!({"spec": {}}),
                json!({"spec": {"egress": []}}),
                true,
            ),
            (
                "dropped empty map and null",
                json!({}),
                json!({"a": {}, "b": null}),
                true,
            ),
            (
                "a list that gained an item",
                json!({"e": [{}]}),
                json!({"e": []}),
                false,
            ),
            (
                "a list that lost an item",
                json!({"e": [1]}),
                json!({"e": [1, 2]}),
                false,
            ),
            (
                "list items may have defaulted fields",
                json!({"p": [{"port": 53, "protocol": "UDP"}]}),
                json!({"p": [{"port": 53}]}),
                true,
            ),
            ("list order matters", json!({"e": [1, 2]}), json!({"e": [2, 1]}), false),
            (
                "nested label removed",
                json!({"metadata": {"labels": {}}}),
                json!({"metadata": {"labels": {"x": "y"}}}),
                false,
            ),
        ];
        for (what, live, desired, want) in cases {
            assert_eq!(
                satisfies(&live, &desired),
                want,
                "{what}: {:?}",
                mismatch(&live, &desired, "")
            );
        }
    }
}
