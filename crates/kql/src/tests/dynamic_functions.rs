//! The property-bag, array and set functions over `dynamic` values; an argument that should be
//! a bag or an array and is not gives null.

use serde_json::json;

use super::support::{eval, value};
use crate::KqlType;

#[test]
fn bag_keys_lists_the_keys_and_bag_has_key_follows_json_paths() {
    assert_eq!(
        value("bag_keys(dynamic({'a': 1, 'b': {'c': 2}}))"),
        json!(["a", "b"])
    );
    assert_eq!(value("bag_keys(dynamic([1]))"), json!(null));
    assert_eq!(value("bag_has_key(dynamic({'a': 1}), 'a')"), json!(true));
    assert_eq!(value("bag_has_key(dynamic({'a': 1}), 'b')"), json!(false));
    assert_eq!(
        value("bag_has_key(dynamic({'a': {'b': null}}), '$.a.b')"),
        json!(true)
    );
    assert_eq!(value("bag_has_key('text', 'a')"), json!(null));
}

#[test]
fn bag_merge_keeps_the_leftmost_value_of_a_key() {
    assert_eq!(
        value("bag_merge(dynamic({'A1':12, 'B1':2, 'C1':3}), dynamic({'A2':81, 'B2':82, 'A1':1}))"),
        json!({"A1": 12, "B1": 2, "C1": 3, "A2": 81, "B2": 82})
    );
    assert_eq!(value("bag_merge(dynamic({'a': 1}), 'x')"), json!(null));
}

#[test]
fn bag_remove_keys_removes_keys_and_json_paths() {
    assert_eq!(
        value(
            "bag_remove_keys(dynamic({'a': 1, 'b': {'c': 2, 'd': 3}, 'e': 4}), dynamic(['a', '$.b.c', 'zz']))"
        ),
        json!({"b": {"d": 3}, "e": 4})
    );
    assert_eq!(
        value("bag_remove_keys(dynamic({'a': 1}), 'a')"),
        json!(null)
    );
}

#[test]
fn array_concat_slice_and_reverse_keep_element_order() {
    assert_eq!(
        value("array_concat(dynamic([1, 2]), dynamic(['a']))"),
        json!([1, 2, "a"])
    );
    assert_eq!(value("array_concat(dynamic([1]), 2)"), json!(null));
    assert_eq!(value("array_slice(dynamic([1,2,3]), 1, 2)"), json!([2, 3]));
    assert_eq!(
        value("array_slice(dynamic([1,2,3,4,5]), 2, -1)"),
        json!([3, 4, 5])
    );
    assert_eq!(
        value("array_slice(dynamic([1,2,3,4,5]), -3, -2)"),
        json!([3, 4])
    );
    assert_eq!(value("array_slice(dynamic([1,2,3]), 2, 1)"), json!([]));
    assert_eq!(value("array_slice(dynamic([1,2,3]), 1, 99)"), json!([2, 3]));
    assert_eq!(
        value("array_reverse(dynamic([1, 'b', null]))"),
        json!([null, "b", 1])
    );
    assert_eq!(value("array_reverse('abc')"), json!(null));
}

#[test]
fn array_index_of_finds_the_nth_occurrence_from_a_start_or_minus_one() {
    assert_eq!(
        value("array_index_of(dynamic(['a', 'b', 'a']), 'a')"),
        json!(0)
    );
    assert_eq!(
        value("array_index_of(dynamic(['a', 'b', 'a']), 'a', 1)"),
        json!(2)
    );
    assert_eq!(
        value("array_index_of(dynamic(['a', 'b', 'a']), 'a', 0, -1, 2)"),
        json!(2)
    );
    assert_eq!(
        value("array_index_of(dynamic(['a', 'b', 'a']), 'a', -1)"),
        json!(2)
    );
    assert_eq!(
        value("array_index_of(dynamic(['a', 'b', 'a']), 'a', 1, 1)"),
        json!(-1)
    );
    assert_eq!(value("array_index_of(dynamic([1, 2.0]), 2)"), json!(1));
    assert_eq!(value("array_index_of(dynamic(['a']), 'z')"), json!(-1));
    assert_eq!(value("array_index_of('a', 'a')"), json!(null));
    assert_eq!(eval("array_index_of(dynamic([1]), 1)").1, KqlType::Long);
}

#[test]
fn array_sort_puts_nulls_last_unless_told_and_types_in_a_fixed_order() {
    assert_eq!(
        value("array_sort_asc(dynamic([3, null, 1, 2]))"),
        json!([1, 2, 3, null])
    );
    assert_eq!(
        value("array_sort_desc(dynamic([3, null, 1, 2]))"),
        json!([3, 2, 1, null])
    );
    assert_eq!(
        value("array_sort_asc(dynamic([3, null, 1]), false)"),
        json!([null, 1, 3])
    );
    assert_eq!(
        value("array_sort_asc(dynamic(['b', 2, 'a', 1]))"),
        json!([1, 2, "a", "b"])
    );
    assert_eq!(value("array_sort_asc(dynamic([1]), 'x')"), json!(null));
}

#[test]
fn array_sum_adds_numbers_as_reals_and_is_null_over_anything_else() {
    let (v, ty) = eval("array_sum(dynamic([1, 2.5, 3]))");
    assert_eq!(v, json!(6.5));
    assert_eq!(ty, KqlType::Real);
    assert_eq!(value("array_sum(dynamic([1, 'a']))"), json!(null));
    assert_eq!(value("array_sum(dynamic([]))"), json!(0.0));
}

#[test]
fn set_functions_give_distinct_values_in_first_seen_order() {
    assert_eq!(
        value("set_difference(dynamic([1, 2, 3, 2]), dynamic([1]), dynamic([3]))"),
        json!([2])
    );
    assert_eq!(
        value("set_intersect(dynamic([1, 2, 3, 1]), dynamic([3, 1]))"),
        json!([1, 3])
    );
    assert_eq!(
        value("set_union(dynamic([1, 2]), dynamic([2, 'a']))"),
        json!([1, 2, "a"])
    );
    assert_eq!(value("set_union(dynamic([1]), 'a')"), json!(null));
    assert_eq!(value("set_has_element(dynamic(['a', 1]), 1)"), json!(true));
    assert_eq!(
        value("set_has_element(dynamic(['a', 1]), 'b')"),
        json!(false)
    );
}

#[test]
fn zip_pairs_elements_and_pads_the_shorter_arrays_with_null() {
    assert_eq!(
        value("zip(dynamic([1, 3, 5]), dynamic([2, 4]))"),
        json!([[1, 2], [3, 4], [5, null]])
    );
    assert_eq!(value("zip(dynamic([1]), 'a')"), json!(null));
}

#[test]
fn array_split_cuts_at_each_index_counting_negatives_from_the_end() {
    let arr = "dynamic([1,2,3,4,5])";
    assert_eq!(
        value(&format!("array_split({arr}, 2)")),
        json!([[1, 2], [3, 4, 5]])
    );
    assert_eq!(
        value(&format!("array_split({arr}, dynamic([1,3]))")),
        json!([[1], [2, 3], [4, 5]])
    );
    assert_eq!(
        value(&format!("array_split({arr}, -1)")),
        json!([[1, 2, 3, 4], [5]])
    );
    assert_eq!(
        value(&format!("array_split({arr}, 9)")),
        json!([[1, 2, 3, 4, 5], []])
    );
    assert_eq!(
        value(&format!("array_split({arr}, -9)")),
        json!([[], [1, 2, 3, 4, 5]])
    );
    assert_eq!(
        value(&format!("array_split({arr}, dynamic([3,1]))")),
        json!([[1, 2, 3], [], [2, 3, 4, 5]])
    );
    assert_eq!(
        value(&format!("array_split({arr}, dynamic([]))")),
        json!([[1, 2, 3, 4, 5]])
    );
    assert_eq!(value("array_split(dynamic([]), 1)"), json!([[], []]));
    assert_eq!(value(&format!("array_split({arr}, 'x')")), json!(null));
    assert_eq!(
        value(&format!("array_split({arr}, dynamic([1,'a']))")),
        json!(null)
    );
    assert_eq!(value("array_split('abc', 1)"), json!(null));
}

#[test]
fn array_rotate_and_shift_move_elements_either_way() {
    let arr = "dynamic([1,2,3,4,5])";
    let at = |f: &str, rest: &str| value(&format!("{f}({arr}, {rest})"));
    assert_eq!(at("array_rotate_left", "2"), json!([3, 4, 5, 1, 2]));
    assert_eq!(at("array_rotate_left", "-2"), json!([4, 5, 1, 2, 3]));
    assert_eq!(at("array_rotate_left", "7"), json!([3, 4, 5, 1, 2]));
    assert_eq!(at("array_rotate_right", "2"), json!([4, 5, 1, 2, 3]));
    assert_eq!(at("array_rotate_right", "-2"), json!([3, 4, 5, 1, 2]));
    assert_eq!(at("array_rotate_right", "0"), json!([1, 2, 3, 4, 5]));
    assert_eq!(value("array_rotate_left(dynamic([]), 3)"), json!([]));
    assert_eq!(at("array_shift_left", "2"), json!([3, 4, 5, null, null]));
    assert_eq!(at("array_shift_left", "-2"), json!([null, null, 1, 2, 3]));
    assert_eq!(at("array_shift_left", "2, -1"), json!([3, 4, 5, -1, -1]));
    assert_eq!(at("array_shift_right", "2"), json!([null, null, 1, 2, 3]));
    assert_eq!(at("array_shift_right", "1, 'x'"), json!(["x", 1, 2, 3, 4]));
    assert_eq!(
        at("array_shift_right", "9"),
        json!([null, null, null, null, null])
    );
    assert_eq!(at("array_shift_left", "0"), json!([1, 2, 3, 4, 5]));
    assert_eq!(at("array_rotate_left", "'2'"), json!(null));
    assert_eq!(at("array_shift_left", "1.5"), json!(null));
    assert_eq!(value("array_shift_left('abc', 1)"), json!(null));
}

#[test]
fn array_iff_chooses_element_wise_and_nulls_what_is_not_a_condition() {
    assert_eq!(
        value("array_iff(dynamic([true,false,true]), dynamic([1,2,3]), dynamic([4,5,6]))"),
        json!([1, 5, 3])
    );
    assert_eq!(
        value("array_iff(dynamic([1,0,50]), 'yes', 'no')"),
        json!(["yes", "no", "yes"])
    );
    assert_eq!(
        value("array_iff(dynamic(['some string', null, {}]), 1, 0)"),
        json!([null, null, null])
    );
    assert_eq!(
        value("array_iif(dynamic([true,true,true]), dynamic([1,2]), dynamic([3,4]))"),
        json!([1, 2, null])
    );
    assert_eq!(value("array_iff(dynamic([]), 1, 2)"), json!([]));
    assert_eq!(value("array_iff(true, 1, 2)"), json!(null));
    assert_eq!(eval("array_iff(dynamic([true]), 1, 2)").1, KqlType::Dynamic);
}

#[test]
fn jaccard_index_divides_the_distinct_common_values_by_all_distinct_values() {
    assert_eq!(
        value("jaccard_index(dynamic([1,2,3]), dynamic([1,2,3,4]))"),
        json!(0.75)
    );
    assert_eq!(
        value("jaccard_index(dynamic([1,1,2,2,3,3]), dynamic([1,2,3,4,4,4]))"),
        json!(0.75)
    );
    assert_eq!(
        value("jaccard_index(dynamic(['a', 1]), dynamic([1.0, 'b']))"),
        json!(1.0 / 3.0)
    );
    assert_eq!(
        value("jaccard_index(dynamic([1]), dynamic([]))"),
        json!(0.0)
    );
    assert_eq!(
        value("isnan(jaccard_index(dynamic([]), dynamic([])))"),
        json!(true)
    );
    assert_eq!(value("jaccard_index(dynamic([1]), 'x')"), json!(null));
    assert_eq!(value("jaccard_index('x', dynamic([1]))"), json!(null));
    assert_eq!(
        eval("jaccard_index(dynamic([1]), dynamic([1]))").1,
        KqlType::Real
    );
}

#[test]
fn bag_set_key_sets_a_root_key_or_a_json_path_making_bags_on_the_way() {
    assert_eq!(
        value("bag_set_key(dynamic({'key1': 1, 'key2': 2}), 'key3', 3)"),
        json!({"key1": 1, "key2": 2, "key3": 3})
    );
    assert_eq!(
        value("bag_set_key(dynamic({'key1': 1, 'key3': 'abc'}), 'key3', 3)"),
        json!({"key1": 1, "key3": 3})
    );
    assert_eq!(
        value(
            "bag_set_key(dynamic({'key1': 123, 'key2': {'prop1': 123, 'prop2': 'xyz'}}), '$.key2.prop1', 'abc')"
        ),
        json!({"key1": 123, "key2": {"prop1": "abc", "prop2": "xyz"}})
    );
    assert_eq!(
        value("bag_set_key(dynamic({'key1': 123}), '$.key2.prop1', 'abc')"),
        json!({"key1": 123, "key2": {"prop1": "abc"}})
    );
    assert_eq!(
        value("bag_set_key(dynamic({'a': 5}), \"$['a']['b']\", true)"),
        json!({"a": {"b": true}})
    );
    assert_eq!(
        value("bag_set_key(dynamic({}), 'a.b', 1)"),
        json!({"a.b": 1})
    );
    assert_eq!(
        value("bag_set_key(dynamic({}), 'k', dynamic([1, 2]))"),
        json!({"k": [1, 2]})
    );
    assert_eq!(
        value("bag_set_key(dynamic({'k': 1}), 'k', tolong('x'))"),
        json!({"k": null})
    );
    assert_eq!(
        value("bag_set_key(dynamic({'a': [1]}), '$.a[0]', 2)"),
        json!(null)
    );
    assert_eq!(value("bag_set_key(dynamic({'a': 1}), '$', 2)"), json!(null));
    assert_eq!(value("bag_set_key(dynamic([1]), 'a', 2)"), json!(null));
    assert_eq!(value("bag_set_key(dynamic(null), 'a', 2)"), json!(null));
    assert_eq!(value("bag_set_key(dynamic({}), 1, 2)"), json!(null));
    assert_eq!(eval("bag_set_key(dynamic({}), 'a', 2)").1, KqlType::Dynamic);
}
