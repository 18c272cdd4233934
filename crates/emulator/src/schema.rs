//! The columns of each sample table, by Defender's names and types: every table of
//! `defender_schema`, with each column its reference documents.

use kql::KqlType;

/// The columns of `table` in the schema's order, with their KQL types; `None` for a table the
/// schema does not have.
pub fn sample_schema(table: &str) -> Option<Vec<(String, KqlType)>> {
    let table = defender_schema::table(table)?;
    Some(
        table
            .columns
            .iter()
            .map(|(name, ty)| {
                // The schema crate's test proves every type is one of KQL's.
                let ty = KqlType::from_kql_name(ty).unwrap_or(KqlType::String);
                ((*name).to_string(), ty)
            })
            .collect(),
    )
}

/// Every table the sample holds: the schema's, in name order.
pub fn sample_table_names() -> impl Iterator<Item = &'static str> {
    defender_schema::table_names()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_table_has_its_documented_columns_and_types() {
        for name in sample_table_names() {
            let documented = &defender_schema::table(name).expect(name).columns;
            let columns = sample_schema(name).expect(name);
            assert_eq!(columns.len(), documented.len(), "{name}");
            for ((column, ty), (doc_column, doc_ty)) in columns.iter().zip(documented) {
                assert_eq!(column, doc_column, "{name}");
                assert_eq!(KqlType::from_kql_name(doc_ty), Some(*ty), "{name}.{column}");
            }
        }
        assert!(sample_schema("DeviceProcessEvents").is_some_and(|c| c.len() > 50));
        assert!(sample_schema("NoSuchTable").is_none());
    }
}
