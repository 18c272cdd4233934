//! KQL query templates: `{start}`, `{end}` and job parameters, rendered like msticpy.

use std::collections::BTreeMap;

/// A job's query before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTemplate {
    /// KQL text with `{name}` placeholders.
    pub text: String,
    /// Parameter values (job `params` merged over library defaults), by name.
    pub params: BTreeMap<String, ParamValue>,
}

/// A parameter value with its msticpy type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `str`: escaped when it lands inside a KQL string.
    Str(String),
    /// `int`.
    Int(i64),
    /// `datetime`.
    DateTime(chrono::DateTime<chrono::Utc>),
    /// `list`: renders as `'a', 'b'`.
    List(Vec<String>),
}
