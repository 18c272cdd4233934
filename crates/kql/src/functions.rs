//! The built-in scalar functions: their names, arities, result types and evaluation.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

use crate::ast::BinOp;
use crate::calendar;
use crate::scalar::to_text;
use crate::series;
use crate::value::{KqlType, Value, datetime_diff_ticks, parse_datetime, ticks_to_duration};

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
        _ => return None,
    })
}

/// The static result type of a function given its argument types.
pub fn return_type(f: Func, args: &[KqlType]) -> KqlType {
    match f {
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
        Func::DayOfWeek => KqlType::TimeSpan,
        Func::ToLower
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
        Func::ToInt | Func::ToLong | Func::ToDouble | Func::ToDateTime | Func::ToBool => {
            convert(f, &arg(0))
        }
        Func::Extract => match regex::Regex::new(&to_text(&args[0])) {
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

/// `replace_regex`: every match of `regex` in `text` replaced by `rewrite`, where `\1` names a
/// capture group; an invalid regex gives null.
fn replace_regex(text: &Value, regex: &Value, rewrite: &Value) -> Value {
    let Ok(re) = regex::Regex::new(&to_text(regex)) else {
        return Value::Null;
    };
    // Kusto writes groups as `\1`; the regex crate as `${1}`.
    let rewrite = to_text(rewrite);
    let mut template = String::with_capacity(rewrite.len());
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                template.push_str("${");
                template.push(*d);
                template.push('}');
                chars.next();
            }
            ('$', _) => template.push_str("$$"),
            (c, _) => template.push(c),
        }
    }
    Value::str(&re.replace_all(&to_text(text), template.as_str()))
}

/// `round(x, digits)`: half away from zero, as Kusto rounds.
fn round(x: &Value, digits: Option<&Value>) -> Value {
    let digits = match digits {
        None => 0,
        Some(Value::Long(d)) => i32::try_from(*d).unwrap_or(0),
        Some(_) => return Value::Null,
    };
    match x {
        Value::Long(n) if digits >= 0 => Value::Long(*n),
        Value::Long(_) | Value::Real(_) => {
            let Some(x) = x.as_f64() else {
                return Value::Null;
            };
            let scale = 10f64.powi(digits);
            Value::Real((x * scale).round() / scale)
        }
        _ => Value::Null,
    }
}

/// `pack(k1, v1, ...)`: a property bag; a key that is not a string leaves the bag null.
fn pack(args: &[Value]) -> Value {
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

/// `indexof(text, lookup)`: the character position of the first match, or -1.
fn index_of(text: &str, lookup: &str) -> Value {
    #[allow(clippy::cast_possible_wrap)] // a string's length in characters fits in i64
    text.find(lookup).map_or(Value::Long(-1), |at| {
        Value::Long(text[..at].chars().count() as i64)
    })
}

/// `min_of`/`max_of`: the least or greatest non-null argument.
fn extreme_of(greatest: bool, args: &[Value]) -> Value {
    let mut best: Option<Cow<'_, Value>> = None;
    for value in args.iter().map(Value::scalarize).filter(|v| !v.is_null()) {
        let better = best.as_ref().is_none_or(|b| {
            crate::value::compare(&value, b)
                .is_some_and(|o| if greatest { o.is_gt() } else { o.is_lt() })
        });
        if better {
            best = Some(value);
        }
    }
    best.map_or(Value::Null, Cow::into_owned)
}

/// The `toint`/`tolong`/`todouble`/`todatetime`/`tobool` conversions of a scalar; what does not
/// convert is null.
fn convert(f: Func, v: &Value) -> Value {
    match f {
        Func::ToInt => match to_long(v) {
            Value::Long(n) => i32::try_from(n).map_or(Value::Null, |n| Value::Long(i64::from(n))),
            other => other,
        },
        Func::ToLong => to_long(v),
        Func::ToDouble => match v {
            Value::Long(_) | Value::Real(_) => v.as_f64().map_or(Value::Null, Value::Real),
            Value::String(s) => s.trim().parse().map_or(Value::Null, Value::Real),
            Value::Bool(b) => Value::Real(if *b { 1.0 } else { 0.0 }),
            #[allow(clippy::cast_precision_loss)]
            Value::TimeSpan(t) => Value::Real(*t as f64),
            _ => Value::Null,
        },
        Func::ToDateTime => match v {
            Value::DateTime(t) => Value::DateTime(*t),
            Value::String(s) => parse_datetime(s).map_or(Value::Null, Value::DateTime),
            _ => Value::Null,
        },
        Func::ToBool => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::Long(n) => Value::Bool(*n != 0),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// `extractjson`: a `$.a.b[0]` path into JSON text (or a dynamic value), optionally typed.
/// The node a JSON path (`$.a.b[0]`, `$['a']`) leads to in `doc`; `None` when there is none.
pub(crate) fn json_path<'j>(
    doc: &'j serde_json::Value,
    path: &str,
) -> Option<&'j serde_json::Value> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut node = doc;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            node = node.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let key = r[..end].trim_matches(|c| c == '\'' || c == '"');
            node = match key.parse::<usize>() {
                Ok(i) => node.get(i),
                Err(_) => node.get(key),
            }?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(node)
}

fn extract_json(path: &str, json: &Value, ty: Option<&Value>) -> Value {
    let doc = match json {
        Value::Dynamic(d) => match d.as_str() {
            Some(s) => serde_json::from_str(s).ok(),
            None => Some(d.as_ref().clone()),
        },
        Value::String(s) => serde_json::from_str(s).ok(),
        _ => None,
    };
    let Some(doc) = doc else { return Value::Null };
    let Some(node) = json_path(&doc, path) else {
        return Value::Null;
    };
    let text = match node {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match ty
        .map(|t| to_text(t).into_owned())
        .as_deref()
        .and_then(KqlType::from_kql_name)
    {
        None | Some(KqlType::String | KqlType::Guid) => Value::str(&text),
        Some(KqlType::Long | KqlType::Int) => to_long(&Value::str(&text)),
        Some(KqlType::Real) => text.trim().parse().map_or(Value::Null, Value::Real),
        Some(KqlType::Bool) => call(Func::ToBool, &[Value::str(&text)]),
        Some(KqlType::DateTime) => parse_datetime(&text).map_or(Value::Null, Value::DateTime),
        Some(KqlType::TimeSpan) => {
            crate::value::parse_timespan(&text).map_or(Value::Null, Value::TimeSpan)
        }
        Some(KqlType::Dynamic) => Value::dynamic(node.clone()),
    }
}

/// `parse_url`: the parts of a URL in the property bag KQL returns.
fn parse_url(url: &str) -> Value {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Value::dynamic(serde_json::json!({}));
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest
        .find('/')
        .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (hostport, ""),
    };
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    Value::dynamic(serde_json::json!({
        "Scheme": scheme,
        "Host": host,
        "Port": port,
        "Path": path,
        "Username": user,
        "Password": password,
        "Query Parameters": params,
        "Fragment": fragment,
    }))
}

/// `url_decode`: percent-decoding; `None` when the result is not UTF-8.
fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `extract(regex, group, text)` with a compiled regex.
pub fn extract(re: &regex::Regex, group: &Value, text: &Value) -> Value {
    let Value::Long(group) = *group.scalarize() else {
        return Value::Null;
    };
    let Ok(group) = usize::try_from(group) else {
        return Value::Null;
    };
    let text = to_text(text);
    re.captures(&text)
        .and_then(|c| c.get(group))
        .map_or(Value::str(""), |m| Value::str(m.as_str()))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Dynamic(json) => json.is_null() || json.as_str().is_some_and(str::is_empty),
        other => other.is_null(),
    }
}

fn to_long(v: &Value) -> Value {
    match v {
        Value::Long(n) => Value::Long(*n),
        #[allow(clippy::cast_possible_truncation)]
        Value::Real(r) if r.is_finite() => Value::Long(r.trunc() as i64),
        Value::Bool(b) => Value::Long(i64::from(*b)),
        Value::String(s) => s.trim().parse::<i64>().map_or_else(
            |_| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite())
                    .map_or(Value::Null, |r| {
                        #[allow(clippy::cast_possible_truncation)]
                        Value::Long(r.trunc() as i64)
                    })
            },
            Value::Long,
        ),
        Value::TimeSpan(t) => Value::Long(*t),
        _ => Value::Null,
    }
}

fn parse_json(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).map_or_else(
            |_| Value::dynamic(serde_json::Value::String(s.to_string())),
            Value::dynamic,
        ),
        Value::Dynamic(json) => match json.as_str() {
            Some(s) => serde_json::from_str(s).map_or_else(|_| v.clone(), Value::dynamic),
            None => v.clone(),
        },
        Value::Null => Value::Null,
        other => Value::dynamic(other.to_json()),
    }
}

fn split(args: &[Value]) -> Value {
    let text = to_text(&args[0]);
    let delim = to_text(&args[1]);
    let parts: Vec<serde_json::Value> = if delim.is_empty() {
        vec![serde_json::Value::String(text.to_string())]
    } else {
        text.split(&*delim)
            .map(|p| serde_json::Value::String(p.to_string()))
            .collect()
    };
    match args.get(2).map(Value::scalarize).as_deref() {
        None => Value::dynamic(serde_json::Value::Array(parts)),
        Some(Value::Long(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| parts.get(i).cloned())
            .map_or(Value::dynamic(serde_json::Value::Array(Vec::new())), |p| {
                Value::dynamic(serde_json::Value::Array(vec![p]))
            }),
        Some(_) => Value::Null,
    }
}

fn substring(args: &[Value]) -> Value {
    let text = to_text(&args[0]);
    let Value::Long(start) = *args[1].scalarize() else {
        return Value::Null;
    };
    let chars: Vec<char> = text.chars().collect();
    let start = usize::try_from(start.max(0))
        .unwrap_or(usize::MAX)
        .min(chars.len());
    let end = match args.get(2).map(Value::scalarize).as_deref() {
        Some(Value::Long(len)) => start
            .saturating_add(usize::try_from((*len).max(0)).unwrap_or(usize::MAX))
            .min(chars.len()),
        Some(_) => return Value::Null,
        None => chars.len(),
    };
    Value::str(&chars[start..end].iter().collect::<String>())
}

fn kql_epoch() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("0001-01-01 is a valid date")
        .and_utc()
}

/// `bin()`: rounds down to a multiple of `size`; datetimes count from 0001-01-01 as KQL does.
pub fn bin(x: &Value, size: &Value) -> Value {
    match (x, size) {
        (Value::DateTime(t), Value::TimeSpan(s)) if *s > 0 => {
            let epoch = kql_epoch();
            let ticks = datetime_diff_ticks(t, &epoch);
            let floored = ticks.div_euclid(*s) * s;
            Value::DateTime(epoch + ticks_to_duration(floored))
        }
        (Value::TimeSpan(t), Value::TimeSpan(s)) if *s > 0 => Value::TimeSpan(t.div_euclid(*s) * s),
        (Value::Long(n), Value::Long(s)) if *s > 0 => Value::Long(n.div_euclid(*s) * s),
        (Value::Long(_) | Value::Real(_), Value::Long(_) | Value::Real(_)) => {
            match (x.as_f64(), size.as_f64()) {
                (Some(n), Some(s)) if s > 0.0 => {
                    let r = (n / s).floor() * s;
                    if matches!(x, Value::Long(_)) {
                        #[allow(clippy::cast_possible_truncation)]
                        Value::Long(r as i64)
                    } else {
                        Value::Real(r)
                    }
                }
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// `format_datetime` with KQL's .NET-style specifiers (`yyyy MM dd HH hh mm ss f… tt`).
pub fn format_datetime(t: &DateTime<Utc>, format: &str) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let pad = |n: u32, width: usize| format!("{n:0width$}");
        match c {
            'y' => {
                let y = u32::try_from(t.year()).unwrap_or(0);
                out.push_str(&if run <= 2 {
                    pad(y % 100, run)
                } else {
                    pad(y, run)
                });
            }
            'M' => out.push_str(&pad(t.month(), run.min(2))),
            'd' => out.push_str(&pad(t.day(), run.min(2))),
            'H' => out.push_str(&pad(t.hour(), run.min(2))),
            'h' => out.push_str(&pad((t.hour() + 11) % 12 + 1, run.min(2))),
            'm' => out.push_str(&pad(t.minute(), run.min(2))),
            's' => out.push_str(&pad(t.second(), run.min(2))),
            'f' | 'F' => {
                let digits = run.min(7);
                let frac = format!("{:07}", t.nanosecond().min(999_999_999) / 100);
                out.push_str(&frac[..digits]);
            }
            't' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            other => {
                for _ in 0..run {
                    out.push(other);
                }
            }
        }
        i += run;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::utc;

    #[test]
    fn bin_floors_datetimes_numbers_and_timespans() {
        let t = utc("2024-02-01T08:47:13Z");
        let hour = Value::TimeSpan(36_000_000_000);
        assert!(
            matches!(bin(&Value::DateTime(t), &hour), Value::DateTime(d) if d == utc("2024-02-01T08:00:00Z"))
        );
        // 7-day bins start on Mondays, counted from 0001-01-01.
        let week = Value::TimeSpan(7 * 864_000_000_000);
        assert!(
            matches!(bin(&Value::DateTime(t), &week), Value::DateTime(d) if d == utc("2024-01-29T00:00:00Z"))
        );
        assert_eq!(bin(&Value::Long(17), &Value::Long(5)), Value::Long(15));
        assert_eq!(bin(&Value::Long(-1), &Value::Long(5)), Value::Long(-5));
        assert_eq!(bin(&Value::Real(2.7), &Value::Real(0.5)), Value::Real(2.5));
        assert_eq!(bin(&Value::Null, &hour), Value::Null);
    }

    #[test]
    fn format_datetime_uses_dotnet_specifiers() {
        let t = utc("2024-02-01T15:04:05Z") + chrono::TimeDelta::milliseconds(120);
        assert_eq!(
            format_datetime(&t, "yyyy-MM-dd HH:mm:ss.fff"),
            "2024-02-01 15:04:05.120"
        );
        assert_eq!(format_datetime(&t, "yy/M/d h tt"), "24/2/1 3 PM");
    }
}
