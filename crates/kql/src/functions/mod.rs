//! The built-in scalar functions: their names, arities, result types and evaluation.

mod args;
mod arrays;
mod bags;
mod convert;
mod dates;
mod datetime;
mod dynamic;
mod encode;
mod ip;
mod json;
mod math;
mod regexes;
pub(crate) mod series;
mod strings;
mod text;
mod url;

use std::borrow::Cow;

use crate::ast::BinOp;
use crate::calendar;
use crate::scalar::to_text;
use crate::value::{KqlType, Value};

pub use arrays::ArrayFn;
pub use bags::BagFn;
pub use dates::DateFn;
pub use datetime::{bin, format_datetime};
pub use encode::EncodeFn;
pub use ip::IpFn;
pub(crate) use ip::{mask, parse_net};
pub(crate) use json::json_path;
pub use math::MathFn;
pub use strings::extract;
pub use text::TextFn;

use convert::{is_empty, to_bool, to_datetime, to_double, to_int, to_long, to_timespan};
use dynamic::pack;
use json::{extract_json, parse_json};
use math::{extreme_of, round};
use strings::{index_of, replace_regex, split, substring};
use url::{parse_path, parse_url, url_decode};

/// The built-in scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `bin(x, size)` / `floor(x, size)`.
    Bin,
    /// `startofday(dt)`.
    StartOfDay,
    /// `tolower(s)`.
    ToLower,
    /// `toupper(s)`.
    ToUpper,
    /// `strcat(...)`.
    StrCat,
    /// `split(s, delimiter [, index])`.
    Split,
    /// `substring(s, start [, length])`.
    Substring,
    /// `strlen(s)`.
    StrLen,
    /// `isempty(x)`.
    IsEmpty,
    /// `isnotempty(x)`.
    IsNotEmpty,
    /// `isnull(x)`.
    IsNull,
    /// `isnotnull(x)`.
    IsNotNull,
    /// `iff(c, a, b)` / `iif`.
    Iff,
    /// `case(c1, v1, ..., else)`.
    Case,
    /// `tostring(x)`.
    ToString,
    /// `toint(x)`.
    ToInt,
    /// `tolong(x)`.
    ToLong,
    /// `todouble(x)` / `toreal`.
    ToDouble,
    /// `todatetime(x)`.
    ToDateTime,
    /// `tobool(x)`.
    ToBool,
    /// `extract(regex, group, text)`.
    Extract,
    /// `format_datetime(dt, format)`.
    FormatDateTime,
    /// `parse_json(s)` / `todynamic`.
    ParseJson,
    /// `array_length(a)`.
    ArrayLength,
    /// `dcount_hll(hll)`: the distinct count an `hll`/`hll_merge` value holds.
    DcountHll,
    /// `coalesce(...)`.
    Coalesce,
    /// `not(b)`.
    Not,
    /// `pack_array(...)`.
    PackArray,
    /// `extractjson(path, json [, typeof(t)])`; the type travels as a string argument.
    ExtractJson,
    /// `parse_url(url)`.
    ParseUrl,
    /// `url_decode(s)`.
    UrlDecode,
    /// `datetime_diff(period, a, b)`.
    DatetimeDiff,
    /// `datetime_add(period, amount, t)`.
    DatetimeAdd,
    /// `startofweek(t)`, `startofmonth(t)`, `startofyear(t)`.
    StartOf(&'static str),
    /// `endofday(t)`.
    EndOfDay,
    /// `dayofweek(t)`.
    DayOfWeek,
    /// `hourofday(t)`.
    HourOfDay,
    /// `replace_string(text, lookup, rewrite)`.
    ReplaceString,
    /// `replace_regex(text, regex, rewrite)`.
    ReplaceRegex,
    /// `replace(regex, rewrite, text)`, the older spelling.
    Replace,
    /// `round(x [, digits])`.
    Round,
    /// `abs(x)`.
    Abs,
    /// `pack(k1, v1, ...)` / `bag_pack`.
    Pack,
    /// `indexof(text, lookup)`.
    IndexOf,
    /// `min_of(...)`.
    MinOf,
    /// `max_of(...)`.
    MaxOf,
    /// `range(start, stop [, step])`.
    Range,
    /// `series_add`, `series_subtract`, `series_multiply`, `series_divide`.
    SeriesArith(BinOp),
    /// `series_fill_const(series, constant [, missing])`.
    SeriesFillConst,
    /// `totimespan(x)`.
    ToTimeSpan,
    /// `parse_path(path)`.
    ParsePath,
    /// The string functions of [`TextFn`].
    Text(TextFn),
    /// The encodings and digests of [`EncodeFn`].
    Encode(EncodeFn),
    /// The IPv4 and IPv6 functions of [`IpFn`].
    Ip(IpFn),
    /// The property-bag functions of [`BagFn`].
    Bag(BagFn),
    /// The array and set functions of [`ArrayFn`].
    Array(ArrayFn),
    /// The datetime and timespan functions of [`DateFn`].
    Date(DateFn),
    /// The number functions of [`MathFn`].
    Math(MathFn),
    /// `gettype(x)`: a typed argument's type is known when the query compiles, a dynamic one's
    /// when it runs.
    GetType,
}

/// Looks up a function by name with its accepted argument counts.
pub fn lookup(name: &str) -> Option<(Func, usize, usize)> {
    Some(match name {
        "bin" | "floor" => (Func::Bin, 2, 2),
        "startofday" => (Func::StartOfDay, 1, 1),
        "tolower" => (Func::ToLower, 1, 1),
        "toupper" => (Func::ToUpper, 1, 1),
        "strcat" => (Func::StrCat, 1, 64),
        "split" => (Func::Split, 2, 3),
        "substring" => (Func::Substring, 2, 3),
        "strlen" => (Func::StrLen, 1, 1),
        "isempty" => (Func::IsEmpty, 1, 1),
        "isnotempty" => (Func::IsNotEmpty, 1, 1),
        "isnull" => (Func::IsNull, 1, 1),
        "isnotnull" => (Func::IsNotNull, 1, 1),
        "iff" | "iif" => (Func::Iff, 3, 3),
        "case" => (Func::Case, 3, 255),
        "tostring" => (Func::ToString, 1, 1),
        "toint" => (Func::ToInt, 1, 1),
        "tolong" => (Func::ToLong, 1, 1),
        "todouble" | "toreal" => (Func::ToDouble, 1, 1),
        "todatetime" => (Func::ToDateTime, 1, 1),
        "tobool" | "toboolean" => (Func::ToBool, 1, 1),
        "extract" => (Func::Extract, 3, 3),
        "format_datetime" => (Func::FormatDateTime, 2, 2),
        "parse_json" | "todynamic" => (Func::ParseJson, 1, 1),
        "array_length" => (Func::ArrayLength, 1, 1),
        "dcount_hll" => (Func::DcountHll, 1, 1),
        "coalesce" => (Func::Coalesce, 1, 64),
        "not" => (Func::Not, 1, 1),
        "pack_array" => (Func::PackArray, 1, 64),
        "extractjson" | "extract_json" => (Func::ExtractJson, 2, 3),
        "parse_url" => (Func::ParseUrl, 1, 1),
        "url_decode" => (Func::UrlDecode, 1, 1),
        "datetime_diff" => (Func::DatetimeDiff, 3, 3),
        "datetime_add" => (Func::DatetimeAdd, 3, 3),
        "startofweek" => (Func::StartOf("week"), 1, 1),
        "startofmonth" => (Func::StartOf("month"), 1, 1),
        "startofyear" => (Func::StartOf("year"), 1, 1),
        "endofday" => (Func::EndOfDay, 1, 1),
        "dayofweek" => (Func::DayOfWeek, 1, 1),
        "hourofday" => (Func::HourOfDay, 1, 1),
        "replace_string" => (Func::ReplaceString, 3, 3),
        "replace_regex" => (Func::ReplaceRegex, 3, 3),
        "replace" => (Func::Replace, 3, 3),
        "round" => (Func::Round, 1, 2),
        "abs" => (Func::Abs, 1, 1),
        "pack" | "bag_pack" => (Func::Pack, 2, 64),
        "indexof" => (Func::IndexOf, 2, 2),
        "min_of" => (Func::MinOf, 1, 64),
        "max_of" => (Func::MaxOf, 1, 64),
        "range" => (Func::Range, 2, 3),
        "series_add" => (Func::SeriesArith(BinOp::Add), 2, 2),
        "series_subtract" => (Func::SeriesArith(BinOp::Sub), 2, 2),
        "series_multiply" => (Func::SeriesArith(BinOp::Mul), 2, 2),
        "series_divide" => (Func::SeriesArith(BinOp::Div), 2, 2),
        "series_fill_const" => (Func::SeriesFillConst, 2, 3),
        "totimespan" | "totime" => (Func::ToTimeSpan, 1, 1),
        "parse_path" => (Func::ParsePath, 1, 1),
        "trim" => (Func::Text(TextFn::Trim), 2, 2),
        "trim_start" => (Func::Text(TextFn::TrimStart), 2, 2),
        "trim_end" => (Func::Text(TextFn::TrimEnd), 2, 2),
        "countof" => (Func::Text(TextFn::CountOf), 2, 3),
        "extract_all" | "extractall" => (Func::Text(TextFn::ExtractAll), 2, 3),
        "strcat_delim" => (Func::Text(TextFn::StrcatDelim), 3, 65),
        "strcat_array" => (Func::Text(TextFn::StrcatArray), 2, 2),
        "reverse" => (Func::Text(TextFn::Reverse), 1, 1),
        "strrep" => (Func::Text(TextFn::StrRep), 2, 3),
        "string_size" => (Func::Text(TextFn::StringSize), 1, 1),
        "isascii" => (Func::Text(TextFn::IsAscii), 1, 1),
        "base64_encode_tostring" | "base64_encodestring" => {
            (Func::Encode(EncodeFn::Base64Encode), 1, 1)
        }
        "base64_decode_tostring" | "base64_decodestring" => {
            (Func::Encode(EncodeFn::Base64Decode), 1, 1)
        }
        "url_encode" => (Func::Encode(EncodeFn::UrlEncode), 1, 1),
        "url_encode_component" => (Func::Encode(EncodeFn::UrlEncodeComponent), 1, 1),
        "hash_md5" => (Func::Encode(EncodeFn::Md5), 1, 1),
        "hash_sha1" => (Func::Encode(EncodeFn::Sha1), 1, 1),
        "hash_sha256" => (Func::Encode(EncodeFn::Sha256), 1, 1),
        "tohex" => (Func::Encode(EncodeFn::ToHex), 1, 2),
        "toguid" => (Func::Encode(EncodeFn::ToGuid), 1, 1),
        "ipv4_is_private" => (Func::Ip(IpFn::V4IsPrivate), 1, 1),
        "ipv4_is_in_range" => (Func::Ip(IpFn::V4IsInRange), 2, 2),
        "ipv4_is_in_any_range" => (Func::Ip(IpFn::V4IsInAnyRange), 2, 64),
        "ipv4_is_match" => (Func::Ip(IpFn::V4IsMatch), 2, 3),
        "ipv4_compare" => (Func::Ip(IpFn::V4Compare), 2, 3),
        "parse_ipv4" => (Func::Ip(IpFn::ParseV4), 1, 1),
        "parse_ipv4_mask" => (Func::Ip(IpFn::ParseV4Mask), 2, 2),
        "ipv6_compare" => (Func::Ip(IpFn::V6Compare), 2, 3),
        "ipv6_is_match" => (Func::Ip(IpFn::V6IsMatch), 2, 3),
        "has_ipv4" => (Func::Ip(IpFn::HasV4), 2, 2),
        "format_ipv4" => (Func::Ip(IpFn::FormatV4), 1, 2),
        "format_ipv4_mask" => (Func::Ip(IpFn::FormatV4Mask), 1, 2),
        "parse_ipv6" => (Func::Ip(IpFn::ParseV6), 1, 1),
        "parse_ipv6_mask" => (Func::Ip(IpFn::ParseV6Mask), 2, 2),
        "ipv6_is_in_range" => (Func::Ip(IpFn::V6IsInRange), 2, 2),
        "ipv6_is_in_any_range" => (Func::Ip(IpFn::V6IsInAnyRange), 2, 64),
        "has_ipv4_prefix" => (Func::Ip(IpFn::HasV4Prefix), 2, 2),
        "has_any_ipv4" => (Func::Ip(IpFn::HasAnyV4), 2, 64),
        "has_any_ipv4_prefix" => (Func::Ip(IpFn::HasAnyV4Prefix), 2, 64),
        "bag_keys" => (Func::Bag(BagFn::Keys), 1, 1),
        "bag_merge" => (Func::Bag(BagFn::Merge), 2, 64),
        "bag_remove_keys" => (Func::Bag(BagFn::RemoveKeys), 2, 2),
        "bag_has_key" => (Func::Bag(BagFn::HasKey), 2, 2),
        "bag_set_key" => (Func::Bag(BagFn::SetKey), 3, 3),
        "array_concat" => (Func::Array(ArrayFn::Concat), 1, 64),
        "array_slice" => (Func::Array(ArrayFn::Slice), 3, 3),
        "array_index_of" => (Func::Array(ArrayFn::IndexOf), 2, 5),
        "array_sort_asc" => (Func::Array(ArrayFn::SortAsc), 1, 2),
        "array_sort_desc" => (Func::Array(ArrayFn::SortDesc), 1, 2),
        "array_sum" => (Func::Array(ArrayFn::Sum), 1, 1),
        "array_reverse" => (Func::Array(ArrayFn::Reverse), 1, 1),
        "set_difference" => (Func::Array(ArrayFn::Difference), 2, 64),
        "set_intersect" => (Func::Array(ArrayFn::Intersect), 2, 64),
        "set_union" => (Func::Array(ArrayFn::Union), 2, 64),
        "set_has_element" => (Func::Array(ArrayFn::HasElement), 2, 2),
        "zip" => (Func::Array(ArrayFn::Zip), 2, 16),
        "array_split" => (Func::Array(ArrayFn::Split), 2, 2),
        "array_rotate_left" => (Func::Array(ArrayFn::RotateLeft), 2, 2),
        "array_rotate_right" => (Func::Array(ArrayFn::RotateRight), 2, 2),
        "array_shift_left" => (Func::Array(ArrayFn::ShiftLeft), 2, 3),
        "array_shift_right" => (Func::Array(ArrayFn::ShiftRight), 2, 3),
        "array_iff" | "array_iif" => (Func::Array(ArrayFn::Iff), 3, 3),
        "jaccard_index" => (Func::Array(ArrayFn::Jaccard), 2, 2),
        "make_datetime" => (Func::Date(DateFn::MakeDateTime), 3, 6),
        "make_timespan" => (Func::Date(DateFn::MakeTimeSpan), 2, 4),
        "dayofmonth" => (Func::Date(DateFn::DayOfMonth), 1, 1),
        "dayofyear" => (Func::Date(DateFn::DayOfYear), 1, 1),
        "getmonth" | "monthofyear" => (Func::Date(DateFn::Month), 1, 1),
        "getyear" => (Func::Date(DateFn::Year), 1, 1),
        "weekofyear" | "week_of_year" => (Func::Date(DateFn::WeekOfYear), 1, 1),
        "datetime_part" => (Func::Date(DateFn::Part), 2, 2),
        "unixtime_seconds_todatetime" => (Func::Date(DateFn::FromUnix(1_000_000_000)), 1, 1),
        "unixtime_milliseconds_todatetime" => (Func::Date(DateFn::FromUnix(1_000_000)), 1, 1),
        "unixtime_microseconds_todatetime" => (Func::Date(DateFn::FromUnix(1_000)), 1, 1),
        "unixtime_nanoseconds_todatetime" => (Func::Date(DateFn::FromUnix(1)), 1, 1),
        "format_timespan" => (Func::Date(DateFn::FormatTimeSpan), 2, 2),
        "bin_at" => (Func::Date(DateFn::BinAt), 3, 3),
        "endofweek" => (Func::Date(DateFn::EndOf("week")), 1, 1),
        "endofmonth" => (Func::Date(DateFn::EndOf("month")), 1, 1),
        "endofyear" => (Func::Date(DateFn::EndOf("year")), 1, 1),
        "ceiling" => (Func::Math(MathFn::Ceiling), 1, 1),
        "log" => (Func::Math(MathFn::Log), 1, 1),
        "log10" => (Func::Math(MathFn::Log10), 1, 1),
        "log2" => (Func::Math(MathFn::Log2), 1, 1),
        "exp" => (Func::Math(MathFn::Exp), 1, 1),
        "exp2" => (Func::Math(MathFn::Exp2), 1, 1),
        "exp10" => (Func::Math(MathFn::Exp10), 1, 1),
        "pow" => (Func::Math(MathFn::Pow), 2, 2),
        "sqrt" => (Func::Math(MathFn::Sqrt), 1, 1),
        "sign" => (Func::Math(MathFn::Sign), 1, 1),
        "isnan" => (Func::Math(MathFn::IsNan), 1, 1),
        "isinf" => (Func::Math(MathFn::IsInf), 1, 1),
        "isfinite" => (Func::Math(MathFn::IsFinite), 1, 1),
        "sin" => (Func::Math(MathFn::Sin), 1, 1),
        "cos" => (Func::Math(MathFn::Cos), 1, 1),
        "tan" => (Func::Math(MathFn::Tan), 1, 1),
        "cot" => (Func::Math(MathFn::Cot), 1, 1),
        "asin" => (Func::Math(MathFn::Asin), 1, 1),
        "acos" => (Func::Math(MathFn::Acos), 1, 1),
        "atan" => (Func::Math(MathFn::Atan), 1, 1),
        "atan2" => (Func::Math(MathFn::Atan2), 2, 2),
        "degrees" => (Func::Math(MathFn::Degrees), 1, 1),
        "radians" => (Func::Math(MathFn::Radians), 1, 1),
        "pi" => (Func::Math(MathFn::Pi), 0, 0),
        "gettype" => (Func::GetType, 1, 1),
        _ => return None,
    })
}

/// The static result type of a function given its argument types.
pub fn return_type(f: Func, args: &[KqlType]) -> KqlType {
    match f {
        Func::Text(t) => t.return_type(),
        Func::Encode(e) => e.return_type(),
        Func::Ip(i) => i.return_type(),
        Func::Bag(b) => b.return_type(),
        Func::Array(a) => a.return_type(),
        Func::Date(d) => d.return_type(args),
        Func::Math(m) => m.return_type(args),
        Func::Bin | Func::Coalesce | Func::Abs | Func::MinOf | Func::MaxOf => {
            args.first().copied().unwrap_or(KqlType::Dynamic)
        }
        Func::Round => match args.first() {
            Some(KqlType::Int | KqlType::Long) => KqlType::Long,
            _ => KqlType::Real,
        },
        Func::StartOfDay
        | Func::ToDateTime
        | Func::DatetimeAdd
        | Func::StartOf(_)
        | Func::EndOfDay => KqlType::DateTime,
        Func::DayOfWeek | Func::ToTimeSpan => KqlType::TimeSpan,
        Func::ToLower
        | Func::GetType
        | Func::ReplaceString
        | Func::ReplaceRegex
        | Func::Replace
        | Func::ToUpper
        | Func::StrCat
        | Func::Substring
        | Func::ToString
        | Func::FormatDateTime
        | Func::Extract
        | Func::UrlDecode
        | Func::ExtractJson => KqlType::String,
        Func::Split
        | Func::ParsePath
        | Func::ParseJson
        | Func::PackArray
        | Func::ParseUrl
        | Func::Pack
        | Func::Range
        | Func::SeriesArith(_)
        | Func::SeriesFillConst => KqlType::Dynamic,
        Func::StrLen
        | Func::ToLong
        | Func::ArrayLength
        | Func::DcountHll
        | Func::DatetimeDiff
        | Func::HourOfDay
        | Func::IndexOf => KqlType::Long,
        Func::ToInt => KqlType::Int,
        Func::ToDouble => KqlType::Real,
        Func::IsEmpty
        | Func::IsNotEmpty
        | Func::IsNull
        | Func::IsNotNull
        | Func::Not
        | Func::ToBool => KqlType::Bool,
        Func::Iff | Func::Case => args.get(1).copied().unwrap_or(KqlType::Dynamic),
    }
}

/// Which argument of `f` is a regular expression, checked when the query compiles if it is a
/// literal, as Kusto refuses an invalid one before running.
pub fn regex_argument(f: Func) -> Option<usize> {
    match f {
        Func::Text(t) => t.regex_argument(),
        Func::ReplaceRegex => Some(1),
        Func::Replace => Some(0),
        _ => None,
    }
}

/// Evaluates a function over its evaluated arguments (argument counts are checked at compile time).
pub fn call(f: Func, args: &[Value]) -> Value {
    let arg = |i: usize| {
        args.get(i)
            .map_or(Cow::Owned(Value::Null), Value::scalarize)
    };
    match f {
        Func::Bin => bin(&arg(0), &arg(1)),
        Func::StartOfDay => match &*arg(0) {
            Value::DateTime(t) => t
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map_or(Value::Null, |d| Value::DateTime(d.and_utc())),
            _ => Value::Null,
        },
        Func::ToLower => Value::str(&to_text(&args[0]).to_lowercase()),
        Func::ToUpper => Value::str(&to_text(&args[0]).to_uppercase()),
        Func::StrCat => {
            let mut out = String::new();
            for a in args {
                out.push_str(&to_text(a));
            }
            Value::str(&out)
        }
        Func::Split => split(args),
        Func::Substring => substring(args),
        #[allow(clippy::cast_possible_wrap)]
        Func::StrLen => Value::Long(to_text(&args[0]).chars().count() as i64),
        Func::IsEmpty => Value::Bool(is_empty(&args[0])),
        Func::IsNotEmpty => Value::Bool(!is_empty(&args[0])),
        Func::IsNull => Value::Bool(args[0].is_null()),
        Func::IsNotNull => Value::Bool(!args[0].is_null()),
        Func::Iff => {
            if matches!(*arg(0), Value::Bool(true)) {
                args[1].clone()
            } else {
                args[2].clone()
            }
        }
        Func::Case => {
            let pairs = args.len() / 2;
            (0..pairs)
                .find(|i| matches!(*args[2 * i].scalarize(), Value::Bool(true)))
                .map_or_else(|| args[args.len() - 1].clone(), |i| args[2 * i + 1].clone())
        }
        Func::ToString => Value::str(&args[0].to_kql_string()),
        Func::ToInt => to_int(&arg(0)),
        Func::ToLong => to_long(&arg(0)),
        Func::ToDouble => to_double(&arg(0)),
        Func::ToDateTime => to_datetime(&arg(0)),
        Func::ToBool => to_bool(&arg(0)),
        Func::Extract => match regexes::cached_regex(&to_text(&args[0])) {
            Ok(re) => extract(&re, &args[1], &args[2]),
            Err(_) => Value::Null,
        },
        Func::FormatDateTime => match &*arg(0) {
            Value::DateTime(t) => Value::str(&format_datetime(t, &to_text(&args[1]))),
            _ => Value::str(""),
        },
        Func::ParseJson => parse_json(&args[0]),
        Func::ArrayLength => match &args[0] {
            #[allow(clippy::cast_possible_wrap)]
            Value::Dynamic(json) => json
                .as_array()
                .map_or(Value::Null, |a| Value::Long(a.len() as i64)),
            _ => Value::Null,
        },
        Func::DcountHll => crate::hll::dcount_hll(&args[0]),
        Func::Coalesce => args
            .iter()
            .find(|a| !a.is_null() && !matches!(a, Value::String(s) if s.is_empty()))
            .cloned()
            .unwrap_or_else(|| args.last().cloned().unwrap_or_default()),
        Func::Not => match &*arg(0) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Null,
        },
        Func::PackArray => Value::dynamic(serde_json::Value::Array(
            args.iter().map(Value::to_json).collect(),
        )),
        Func::ExtractJson => extract_json(&to_text(&args[0]), &args[1], args.get(2)),
        Func::ParseUrl => parse_url(&to_text(&args[0])),
        Func::UrlDecode => url_decode(&to_text(&args[0])).map_or(Value::Null, |s| Value::str(&s)),
        Func::Range => series::range(args),
        Func::SeriesArith(op) => series::arith(op, args),
        Func::SeriesFillConst => series::fill_const(args),
        Func::ToTimeSpan => to_timespan(&arg(0)),
        Func::ParsePath => parse_path(&to_text(&args[0])),
        Func::Text(t) => text::call(t, args),
        Func::Encode(e) => encode::call(e, args),
        Func::Ip(i) => ip::call(i, args),
        Func::Bag(b) => bags::call(b, args),
        Func::Array(a) => arrays::call(a, args),
        Func::Date(d) => dates::call(d, args),
        Func::Math(m) => math::call(m, args),
        Func::GetType => Value::str(type_name(args.first().unwrap_or(&Value::Null))),
        other => call_calendar_and_text(other, args),
    }
}

/// The calendar, text and number functions [`call`] hands on.
fn call_calendar_and_text(f: Func, args: &[Value]) -> Value {
    let arg = |i: usize| {
        args.get(i)
            .map_or(Cow::Owned(Value::Null), Value::scalarize)
    };
    match f {
        Func::DatetimeDiff => calendar::diff(&to_text(&args[0]), &arg(1), &arg(2)),
        Func::DatetimeAdd => calendar::add(&to_text(&args[0]), &arg(1), &arg(2)),
        Func::StartOf(unit) => calendar::start_of(unit, &arg(0)),
        Func::EndOfDay => calendar::end_of_day(&arg(0)),
        Func::DayOfWeek => calendar::day_of_week(&arg(0)),
        Func::HourOfDay => calendar::hour_of_day(&arg(0)),
        Func::ReplaceString => {
            Value::str(&to_text(&args[0]).replace(&*to_text(&args[1]), &to_text(&args[2])))
        }
        Func::ReplaceRegex => replace_regex(&args[0], &args[1], &args[2]),
        Func::Replace => replace_regex(&args[2], &args[0], &args[1]),
        Func::Round => round(&arg(0), args.get(1).map(|a| a.scalarize()).as_deref()),
        Func::Abs => match &*arg(0) {
            Value::Long(n) => n.checked_abs().map_or(Value::Null, Value::Long),
            Value::Real(x) => Value::Real(x.abs()),
            Value::TimeSpan(t) => t.checked_abs().map_or(Value::Null, Value::TimeSpan),
            _ => Value::Null,
        },
        Func::Pack => pack(args),
        Func::IndexOf => index_of(&to_text(&args[0]), &to_text(&args[1])),
        Func::MinOf | Func::MaxOf => extreme_of(f == Func::MaxOf, args),
        _ => Value::Null,
    }
}

/// The name `gettype` gives a value's type as it runs: a dynamic value's own kind.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Long(_) => "long",
        Value::Real(_) => "real",
        Value::DateTime(_) => "datetime",
        Value::TimeSpan(_) => "timespan",
        Value::String(_) => "string",
        Value::Dynamic(json) => match json.as_ref() {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "bool",
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(n) if i32::try_from(n).is_ok() => "int",
                Some(_) => "long",
                None => "real",
            },
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "dictionary",
        },
    }
}
