//! The datetime, timespan and number functions, and `gettype` and `column_ifexists`, held to
//! Kusto's documented examples.

use serde_json::json;

use super::support::{eval, fails, rows, value};
use crate::KqlType;

#[test]
fn make_datetime_builds_real_dates_and_refuses_the_rest() {
    let (v, ty) = eval("make_datetime(2017, 10, 1, 12, 10)");
    assert_eq!(v, json!("2017-10-01T12:10:00.0000000Z"));
    assert_eq!(ty, KqlType::DateTime);
    assert_eq!(
        value("make_datetime(2017, 10, 1)"),
        json!("2017-10-01T00:00:00.0000000Z")
    );
    assert_eq!(
        value("make_datetime(2017, 10, 1, 12, 11, 0.1234567)"),
        json!("2017-10-01T12:11:00.1234567Z")
    );
    assert_eq!(value("make_datetime(2017, 2, 30)"), json!(null));
    assert_eq!(value("make_datetime(2017, 13, 1)"), json!(null));
    assert_eq!(value("make_datetime(2017, 1, 1, 0, 0, 60)"), json!(null));
}

#[test]
fn make_timespan_reads_hours_minutes_seconds_or_days_first() {
    let (v, ty) = eval("make_timespan(1, 12)");
    assert_eq!(v, json!("01:12:00"));
    assert_eq!(ty, KqlType::TimeSpan);
    assert_eq!(
        value("make_timespan(1, 12, 30.55)"),
        json!("01:12:30.5500000")
    );
    assert_eq!(
        value("make_timespan(12, 1, 12, 30.55)"),
        json!("12.01:12:30.5500000")
    );
    assert_eq!(value("make_timespan('a', 1)"), json!(null));
}

#[test]
fn parts_of_a_datetime_are_ints_and_weeks_follow_iso_8601() {
    let t = "datetime(2015-12-31 23:59:58.1234567)";
    assert_eq!(eval(&format!("dayofmonth({t})")), (json!(31), KqlType::Int));
    assert_eq!(value(&format!("dayofyear({t})")), json!(365));
    assert_eq!(value(&format!("getmonth({t})")), json!(12));
    assert_eq!(value(&format!("monthofyear({t})")), json!(12));
    assert_eq!(value(&format!("getyear({t})")), json!(2015));
    assert_eq!(value(&format!("weekofyear({t})")), json!(53));
    assert_eq!(value("week_of_year(datetime(2020-12-31))"), json!(53));
    assert_eq!(value("weekofyear(datetime(2021-01-04))"), json!(1));
    assert_eq!(value("dayofmonth('x')"), json!(null));
}

#[test]
fn datetime_part_names_every_part_kusto_documents() {
    let t = "datetime(2017-10-30 01:02:03.7654321)";
    for (part, expected) in [
        ("Year", 2017),
        ("Quarter", 4),
        ("Month", 10),
        ("week_of_year", 44),
        ("Day", 30),
        ("DayOfYear", 303),
        ("Hour", 1),
        ("Minute", 2),
        ("Second", 3),
        ("Millisecond", 765),
        ("Microsecond", 765_432),
        ("Nanosecond", 765_432_100),
    ] {
        assert_eq!(
            value(&format!("datetime_part('{part}', {t})")),
            json!(expected),
            "{part}"
        );
    }
    assert_eq!(
        value(&format!("datetime_part('fortnight', {t})")),
        json!(null)
    );
}

#[test]
fn unix_times_become_datetimes_and_out_of_range_is_null() {
    assert_eq!(
        value("unixtime_seconds_todatetime(1546300800)"),
        json!("2019-01-01T00:00:00.0000000Z")
    );
    assert_eq!(
        value("unixtime_seconds_todatetime(1.5)"),
        json!("1970-01-01T00:00:01.5000000Z")
    );
    assert_eq!(
        value("unixtime_milliseconds_todatetime(1546300800123)"),
        json!("2019-01-01T00:00:00.1230000Z")
    );
    assert_eq!(
        value("unixtime_microseconds_todatetime(1546300800123456)"),
        json!("2019-01-01T00:00:00.1234560Z")
    );
    assert_eq!(
        value("unixtime_nanoseconds_todatetime(1546300800123456700)"),
        json!("2019-01-01T00:00:00.1234567Z")
    );
    assert_eq!(value("unixtime_seconds_todatetime(1e300)"), json!(null));
    assert_eq!(value("unixtime_seconds_todatetime('x')"), json!(null));
}

#[test]
fn format_timespan_uses_dotnet_specifiers() {
    let t = "time(29.09:00:05.12345)";
    assert_eq!(
        value(&format!("format_timespan({t}, 'dd.hh:mm:ss:FF')")),
        json!("29.09:00:05:12")
    );
    assert_eq!(
        value(&format!("format_timespan({t}, 'ddd.h:mm:ss [fffffff]')")),
        json!("029.9:00:05 [1234500]")
    );
    assert_eq!(
        value("format_timespan(time(1.00:00:00), 'hh:mm:ss.FFF')"),
        json!("00:00:00.")
    );
    assert_eq!(value("format_timespan(1, 'hh')"), json!(null));
}

#[test]
fn bin_at_aligns_bins_to_the_fixed_point() {
    assert_eq!(value("bin_at(6.5, 2.5, 7)"), json!(4.5));
    assert_eq!(value("bin_at(time(1h), 1d, 12h)"), json!("-12:00:00"));
    assert_eq!(
        value("bin_at(datetime(2017-05-15 10:20:00.0), 1d, datetime(1970-01-01 12:00:00.0))"),
        json!("2017-05-14T12:00:00.0000000Z")
    );
    assert_eq!(value("bin_at(7, 5, 3)"), json!(3));
    assert_eq!(value("bin_at(datetime(2017-05-15), 1d, 3)"), json!(null));
}

#[test]
fn end_of_week_month_and_year_is_the_periods_last_tick() {
    assert_eq!(
        value("endofweek(datetime(2017-01-01 10:10:17))"),
        json!("2017-01-07T23:59:59.9999999Z")
    );
    assert_eq!(
        value("endofmonth(datetime(2016-02-10))"),
        json!("2016-02-29T23:59:59.9999999Z")
    );
    assert_eq!(
        value("endofyear(datetime(2017-06-01))"),
        json!("2017-12-31T23:59:59.9999999Z")
    );
    assert_eq!(value("endofyear('x')"), json!(null));
}

#[test]
fn math_functions_give_reals_and_null_outside_their_domain() {
    assert_eq!(eval("ceiling(1.1)"), (json!(2.0), KqlType::Real));
    assert_eq!(eval("ceiling(-3)"), (json!(-3), KqlType::Long));
    assert_eq!(value("log(1)"), json!(0.0));
    assert_eq!(value("log(-1)"), json!(null));
    assert_eq!(value("log10(1000)"), json!(3.0));
    assert_eq!(value("log2(8)"), json!(3.0));
    assert_eq!(value("exp(0)"), json!(1.0));
    assert_eq!(value("exp2(3)"), json!(8.0));
    assert_eq!(value("exp10(2)"), json!(100.0));
    assert_eq!(value("pow(2, 10)"), json!(1024.0));
    assert_eq!(value("pow(2, 'x')"), json!(null));
    assert_eq!(value("sqrt(16)"), json!(4.0));
    assert_eq!(value("sqrt(-1)"), json!(null));
    assert_eq!(value("sign(-42)"), json!(-1));
    assert_eq!(value("sign(0.5)"), json!(1.0));
    assert_eq!(value("sign('a')"), json!(null));
}

#[test]
fn isnan_isinf_and_isfinite_classify_reals() {
    assert_eq!(value("isnan(sqrt(4))"), json!(false));
    assert_eq!(value("isnan(pow(-8, 0.5))"), json!(true));
    assert_eq!(value("isinf(exp(1000))"), json!(true));
    assert_eq!(value("isinf(log(0))"), json!(true));
    assert_eq!(value("isfinite(1)"), json!(true));
    assert_eq!(value("isfinite(exp(1000))"), json!(false));
    assert_eq!(value("isnan('a')"), json!(null));
}

#[test]
fn gettype_names_typed_values_and_the_kind_of_dynamic_ones() {
    assert_eq!(value("gettype('a')"), json!("string"));
    assert_eq!(value("gettype(111)"), json!("long"));
    assert_eq!(value("gettype(toint(1))"), json!("int"));
    assert_eq!(value("gettype(1 == 1)"), json!("bool"));
    assert_eq!(value("gettype(now())"), json!("datetime"));
    assert_eq!(value("gettype(1s)"), json!("timespan"));
    assert_eq!(value("gettype(123.45)"), json!("real"));
    assert_eq!(value("gettype(parse_json('1'))"), json!("int"));
    assert_eq!(value("gettype(parse_json('[1, 2]'))"), json!("array"));
    assert_eq!(
        value("gettype(parse_json('{\"a\": 1}'))"),
        json!("dictionary")
    );
    assert_eq!(value("gettype(dynamic(null))"), json!("null"));
    assert_eq!(
        rows("Proc | take 1 | project t = gettype(Extra.Tags)"),
        vec![json!({"t": "array"})]
    );
}

#[test]
fn column_ifexists_reads_the_column_when_the_rows_have_it_or_the_default() {
    assert_eq!(
        rows(
            "Proc | take 1 | project a = column_ifexists('FileName', 'none'), b = column_ifexists('Nope', 'none')"
        ),
        vec![json!({"a": "powershell.exe", "b": "none"})]
    );
    assert!(
        fails("Proc | project column_ifexists(FileName, 1)")
            .message
            .contains("string literal")
    );
}

#[test]
fn trigonometric_functions_give_reals_in_radians_and_null_outside_their_domain() {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    assert_eq!(eval("pi()"), (json!(PI), KqlType::Real));
    assert_eq!(value("sin(0)"), json!(0.0));
    assert_eq!(value("sin(pi() / 2)"), json!(1.0));
    assert_eq!(value("cos(0.0)"), json!(1.0));
    assert_eq!(value("cos(pi())"), json!(-1.0));
    assert_eq!(value("tan(0)"), json!(0.0));
    assert_eq!(value("cot(pi() / 4)"), json!(1.0 / FRAC_PI_4.tan()));
    assert_eq!(value("isinf(cot(0))"), json!(true));
    assert_eq!(value("asin(1)"), json!(FRAC_PI_2));
    assert_eq!(value("acos(-1)"), json!(PI));
    assert_eq!(value("acos(1)"), json!(0.0));
    assert_eq!(value("asin(1.5)"), json!(null));
    assert_eq!(value("acos(-1.01)"), json!(null));
    assert_eq!(value("atan(1)"), json!(FRAC_PI_4));
    assert_eq!(value("atan2(1, 1)"), json!(FRAC_PI_4));
    assert_eq!(value("atan2(0, -1)"), json!(PI));
    assert_eq!(value("atan2(1, 'x')"), json!(null));
    assert_eq!(value("degrees(pi())"), json!(180.0));
    assert_eq!(value("radians(180)"), json!(PI));
    assert_eq!(value("radians(90.0)"), json!(FRAC_PI_2));
    assert_eq!(value("sin('x')"), json!(null));
    assert_eq!(value("cos(tolong('x'))"), json!(null));
    assert_eq!(value("degrees(dynamic(90))"), json!(90f64.to_degrees()));
    assert_eq!(eval("sin(1)").1, KqlType::Real);
}
