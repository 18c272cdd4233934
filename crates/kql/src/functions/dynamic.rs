//! The functions that build and take apart `dynamic` arrays and property bags.

use crate::value::Value;

/// `pack(k1, v1, ...)`: a property bag; a key that is not a string leaves the bag null.
pub(super) fn pack(args: &[Value]) -> Value {
    let mut bag = serde_json::Map::new();
    for pair in args.chunks(2) {
        let [key, value] = pair else {
            return Value::Null;
        };
        let Value::String(key) = &*key.scalarize() else {
            return Value::Null;
        };
        bag.insert(key.to_string(), value.to_json());
    }
    Value::dynamic(serde_json::Value::Object(bag))
}
