//! Which words Kusto takes as names where, as its parser sorts its keywords: most words are
//! names anywhere; some keywords only where a name is declared or assigned; `kind` and its kin
//! only where a name is read; the rest never without brackets (`['where']`). The lists are
//! Kusto.Language's, asked of the oracle word by word in each place (`tests/kql_oracle.rs`).

/// Keywords that are never a name without brackets, in byte order (for a binary search): the
/// operators, types, chart kinds and option names Kusto's lexer makes keywords of.
const RESERVED: [&str; 157] = [
    "__contextual_datatable",
    "__crossCluster",
    "__crossDB",
    "__executeAndCache",
    "__id",
    "__isFuzzy",
    "__noWithSource",
    "__packedColumn",
    "__projectAway",
    "__sourceColumnIndex",
    "and",
    "anomalychart",
    "areachart",
    "asc",
    "assert-schema",
    "bagexpansion",
    "barchart",
    "between",
    "bin_legacy",
    "boolean",
    "byte",
    "cachingpolicy",
    "callout",
    "cancel",
    "card",
    "char",
    "columnchart",
    "commands-and-queries",
    "contains_cs",
    "containscs",
    "cycles",
    "dataexport",
    "datascope",
    "date",
    "datetime",
    "decimal",
    "decodeblocks",
    "desc",
    "double",
    "dynamic",
    "encodingpolicy",
    "endswith",
    "endswith_cs",
    "expandoutput",
    "extent_tags_retention",
    "external_data",
    "first",
    "flags",
    "float",
    "force_remote",
    "granny-asc",
    "granny-desc",
    "graph-mark-components",
    "graph-match",
    "graph-shortest-paths",
    "graph-to-table",
    "graph-where-edges",
    "graph-where-nodes",
    "harddelete",
    "hardretention",
    "has_all",
    "has_any",
    "has_cs",
    "hasprefix",
    "hasprefix_cs",
    "hassuffix",
    "hassuffix_cs",
    "hotcache",
    "int",
    "int16",
    "int32",
    "int64",
    "int8",
    "in~",
    "isfuzzy",
    "journal",
    "ladderchart",
    "last",
    "like",
    "likecs",
    "linechart",
    "long",
    "macro-expand",
    "make-graph",
    "make-series",
    "materialized-view-combine",
    "materialized-views",
    "missing",
    "mv-apply",
    "mv-expand",
    "nooptimization",
    "notcontains",
    "notcontainscs",
    "notlike",
    "notlikecs",
    "or",
    "others",
    "parse-kv",
    "parse-where",
    "partitioned-by",
    "pathformat",
    "piechart",
    "pivotchart",
    "project",
    "project-away",
    "project-by-names",
    "project-keep",
    "project-rename",
    "project-reorder",
    "project-smart",
    "queries",
    "query_results",
    "real",
    "relaxed",
    "restricted_view_access",
    "row_level_security",
    "rowstore",
    "rowstore_references",
    "rowstore_sealinfo",
    "rowstorepolicy",
    "rowstores",
    "scatterchart",
    "seal",
    "seals",
    "set-or-append",
    "set-or-replace",
    "shards",
    "simple",
    "softdelete",
    "softretention",
    "stackedareachart",
    "startswith",
    "startswith_cs",
    "statistics",
    "storedqueryresultcontainers",
    "string",
    "tablepurge",
    "time",
    "timechart",
    "timeline",
    "timepivot",
    "timespan",
    "treemap",
    "uint",
    "uint16",
    "uint32",
    "uint64",
    "uint8",
    "ulong",
    "union",
    "uniqueid",
    "unrestrictedviewers",
    "views",
    "with_itemindex",
    "with_match_id",
    "with_step_name",
    "writeaheadlog",
];

/// Keywords that are names only where a name is declared or assigned (`extend where = 1`,
/// `datatable(by: long)`, a parameter, a `with (...)` property), never where one is read
/// (`where by == 1`), in byte order.
const DECLARABLE: [&str; 30] = [
    "accumulate",
    "as",
    "by",
    "contains",
    "datatable",
    "earliest",
    "externaldata",
    "find",
    "has",
    "in",
    "invoke",
    "latest",
    "materialize",
    "mdm",
    "of",
    "print",
    "sample",
    "sample-distinct",
    "search",
    "set",
    "sql",
    "title",
    "to",
    "top-hitters",
    "top-nested",
    "toscalar",
    "totable",
    "verbose",
    "viewers",
    "where",
];

/// Keywords that are names only where a name is read (`where kind == 1`, `x.kind`), as the
/// option names they also are, never where one is declared (`let kind = 1`).
const READABLE: [&str; 3] = ["kind", "with_source", "withsource"];

/// Whether `w` needs brackets to be a name wherever it stands.
pub(super) fn is_reserved(w: &str) -> bool {
    RESERVED.binary_search(&w).is_ok() || is_declarable(w) || is_readable(w)
}

/// Whether the keyword `w` is a name where a name is declared or assigned.
pub(super) fn is_declarable(w: &str) -> bool {
    DECLARABLE.binary_search(&w).is_ok()
}

/// Whether the keyword `w` is a name where a name is read.
pub(super) fn is_readable(w: &str) -> bool {
    READABLE.binary_search(&w).is_ok()
}

/// Whether `w`, hyphens and all, is one keyword (`mv-expand`, `graph-match`), which Kusto lexes
/// as one token where other words around a `-` are a subtraction.
pub(super) fn is_hyphenated(w: &str) -> bool {
    w.contains('-') && (RESERVED.binary_search(&w).is_ok() || is_declarable(w))
}

#[cfg(test)]
mod tests {
    use super::{DECLARABLE, READABLE, RESERVED};

    #[test]
    fn keyword_lists_are_in_byte_order_for_the_binary_search() {
        for list in [&RESERVED[..], &DECLARABLE, &READABLE] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }
}
