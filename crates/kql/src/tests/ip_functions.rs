//! The IPv4 and IPv6 functions, held to Kusto's documented examples; an address that does not
//! parse gives null.

use serde_json::json;

use super::support::{eval, value};
use crate::KqlType;

#[test]
fn ipv4_is_private_knows_the_rfc1918_networks_and_ranges_inside_them() {
    assert_eq!(value("ipv4_is_private('10.1.2.3')"), json!(true));
    assert_eq!(value("ipv4_is_private('172.31.255.255')"), json!(true));
    assert_eq!(value("ipv4_is_private('172.32.0.1')"), json!(false));
    assert_eq!(value("ipv4_is_private('192.168.1.1/24')"), json!(true));
    assert_eq!(value("ipv4_is_private('192.0.0.0/8')"), json!(false));
    assert_eq!(value("ipv4_is_private('8.8.8.8')"), json!(false));
    assert_eq!(value("ipv4_is_private('not an ip')"), json!(null));
    assert_eq!(value("ipv4_is_private(1)"), json!(null));
}

#[test]
fn ipv4_is_in_range_and_in_any_range_test_prefix_ranges() {
    assert_eq!(
        value("ipv4_is_in_range('192.168.1.6', '192.168.1.1/24')"),
        json!(true)
    );
    assert_eq!(
        value("ipv4_is_in_range('192.168.2.6', '192.168.1.1/24')"),
        json!(false)
    );
    assert_eq!(
        value("ipv4_is_in_range('192.168.1.6', '192.168.1.6')"),
        json!(true)
    );
    assert_eq!(
        value("ipv4_is_in_range('192.168.1.6', '192.168.1.1/33')"),
        json!(null)
    );
    assert_eq!(
        value("ipv4_is_in_any_range('192.168.1.6', '10.0.0.0/8', '192.168.1.0/24')"),
        json!(true)
    );
    assert_eq!(
        value("ipv4_is_in_any_range('8.8.8.8', dynamic(['10.0.0.0/8', '192.168.0.0/16']))"),
        json!(false)
    );
    assert_eq!(
        value("ipv4_is_in_any_range('8.8.8.8', 'nope')"),
        json!(null)
    );
    assert_eq!(
        value("ipv4_is_in_any_range('bad', '10.0.0.0/8')"),
        json!(null)
    );
}

#[test]
fn ipv4_compare_and_is_match_use_the_shortest_prefix_given() {
    assert_eq!(value("ipv4_compare('127.0.0.1', '127.0.0.1')"), json!(0));
    assert_eq!(
        value("ipv4_compare('192.168.1.1', '192.168.1.255')"),
        json!(-1)
    );
    assert_eq!(
        value("ipv4_compare('192.168.1.255', '192.168.1.1')"),
        json!(1)
    );
    assert_eq!(
        value("ipv4_compare('192.168.1.1/24', '192.168.1.255/24')"),
        json!(0)
    );
    assert_eq!(
        value("ipv4_compare('192.168.1.1', '192.168.1.255', 24)"),
        json!(0)
    );
    assert_eq!(
        value("ipv4_compare('192.168.1.1', '192.168.1.255', 33)"),
        json!(null)
    );
    assert_eq!(
        value("ipv4_is_match('192.168.1.1/24', '192.168.1.255')"),
        json!(true)
    );
    assert_eq!(
        value("ipv4_is_match('192.168.1.1', '192.168.1.255')"),
        json!(false)
    );
    assert_eq!(value("ipv4_is_match('192.168.1.1', '::1')"), json!(null));
    assert_eq!(eval("ipv4_is_match('1.1.1.1', '1.1.1.1')").1, KqlType::Bool);
}

#[test]
fn parse_ipv4_gives_the_address_as_a_long_masked_by_its_prefix() {
    assert_eq!(value("parse_ipv4('127.0.0.1')"), json!(2_130_706_433));
    assert_eq!(
        value("parse_ipv4('192.1.168.1/16')"),
        json!(3_221_291_008_u64)
    );
    assert_eq!(value("parse_ipv4('256.1.1.1')"), json!(null));
    assert_eq!(
        value("parse_ipv4_mask('192.1.168.2', 16)"),
        json!(3_221_291_008_u64)
    );
    assert_eq!(value("parse_ipv4_mask('127.0.0.1', 33)"), json!(null));
    assert_eq!(eval("parse_ipv4('1.2.3.4')").1, KqlType::Long);
}

#[test]
fn ipv6_compare_and_is_match_read_ipv4_as_mapped_addresses() {
    assert_eq!(
        value("ipv6_compare('::ffff:7f00:1', '127.0.0.1')"),
        json!(0)
    );
    assert_eq!(
        value("ipv6_compare('fe80::85d:e82c:9446:7994', 'fe80::85d:e82c:9446:7995')"),
        json!(-1)
    );
    assert_eq!(
        value("ipv6_compare('fe80::85d:e82c:9446:7994/127', 'fe80::85d:e82c:9446:7995/127')"),
        json!(0)
    );
    assert_eq!(
        value("ipv6_compare('fe80::85d:e82c:9446:7994', 'fe80::85d:e82c:9446:7995', 127)"),
        json!(0)
    );
    assert_eq!(
        value("ipv6_is_match('::ffff:7f00:1', '127.0.0.1')"),
        json!(true)
    );
    assert_eq!(value("ipv6_is_match('fe80::1', 'fe80::2')"), json!(false));
    assert_eq!(
        value("ipv6_is_match('fe80::1', 'fe80::2', 129)"),
        json!(null)
    );
    assert_eq!(value("ipv6_compare('fe80::1', 'garbage')"), json!(null));
}

#[test]
fn has_ipv4_finds_an_address_only_where_it_stands_as_a_term() {
    let log = "'05:04:54 127.0.0.1 GET /favicon.ico 404'";
    assert_eq!(value(&format!("has_ipv4({log}, '127.0.0.1')")), json!(true));
    assert_eq!(
        value("has_ipv4('05:04:54 127.0.0.256 GET', '127.0.0.256')"),
        json!(false)
    );
    assert_eq!(
        value("has_ipv4('05:04:54127.0.0.1 GET', '127.0.0.1')"),
        json!(false)
    );
    assert_eq!(
        value("has_ipv4('host a1.2.3.4 up', '1.2.3.4')"),
        json!(false)
    );
    assert_eq!(
        value("has_ipv4('host 1.2.3.45 up', '1.2.3.4')"),
        json!(false)
    );
    assert_eq!(value("has_ipv4('from 1.2.3.4.', '1.2.3.4')"), json!(true));
    assert_eq!(value("has_ipv4('v 1.2.3.4.5', '1.2.3.4')"), json!(false));
    assert_eq!(value("has_ipv4('hôte é1.2.3.4', '1.2.3.4')"), json!(false));
    assert_eq!(value("has_ipv4('hôte→1.2.3.4', '1.2.3.4')"), json!(true));
    assert_eq!(
        value("has_ipv4('came from: 192.168.1.1, 10.1.1.115 and 10.1.1.201', '10.1.1.115')"),
        json!(true)
    );
    assert_eq!(value("has_ipv4('x=10.0.0.1;', '10.0.0.1')"), json!(true));
    assert_eq!(value("has_ipv4('1.2.3.4', '1.2.3.')"), json!(false));
    assert_eq!(value("has_ipv4('', '1.2.3.4')"), json!(false));
    assert_eq!(value("has_ipv4(dynamic(null), '1.2.3.4')"), json!(false));
    assert_eq!(
        value("has_ipv4(dynamic('at 1.2.3.4'), '1.2.3.4')"),
        json!(true)
    );
    assert_eq!(value("has_ipv4(1234, '1.2.3.4')"), json!(null));
    assert_eq!(value("has_ipv4('1.2.3.4', 5)"), json!(null));
    assert_eq!(eval("has_ipv4('a', 'b')").1, KqlType::Bool);
}

#[test]
fn has_ipv4_prefix_takes_a_whole_address_or_octets_ending_with_a_dot() {
    let log = "'05:04:54 127.0.0.1 GET /favicon.ico 404'";
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.0.')")),
        json!(true)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.')")),
        json!(true)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.0.0.')")),
        json!(true)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.0.0.1')")),
        json!(true)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.0')")),
        json!(false)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '12.')")),
        json!(false)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.0.0.1.')")),
        json!(false)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '127.00.')")),
        json!(false)
    );
    assert_eq!(
        value(&format!("has_ipv4_prefix({log}, '256.')")),
        json!(false)
    );
    assert_eq!(
        value("has_ipv4_prefix('05:04:54 127.0.0.256 GET', '127.0.')"),
        json!(false)
    );
    assert_eq!(
        value("has_ipv4_prefix('05:04:54127.0.0.1 GET', '127.0.')"),
        json!(false)
    );
    assert_eq!(
        value("has_ipv4_prefix('1.2.3.4', dynamic(['1.']))"),
        json!(null)
    );
}

#[test]
fn has_any_ipv4_and_its_prefix_form_take_arguments_or_one_array() {
    let log = "'05:04:54 127.0.0.1 GET /favicon.ico 404'";
    assert_eq!(
        value(&format!("has_any_ipv4({log}, '127.0.0.1', '127.0.0.2')")),
        json!(true)
    );
    assert_eq!(
        value(&format!(
            "has_any_ipv4({log}, dynamic(['127.0.0.2', '127.0.0.1']))"
        )),
        json!(true)
    );
    assert_eq!(
        value("has_any_ipv4('05:04:54 127.0.0.256 GET', dynamic(['127.0.0.256', '192.168.1.1']))"),
        json!(false)
    );
    assert_eq!(
        value("has_any_ipv4('05:04:54127.0.0.1 GET', '127.0.0.1', '192.168.1.1')"),
        json!(false)
    );
    assert_eq!(
        value(&format!(
            "has_any_ipv4({log}, dynamic([1, null, '127.0.0.1']))"
        )),
        json!(true)
    );
    assert_eq!(
        value(&format!("has_any_ipv4({log}, dynamic([]))")),
        json!(false)
    );
    assert_eq!(
        value(&format!("has_any_ipv4_prefix({log}, '127.0.', '192.168.')")),
        json!(true)
    );
    assert_eq!(
        value(&format!(
            "has_any_ipv4_prefix({log}, dynamic(['10.', '127.0.']))"
        )),
        json!(true)
    );
    assert_eq!(
        value(&format!("has_any_ipv4_prefix({log}, '127.0')")),
        json!(false)
    );
    assert_eq!(
        value("has_any_ipv4_prefix('05:04:54127.0.0.1 GET', '127.0.', '192.')"),
        json!(false)
    );
    assert_eq!(
        value(&format!("has_any_ipv4({log}, '127.0.0.1', 7)")),
        json!(null)
    );
    assert_eq!(value("has_any_ipv4(7, '127.0.0.1')"), json!(null));
}

#[test]
fn format_ipv4_and_its_mask_form_keep_the_shorter_prefix() {
    let both = |ip: &str, p: &str| {
        (
            value(&format!("format_ipv4({ip}, {p})")),
            value(&format!("format_ipv4_mask({ip}, {p})")),
        )
    };
    assert_eq!(
        both("'192.168.1.1'", "24"),
        (json!("192.168.1.0"), json!("192.168.1.0/24"))
    );
    assert_eq!(
        both("'192.168.1.1'", "32"),
        (json!("192.168.1.1"), json!("192.168.1.1/32"))
    );
    assert_eq!(
        both("'192.168.1.1/24'", "32"),
        (json!("192.168.1.0"), json!("192.168.1.0/24"))
    );
    assert_eq!(both("'192.168.1.1/24'", "-1"), (json!(""), json!("")));
    assert_eq!(both("'192.168.1.1'", "33"), (json!(""), json!("")));
    assert_eq!(
        both("3232236031", "24"),
        (json!("192.168.1.0"), json!("192.168.1.0/24"))
    );
    assert_eq!(both("'192.168.1.256'", "24"), (json!(""), json!("")));
    assert_eq!(both("-5", "24"), (json!(""), json!("")));
    assert_eq!(both("'10.0.0.1'", "tolong('x')"), (json!(""), json!("")));
    assert_eq!(both("true", "24"), (json!(null), json!(null)));
    assert_eq!(both("'10.0.0.1'", "'x'"), (json!(null), json!(null)));
    assert_eq!(value("format_ipv4('10.1.2.3')"), json!("10.1.2.3"));
    assert_eq!(value("format_ipv4_mask('10.1.2.3')"), json!("10.1.2.3/32"));
    assert_eq!(value("format_ipv4_mask('10.1.2.3/8')"), json!("10.0.0.0/8"));
    assert_eq!(value("format_ipv4('')"), json!(""));
    assert_eq!(eval("format_ipv4('1.2.3.4')").1, KqlType::String);
}

#[test]
fn parse_ipv6_and_its_mask_form_give_kusto_canonical_text() {
    assert_eq!(
        value("parse_ipv6('192.168.255.255')"),
        json!("0000:0000:0000:0000:0000:ffff:c0a8:ffff")
    );
    assert_eq!(
        value("parse_ipv6('192.168.255.255/24')"),
        json!("0000:0000:0000:0000:0000:ffff:c0a8:ff00")
    );
    assert_eq!(
        value("parse_ipv6('fe80::85d:e82c:9446:7994')"),
        json!("fe80:0000:0000:0000:085d:e82c:9446:7994")
    );
    assert_eq!(
        value("parse_ipv6('FE80::85D:E82C:9446:7994/120')"),
        json!("fe80:0000:0000:0000:085d:e82c:9446:7900")
    );
    assert_eq!(value("parse_ipv6('nope')"), json!(""));
    assert_eq!(value("parse_ipv6('fe80::1/129')"), json!(""));
    assert_eq!(value("parse_ipv6(12)"), json!(null));
    let mask = |ip: &str, p: &str| value(&format!("parse_ipv6_mask('{ip}', {p})"));
    assert_eq!(
        mask("192.168.255.255", "120"),
        json!("0000:0000:0000:0000:0000:ffff:c0a8:ff00")
    );
    assert_eq!(
        mask("192.168.255.255/24", "124"),
        json!("0000:0000:0000:0000:0000:ffff:c0a8:ff00")
    );
    assert_eq!(
        mask("255.255.255.255", "128"),
        json!("0000:0000:0000:0000:0000:ffff:ffff:ffff")
    );
    assert_eq!(
        mask("fe80::85d:e82c:9446:7994/120", "124"),
        json!("fe80:0000:0000:0000:085d:e82c:9446:7900")
    );
    assert_eq!(
        mask("::192.168.255.255", "128"),
        json!("0000:0000:0000:0000:0000:0000:c0a8:ffff")
    );
    assert_eq!(
        mask("::192.168.255.255/24", "128"),
        json!("0000:0000:0000:0000:0000:0000:c0a8:ff00")
    );
    assert_eq!(mask("fe80::1", "129"), json!(""));
    assert_eq!(mask("fe80::1", "tolong('x')"), json!(""));
    assert_eq!(mask("fe80::1", "'64'"), json!(null));
}

#[test]
fn ipv6_is_in_range_and_in_any_range_test_prefix_ranges() {
    assert_eq!(
        value("ipv6_is_in_range('2001:db8:1:2:3:4:5:6', '2001:db8::/32')"),
        json!(true)
    );
    assert_eq!(
        value("ipv6_is_in_range('2001:db9::1', '2001:db8::/32')"),
        json!(false)
    );
    assert_eq!(
        value("ipv6_is_in_range('192.168.1.6', '192.168.1.1/24')"),
        json!(true)
    );
    assert_eq!(
        value("ipv6_is_in_range('::ffff:c0a8:106', '192.168.1.0/24')"),
        json!(true)
    );
    assert_eq!(
        value("ipv6_is_in_range('fe80::1', 'fe80::/129')"),
        json!(null)
    );
    assert_eq!(value("ipv6_is_in_range('bad', 'fe80::/10')"), json!(null));
    assert_eq!(value("ipv6_is_in_range(1, 'fe80::/10')"), json!(null));
    assert_eq!(
        value("ipv6_is_in_any_range('fe80::1', '2001:db8::/32', 'fe80::/10')"),
        json!(true)
    );
    assert_eq!(
        value("ipv6_is_in_any_range('::1', dynamic(['2001:db8::/32', 'fe80::/10']))"),
        json!(false)
    );
    assert_eq!(
        value("ipv6_is_in_any_range('fe80::1', 'fe80::/10', 'nope')"),
        json!(null)
    );
    assert_eq!(eval("ipv6_is_in_range('::1', '::1')").1, KqlType::Bool);
}
