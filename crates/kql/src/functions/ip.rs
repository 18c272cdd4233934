//! The IPv4 and IPv6 functions: parsing, comparing and matching addresses and ranges in
//! IP-prefix notation (`10.0.0.0/8`). An address that does not parse, or a prefix out of its
//! range, gives null, as Kusto documents.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::value::{KqlType, Value};

use super::args::{array, long, scalar, text};

/// The private IPv4 networks of RFC 1918, which `ipv4_is_private` tests.
const PRIVATE: [(u128, u32); 3] = [(0x0A00_0000, 8), (0xAC10_0000, 12), (0xC0A8_0000, 16)];

/// An address and its prefix length, in a space of 32 bits (`ipv4_lookup`) or 128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Net {
    /// The address, its bits past the prefix cleared.
    pub(crate) addr: u128,
    /// How many leading bits are the network's.
    pub(crate) prefix: u32,
}

/// `text` as an address with an optional `/prefix`, its bits past the prefix cleared.
pub(crate) fn parse_net(text: &str, v6: bool) -> Option<Net> {
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix.trim().parse::<u32>().ok()?)),
        None => (text, None),
    };
    let addr = addr.trim();
    let (bits, width, offset) = if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        if v6 {
            (u128::from(v4.to_ipv6_mapped()), 128, 96)
        } else {
            (u128::from(u32::from(v4)), 32, 0)
        }
    } else if v6 {
        // An IPv6 address written with its last 32 bits in IPv4 notation (`::192.168.1.1/24`)
        // takes an IPv4 prefix, as Kusto documents for `parse_ipv6_mask`.
        let offset = if addr.contains('.') { 96 } else { 0 };
        (u128::from(addr.parse::<Ipv6Addr>().ok()?), 128, offset)
    } else {
        return None;
    };
    let prefix = match prefix {
        Some(p) if p + offset > width => return None,
        Some(p) => p + offset,
        None => width,
    };
    Some(Net {
        addr: bits & mask(prefix, width),
        prefix,
    })
}

/// The netmask of `prefix` leading one bits in a space of `width` bits.
pub(crate) fn mask(prefix: u32, width: u32) -> u128 {
    let full = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if prefix == 0 {
        0
    } else {
        (full << (width - prefix)) & full
    }
}

/// A function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFn {
    /// `ipv4_is_private(ip)`.
    V4IsPrivate,
    /// `ipv4_is_in_range(ip, range)`.
    V4IsInRange,
    /// `ipv4_is_in_any_range(ip, range, ...)` or with an array of ranges.
    V4IsInAnyRange,
    /// `ipv4_is_match(a, b [, prefix])`.
    V4IsMatch,
    /// `ipv4_compare(a, b [, prefix])`.
    V4Compare,
    /// `parse_ipv4(ip)`.
    ParseV4,
    /// `parse_ipv4_mask(ip, prefix)`.
    ParseV4Mask,
    /// `ipv6_compare(a, b [, prefix])`.
    V6Compare,
    /// `ipv6_is_match(a, b [, prefix])`.
    V6IsMatch,
    /// `has_ipv4(source, ip)`.
    HasV4,
    /// `has_ipv4_prefix(source, prefix)`.
    HasV4Prefix,
    /// `has_any_ipv4(source, ip, ...)` or with an array of addresses.
    HasAnyV4,
    /// `has_any_ipv4_prefix(source, prefix, ...)` or with an array of prefixes.
    HasAnyV4Prefix,
    /// `format_ipv4(ip [, prefix])`.
    FormatV4,
    /// `format_ipv4_mask(ip [, prefix])`.
    FormatV4Mask,
    /// `parse_ipv6(ip)`.
    ParseV6,
    /// `parse_ipv6_mask(ip, prefix)`.
    ParseV6Mask,
    /// `ipv6_is_in_range(ip, range)`.
    V6IsInRange,
    /// `ipv6_is_in_any_range(ip, range, ...)` or with an array of ranges.
    V6IsInAnyRange,
}

impl IpFn {
    /// The result type Kusto documents.
    pub(super) fn return_type(self) -> KqlType {
        match self {
            IpFn::V4Compare | IpFn::ParseV4 | IpFn::ParseV4Mask | IpFn::V6Compare => KqlType::Long,
            IpFn::FormatV4 | IpFn::FormatV4Mask | IpFn::ParseV6 | IpFn::ParseV6Mask => {
                KqlType::String
            }
            _ => KqlType::Bool,
        }
    }
}

/// Evaluates a function of this family.
pub(super) fn call(f: IpFn, args: &[Value]) -> Value {
    let v4 = |i: usize| address(args, i, false);
    match f {
        IpFn::V4IsPrivate => {
            v4(0).map_or(Value::Null, |ip| {
                Value::Bool(PRIVATE.iter().any(|(net, prefix)| {
                    ip.prefix >= *prefix && ip.addr & mask(*prefix, 32) == *net
                }))
            })
        }
        IpFn::V4IsInRange => match (v4(0), v4(1)) {
            (Some(ip), Some(range)) => Value::Bool(holds(range, ip, 32)),
            _ => Value::Null,
        },
        IpFn::V4IsInAnyRange => in_any_range(args, false),
        IpFn::V6IsInAnyRange => in_any_range(args, true),
        IpFn::V6IsInRange => match (address(args, 0, true), address(args, 1, true)) {
            (Some(ip), Some(range)) => Value::Bool(holds(range, ip, 128)),
            _ => Value::Null,
        },
        IpFn::FormatV4 | IpFn::FormatV4Mask => format_v4(f == IpFn::FormatV4Mask, args),
        IpFn::ParseV6 | IpFn::ParseV6Mask => parse_v6(f == IpFn::ParseV6Mask, args),
        IpFn::V4IsMatch | IpFn::V4Compare => compare(f == IpFn::V4IsMatch, args, false),
        IpFn::V6IsMatch | IpFn::V6Compare => compare(f == IpFn::V6IsMatch, args, true),
        IpFn::ParseV4 => v4(0).map_or(Value::Null, |ip| as_long(ip.addr)),
        IpFn::ParseV4Mask => match (v4(0), long(args, 1)) {
            (Some(ip), Some(prefix)) if (0..=32).contains(&prefix) => {
                let prefix = u32::try_from(prefix).unwrap_or(32).min(ip.prefix);
                as_long(ip.addr & mask(prefix, 32))
            }
            _ => Value::Null,
        },
        IpFn::HasV4 | IpFn::HasV4Prefix | IpFn::HasAnyV4 | IpFn::HasAnyV4Prefix => {
            has_ipv4(f, args)
        }
    }
}

/// `has_ipv4` and its siblings: whether an address (or a prefix: one to three octets ending
/// with a dot, or a whole address) stands in the text as a term of its own. A term is a run of
/// letters, digits and dots, its leading and trailing dots left off; it counts only when it is
/// an IPv4 address. A null text is empty; a text or address that is not a string gives null;
/// an address or prefix that is not valid matches nothing.
fn has_ipv4(f: IpFn, args: &[Value]) -> Value {
    let is_text = |i: usize| matches!(*scalar(args, i), Value::String(_) | Value::Null);
    let many = matches!(f, IpFn::HasAnyV4 | IpFn::HasAnyV4Prefix);
    let list = if many { array(args, 1) } else { None };
    if !is_text(0) || (list.is_none() && !(1..args.len()).all(is_text)) {
        return Value::Null;
    }
    let prefix = matches!(f, IpFn::HasV4Prefix | IpFn::HasAnyV4Prefix);
    let wanted: Vec<Vec<u8>> = match list {
        Some(items) => items
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|t| octets(t, prefix))
            .collect(),
        None => (1..args.len())
            .filter_map(|i| octets(&text(args, i), prefix))
            .collect(),
    };
    let source = text(args, 0);
    let found = source
        .split(|c: char| !(c.is_alphanumeric() || c == '.'))
        .filter_map(|term| octets(term.trim_matches('.'), false))
        .any(|term| wanted.iter().any(|w| term.starts_with(w)));
    Value::Bool(found)
}

/// The octets of a dotted IPv4 address, or with `prefix` also of one to three octets followed
/// by a dot; `None` when `text` is neither.
fn octets(text: &str, prefix: bool) -> Option<Vec<u8>> {
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Some(ip.octets().to_vec());
    }
    let head = text.strip_suffix('.').filter(|_| prefix)?;
    let parts: Vec<&str> = head.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
            let canonical = p.len() == 1 || !p.starts_with('0');
            p.parse::<u8>().ok().filter(|_| digits && canonical)
        })
        .collect()
}

/// The prefix argument `i` of the `format_*` and `parse_*_mask` functions, at most `width`:
/// `Err` with the answer when it is not one (null for a wrong type, empty for a null or a
/// number out of range, as a conversion that fails is in Kusto).
fn prefix_arg(args: &[Value], i: usize, width: u32) -> Result<u32, Value> {
    match *scalar(args, i) {
        Value::Long(p) => u32::try_from(p)
            .ok()
            .filter(|p| *p <= width)
            .ok_or_else(|| Value::str("")),
        Value::Null if i >= args.len() => Ok(width),
        Value::Null => Err(Value::str("")),
        _ => Err(Value::Null),
    }
}

/// `format_ipv4`/`format_ipv4_mask`: the address (text, or a number in big-endian order) with
/// the bits past the shorter of its own prefix and the argument cleared, as `a.b.c.d` or
/// `a.b.c.d/prefix`; an empty string when it does not convert, null for a wrong type.
fn format_v4(with_mask: bool, args: &[Value]) -> Value {
    let ip = match *scalar(args, 0) {
        Value::String(_) => parse_net(&text(args, 0), false),
        Value::Long(n) => u32::try_from(n).ok().map(|n| Net {
            addr: u128::from(n),
            prefix: 32,
        }),
        Value::Null => None,
        _ => return Value::Null,
    };
    let prefix = match prefix_arg(args, 1, 32) {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let Some(ip) = ip else {
        return Value::str("");
    };
    let prefix = prefix.min(ip.prefix);
    let addr = Ipv4Addr::from(u32::try_from(ip.addr & mask(prefix, 32)).unwrap_or(0));
    if with_mask {
        Value::str(&format!("{addr}/{prefix}"))
    } else {
        Value::str(&addr.to_string())
    }
}

/// `parse_ipv6`/`parse_ipv6_mask`: the address (IPv4 as IPv4-mapped IPv6) with the bits past
/// the shorter of its own prefix and the argument cleared, in Kusto's canonical form of eight
/// groups of four lowercase hex digits; an empty string when it does not convert, null for a
/// wrong type.
fn parse_v6(with_mask: bool, args: &[Value]) -> Value {
    let ip = match *scalar(args, 0) {
        Value::String(_) => parse_net(&text(args, 0), true),
        Value::Null => None,
        _ => return Value::Null,
    };
    let prefix = if with_mask {
        match prefix_arg(args, 1, 128) {
            Ok(p) => p,
            Err(answer) => return answer,
        }
    } else {
        128
    };
    let Some(ip) = ip else {
        return Value::str("");
    };
    let bits = ip.addr & mask(prefix.min(ip.prefix), 128);
    let groups: Vec<String> = Ipv6Addr::from(bits)
        .segments()
        .iter()
        .map(|g| format!("{g:04x}"))
        .collect();
    Value::str(&groups.join(":"))
}

/// Argument `i` as an address or range; `None` when it is not one.
fn address(args: &[Value], i: usize, v6: bool) -> Option<Net> {
    match *scalar(args, i) {
        Value::String(_) => parse_net(&text(args, i), v6),
        _ => None,
    }
}

/// Whether `range` holds the address of `ip`.
fn holds(range: Net, ip: Net, width: u32) -> bool {
    ip.addr & mask(range.prefix, width) == range.addr
}

/// An address of at most 32 bits as a `long`.
fn as_long(addr: u128) -> Value {
    i64::try_from(addr).map_or(Value::Null, Value::Long)
}

/// `ipv4_is_in_any_range`/`ipv6_is_in_any_range`: the ranges as arguments or as one array; any
/// of them not a range makes the answer null, as an address that does not parse does.
fn in_any_range(args: &[Value], v6: bool) -> Value {
    let width = if v6 { 128 } else { 32 };
    let Some(ip) = address(args, 0, v6) else {
        return Value::Null;
    };
    let ranges: Vec<Option<Net>> = match args.get(1) {
        Some(Value::Dynamic(json)) if json.is_array() => json
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.as_str().and_then(|r| parse_net(r, v6)))
            .collect(),
        _ => (1..args.len()).map(|i| address(args, i, v6)).collect(),
    };
    let mut any = false;
    for range in ranges {
        let Some(range) = range else {
            return Value::Null;
        };
        any |= holds(range, ip, width);
    }
    Value::Bool(any)
}

/// `ipv4_compare`/`ipv6_compare` (-1, 0 or 1) and `ipv4_is_match`/`ipv6_is_match` (equal or
/// not) over the leading bits both addresses' prefixes and the optional prefix argument keep.
fn compare(is_match: bool, args: &[Value], v6: bool) -> Value {
    let width = if v6 { 128 } else { 32 };
    let (Some(a), Some(b)) = (address(args, 0, v6), address(args, 1, v6)) else {
        return Value::Null;
    };
    let mut prefix = a.prefix.min(b.prefix);
    if args.len() > 2 {
        match long(args, 2).and_then(|p| u32::try_from(p).ok()) {
            Some(p) if p <= width => prefix = prefix.min(p),
            _ => return Value::Null,
        }
    }
    let keep = mask(prefix, width);
    let order = (a.addr & keep).cmp(&(b.addr & keep));
    if is_match {
        Value::Bool(order.is_eq())
    } else {
        Value::Long(order as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ranges_parse_with_their_prefix_and_bad_ones_do_not() {
        let at = |text, v6| parse_net(text, v6);
        assert_eq!(
            at("10.1.2.3/8", false),
            Some(Net {
                addr: 10 << 24,
                prefix: 8
            })
        );
        assert_eq!(at("10.1.2.3", false).map(|n| n.prefix), Some(32));
        assert_eq!(at("10.1.2.3/33", false), None);
        assert_eq!(at("fe80::1", false), None);
        assert_eq!(at("not an address", true), None);
        assert_eq!(at("fe80::1/10", true).map(|n| n.prefix), Some(10));
        assert_eq!(at("10.0.0.1/8", true).map(|n| n.prefix), Some(104));
        assert_eq!(mask(0, 32), 0);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(128, 128), u128::MAX);
    }
}
