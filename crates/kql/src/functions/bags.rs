//! The property-bag functions: keys, merging, setting, removing keys and testing for one.

use serde_json::{Map, Value as J};

use crate::value::{KqlType, Value};

use super::args::{array, json_str, scalar, text};

/// A function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BagFn {
    /// `bag_keys(bag)`.
    Keys,
    /// `bag_merge(bag, bag, ...)`.
    Merge,
    /// `bag_remove_keys(bag, keys)`.
    RemoveKeys,
    /// `bag_has_key(bag, key)`.
    HasKey,
    /// `bag_set_key(bag, key, value)`.
    SetKey,
}

impl BagFn {
    /// The result type Kusto documents.
    pub(super) fn return_type(self) -> KqlType {
        match self {
            BagFn::HasKey => KqlType::Bool,
            _ => KqlType::Dynamic,
        }
    }
}

/// Evaluates a function of this family; an argument that is not a property bag gives null.
pub(super) fn call(f: BagFn, args: &[Value]) -> Value {
    let Some(bag) = bag(args, 0) else {
        return Value::Null;
    };
    match f {
        BagFn::Keys => Value::dynamic(J::Array(bag.keys().map(|k| json_str(k)).collect())),
        BagFn::Merge => {
            // The leftmost bag holding a key gives its value, as Kusto documents.
            let mut merged = Map::new();
            for i in 0..args.len() {
                let Some(next) = self::bag(args, i) else {
                    return Value::Null;
                };
                for (k, v) in next {
                    merged.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            Value::dynamic(J::Object(merged))
        }
        BagFn::RemoveKeys => {
            let Some(keys) = array(args, 1) else {
                return Value::Null;
            };
            let mut kept = J::Object(bag.clone());
            for key in keys.iter().filter_map(J::as_str) {
                remove(&mut kept, &path(key));
            }
            Value::dynamic(kept)
        }
        BagFn::HasKey => {
            let steps = path(&text(args, 1));
            let mut node = Some(&J::Object(bag.clone()));
            for step in &steps {
                node = node.and_then(|n| n.get(step));
            }
            Value::Bool(node.is_some() && !steps.is_empty())
        }
        BagFn::SetKey => {
            let (Value::String(key), Some(value)) = (&*scalar(args, 1), args.get(2)) else {
                return Value::Null;
            };
            let Some(steps) = set_path(key) else {
                return Value::Null;
            };
            let mut out = J::Object(bag.clone());
            set(&mut out, &steps, value.to_json());
            Value::dynamic(out)
        }
    }
}

/// `bag_set_key`'s key as the keys it steps through: a JSONPath (`$.a.b`, `$['a']`) or the
/// name of a key at the root, dots and all. `None` for the root path itself or an array index
/// (`$.a[0]`), which Kusto documents it does not take.
fn set_path(key: &str) -> Option<Vec<String>> {
    if key.starts_with('$') {
        let mut rest = key;
        while let Some(open) = rest.find('[') {
            rest = &rest[open + 1..];
            if !rest.starts_with(['\'', '"']) {
                return None;
            }
        }
        Some(path(key)).filter(|steps| !steps.is_empty())
    } else {
        Some(vec![key.to_string()])
    }
}

/// Sets the member `steps` leads to, making a bag of each step on the way that is missing or
/// is not one.
fn set(node: &mut J, steps: &[String], value: J) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    if !node.is_object() {
        *node = J::Object(Map::new());
    }
    let Some(map) = node.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), value);
    } else {
        set(map.entry(first.clone()).or_insert(J::Null), rest, value);
    }
}

/// Argument `i` as a property bag; `None` when it is not one.
fn bag(args: &[Value], i: usize) -> Option<&Map<String, J>> {
    match args.get(i) {
        Some(Value::Dynamic(json)) => json.as_object(),
        _ => None,
    }
}

/// A key or a JSONPath (`$.a.b`, `$['a']`) as the keys it steps through.
fn path(key: &str) -> Vec<String> {
    let Some(rest) = key.strip_prefix('$') else {
        return vec![key.to_string()];
    };
    rest.split(['.', '[', ']'])
        .map(|s| s.trim_matches(|c| c == '\'' || c == '"'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Removes the member `steps` leads to, if there is one.
fn remove(node: &mut J, steps: &[String]) {
    match steps {
        [] => {}
        [last] => {
            if let Some(map) = node.as_object_mut() {
                map.shift_remove(last);
            }
        }
        [first, rest @ ..] => {
            if let Some(child) = node.get_mut(first) {
                remove(child, rest);
            }
        }
    }
}
