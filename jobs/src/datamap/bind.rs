//! A data map bound to the live schema: every table and column checked to exist, and the
//! SQL that selects a subject's rows for each entry.

use super::catalog::{Catalog, ColumnInfo, ident, literal};
use super::spec::{
    Category, ColumnRule, DataMap, KeyFormat, ObjectSpec, SUBJECT_PLACEHOLDER, TableSpec,
};

/// A subject's key in the platform database, as text (`42`, a UUID, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey(String);

impl SubjectKey {
    /// Wraps a key read from the platform database.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A problem found when binding the map to the live schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindProblem {
    /// The map entry (or `subject`).
    pub entry: String,
    /// What is wrong, naming the table or column.
    pub problem: String,
}

impl std::fmt::Display for BindProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "data map entry `{}`: {}", self.entry, self.problem)
    }
}

/// A table entry with its columns resolved.
#[derive(Debug, Clone)]
pub struct BoundTable {
    /// The entry as written.
    pub spec: TableSpec,
    /// The table's columns, in order.
    pub columns: Vec<ColumnInfo>,
    /// The link column's type, for casting the subject key.
    link_type: String,
}

/// A data map whose every name exists in the live schema.
#[derive(Debug, Clone)]
pub struct BoundMap {
    /// The map as written.
    pub map: DataMap,
    /// The subject table's columns.
    pub subject_columns: Vec<ColumnInfo>,
    key_type: String,
    /// The table entries, in map order.
    pub tables: Vec<BoundTable>,
    /// The platform's foreign keys, for deriving the deletion order.
    pub foreign_keys: Vec<super::catalog::ForeignKey>,
}

impl BoundMap {
    /// Checks every table and column the map names against `catalog`; lists every problem.
    pub fn bind(map: DataMap, catalog: &Catalog) -> Result<Self, Vec<BindProblem>> {
        let mut problems = Vec::new();
        let mut problem = |entry: &str, text: String| {
            problems.push(BindProblem {
                entry: entry.to_owned(),
                problem: text,
            })
        };
        let subject = &map.subject;
        let subject_columns = catalog
            .columns(&subject.table)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        if subject_columns.is_empty() {
            problem(
                "subject",
                format!("table `{}` does not exist", subject.table),
            );
        }
        let has = |table: &str, column: &str| catalog.column(table, column).is_some();
        for column in [
            Some(&subject.key),
            Some(&subject.email),
            subject.username.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !subject_columns.is_empty() && !has(&subject.table, column) {
                problem(
                    "subject",
                    format!("column `{}.{column}` does not exist", subject.table),
                );
            }
        }
        let key_type = catalog
            .column(&subject.table, &subject.key)
            .map(|c| c.sql_type.clone())
            .unwrap_or_default();

        let mut tables = Vec::new();
        for spec in &map.tables {
            let table = spec.table_name();
            let Some(columns) = catalog.columns(table) else {
                problem(&spec.name, format!("table `{table}` does not exist"));
                continue;
            };
            let link_type = match catalog.column(table, &spec.link.column) {
                Some(c) => c.sql_type.clone(),
                None => {
                    problem(
                        &spec.name,
                        format!("column `{table}.{}` does not exist", spec.link.column),
                    );
                    continue;
                }
            };
            let (target_table, target_column) = match &spec.link.parent {
                None => (
                    subject.table.clone(),
                    spec.link
                        .parent_column
                        .clone()
                        .unwrap_or(subject.key.clone()),
                ),
                Some(parent) => {
                    let parent_spec = map
                        .tables
                        .iter()
                        .find(|t| &t.name == parent)
                        .expect("checked by parse");
                    (
                        parent_spec.table_name().to_owned(),
                        spec.link.parent_column.clone().unwrap_or("id".into()),
                    )
                }
            };
            if !has(&target_table, &target_column) {
                problem(
                    &spec.name,
                    format!("linked column `{target_table}.{target_column}` does not exist"),
                );
            }
            for column in erase_columns(&spec.erase) {
                if !has(table, column) {
                    problem(
                        &spec.name,
                        format!("erase names column `{table}.{column}`, which does not exist"),
                    );
                }
            }
            tables.push(BoundTable {
                spec: spec.clone(),
                columns: columns.to_vec(),
                link_type,
            });
        }
        // Foreign keys to the subject that would block deleting it, or that reach a
        // table the map does not treat at all.
        if matches!(subject.erase, super::spec::Erase::Delete) {
            for fk in catalog
                .foreign_keys
                .iter()
                .filter(|fk| fk.references == subject.table && fk.table != subject.table)
            {
                let column = fk.columns.join(",");
                let treated = map.tables.iter().filter(|t| {
                    t.table_name() == fk.table && t.link.parent.is_none() && t.link.column == column
                });
                let mut any = false;
                for entry in treated {
                    any = true;
                    let keeps_link = match &entry.erase {
                        super::spec::Erase::Delete => false,
                        super::spec::Erase::Detach { columns } => !columns.contains(&column),
                        super::spec::Erase::Retain { reassign, .. } => !reassign,
                        super::spec::Erase::Anonymize { columns } => !columns.contains_key(&column),
                    };
                    if keeps_link && fk.on_delete == super::catalog::OnDelete::Restrict {
                        problem(
                            &entry.name,
                            format!(
                                "foreign key {} ({}.{column}) restricts deleting the subject but the rows keep their link: \
                             delete them, detach the column, or retain with reassign = true",
                                fk.name, fk.table
                            ),
                        );
                    }
                    if let super::spec::Erase::Retain { reassign: true, .. } = &entry.erase
                        && subject.placeholder.is_none()
                    {
                        problem(
                            &entry.name,
                            "reassign = true needs subject.placeholder".to_owned(),
                        );
                    }
                }
                if !any && fk.on_delete == super::catalog::OnDelete::Restrict {
                    problem(
                        "subject",
                        format!(
                            "foreign key {} ({}.{column}) restricts deleting the subject and no entry treats it",
                            fk.name, fk.table
                        ),
                    );
                }
            }
        }
        for spec in &map.tables {
            let table = spec.table_name();
            for (column, rule) in rewrite_rules(&spec.erase) {
                let Some(info) = catalog.column(table, column) else {
                    continue;
                };
                let text_like = info.sql_type == "text" || info.sql_type.starts_with("character");
                let json_like = info.sql_type == "jsonb" || info.sql_type == "json";
                match rule {
                    ColumnRule::Hash | ColumnRule::Redact if !text_like => problem(
                        &spec.name,
                        format!(
                            "`{table}.{column}` is {}, but hash and redact need a text column",
                            info.sql_type
                        ),
                    ),
                    ColumnRule::JsonPaths(paths) => {
                        if info.sql_type != "jsonb" {
                            problem(
                                &spec.name,
                                format!(
                                    "`{table}.{column}` is {}, but json_paths needs jsonb",
                                    info.sql_type
                                ),
                            );
                        }
                        for path in paths {
                            if path.is_empty()
                                || !path.split('.').all(|seg| {
                                    !seg.is_empty()
                                        && seg
                                            .chars()
                                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                                })
                            {
                                problem(
                                    &spec.name,
                                    format!("json path `{path}` must be dot-separated names"),
                                );
                            }
                        }
                    }
                    _ => {}
                }
                let _ = json_like;
            }
        }
        for object in &map.objects {
            if let (Some(from), Some(column)) = (&object.from, &object.column) {
                let table = map
                    .tables
                    .iter()
                    .find(|t| &t.name == from)
                    .map(|t| t.table_name())
                    .unwrap_or("");
                if !has(table, column) {
                    problem(
                        &object.name,
                        format!("column `{table}.{column}` does not exist"),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(Self {
                map,
                subject_columns,
                key_type,
                tables,
                foreign_keys: catalog.foreign_keys.clone(),
            })
        } else {
            Err(problems)
        }
    }

    fn table(&self, name: &str) -> &BoundTable {
        self.tables
            .iter()
            .find(|t| t.spec.name == name)
            .expect("entry names are checked by bind")
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", ident(&self.map.schema), ident(table))
    }

    /// SQL finding the subject's key by email: exact match first, then case-insensitive.
    /// Takes the email as `$1`; yields one text column `key`.
    pub fn locate_by_email_sql(&self) -> String {
        let s = &self.map.subject;
        let (t, k, e) = (self.qualified(&s.table), ident(&s.key), ident(&s.email));
        format!(
            "(SELECT s.{k}::text AS key, 0 AS rank FROM {t} s WHERE s.{e} = $1 \
              UNION ALL SELECT s.{k}::text, 1 FROM {t} s WHERE lower(s.{e}) = lower($1)) \
             ORDER BY rank LIMIT 1"
        )
    }

    /// SQL finding the subject by its key (as named in a platform assertion). Takes `$1`.
    pub fn locate_by_key_sql(&self) -> String {
        let s = &self.map.subject;
        format!(
            "SELECT s.{k}::text AS key FROM {t} s WHERE s.{k} = CAST($1 AS {ty})",
            k = ident(&s.key),
            t = self.qualified(&s.table),
            ty = self.key_type
        )
    }

    /// SQL selecting the subject's own row.
    pub fn subject_rows_sql(&self, subject: &SubjectKey) -> String {
        let s = &self.map.subject;
        format!(
            "SELECT s.* FROM {} s WHERE s.{} = CAST({} AS {})",
            self.qualified(&s.table),
            ident(&s.key),
            literal(subject.as_str()),
            self.key_type
        )
    }

    /// SQL selecting the rows of entry `name` that belong to (or hang off) the subject.
    pub fn rows_sql(&self, name: &str, subject: &SubjectKey) -> String {
        let table = self.table(name);
        format!(
            "SELECT t0.* FROM {} t0 WHERE {}",
            self.qualified(table.spec.table_name()),
            self.condition(table, 0, subject)
        )
    }

    /// SQL selecting the distinct non-null values of `column` over entry `name`'s rows.
    pub fn column_values_sql(&self, name: &str, column: &str, subject: &SubjectKey) -> String {
        let table = self.table(name);
        format!(
            "SELECT DISTINCT t0.{c}::text AS v FROM {} t0 WHERE {} AND t0.{c} IS NOT NULL",
            self.qualified(table.spec.table_name()),
            self.condition(table, 0, subject),
            c = ident(column)
        )
    }

    /// The schema-qualified table of entry `name` and the condition (over alias `t0`)
    /// selecting its rows that belong to, or hang off, the subject.
    pub fn entry_filter(&self, name: &str, subject: &SubjectKey) -> (String, String) {
        let table = self.table(name);
        (
            self.qualified(table.spec.table_name()),
            self.condition(table, 0, subject),
        )
    }

    /// The schema-qualified subject table and the condition (over alias `t0`) selecting
    /// the subject's own row.
    pub fn subject_filter(&self, subject: &SubjectKey) -> (String, String) {
        let s = &self.map.subject;
        (
            self.qualified(&s.table),
            format!(
                "t0.{} = CAST({} AS {})",
                ident(&s.key),
                literal(subject.as_str()),
                self.key_type
            ),
        )
    }

    /// The subject key's SQL type.
    pub fn key_type(&self) -> &str {
        &self.key_type
    }

    /// A column's SQL type in entry `name`'s table.
    pub fn column_type(&self, name: &str, column: &str) -> Option<&str> {
        self.table(name)
            .columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.sql_type.as_str())
    }

    /// The schema-qualified name of a table.
    pub fn qualified_table(&self, table: &str) -> String {
        self.qualified(table)
    }

    /// The WHERE condition tying alias `t{depth}` of `table` to the subject.
    fn condition(&self, table: &BoundTable, depth: usize, subject: &SubjectKey) -> String {
        let alias = format!("t{depth}");
        let column = ident(&table.spec.link.column);
        match &table.spec.link.parent {
            None => format!(
                "{alias}.{column} = CAST({} AS {})",
                literal(subject.as_str()),
                table.link_type
            ),
            Some(parent) => {
                let parent = self.table(parent);
                let parent_column = table.spec.link.parent_column.as_deref().unwrap_or("id");
                let inner = format!("t{}", depth + 1);
                format!(
                    "{alias}.{column} IN (SELECT {inner}.{} FROM {} {inner} WHERE {})",
                    ident(parent_column),
                    self.qualified(parent.spec.table_name()),
                    self.condition(parent, depth + 1, subject)
                )
            }
        }
    }

    /// The object entries, with the concrete prefix for prefix-based ones.
    pub fn object_prefix(object: &ObjectSpec, subject: &SubjectKey) -> Option<String> {
        object
            .prefix
            .as_ref()
            .map(|p| p.replace(SUBJECT_PLACEHOLDER, subject.as_str()))
    }

    /// Category of the subject row.
    pub fn subject_category(&self) -> Category {
        self.map.subject.category
    }
}

/// Turns a column value into an object key according to its format.
pub fn object_key(value: &str, format: KeyFormat) -> Option<String> {
    match format {
        KeyFormat::Key => Some(value.to_owned()),
        KeyFormat::Url => {
            let url = url::Url::parse(value).ok()?;
            let path = url.path().trim_start_matches('/');
            let key = percent_decode(path);
            (!key.is_empty()).then_some(key)
        }
    }
}

fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(path.replace('+', "%2B").as_bytes())
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The column rules an erase action applies (anonymize, or retain's anonymize).
pub fn rewrite_rules(erase: &super::spec::Erase) -> Vec<(&String, &ColumnRule)> {
    use super::spec::Erase;
    match erase {
        Erase::Anonymize { columns } => columns.iter().collect(),
        Erase::Retain { anonymize, .. } => anonymize.iter().collect(),
        Erase::Delete | Erase::Detach { .. } => vec![],
    }
}

fn erase_columns(erase: &super::spec::Erase) -> Vec<&String> {
    use super::spec::Erase;
    match erase {
        Erase::Delete => vec![],
        Erase::Anonymize { columns } => columns.keys().collect(),
        Erase::Retain { anonymize, .. } => anonymize.keys().collect(),
        Erase::Detach { columns } => columns.iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keys_are_the_path_without_the_leading_slash() {
        assert_eq!(
            object_key("s3://b/models/1/w.bin", KeyFormat::Url).as_deref(),
            Some("models/1/w.bin")
        );
        assert_eq!(
            object_key("https://cdn.x/a/b%20c.png", KeyFormat::Url).as_deref(),
            Some("a/b c.png")
        );
        assert_eq!(
            object_key("images/1/x.png", KeyFormat::Key).as_deref(),
            Some("images/1/x.png")
        );
        assert_eq!(object_key("not a url", KeyFormat::Url), None);
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("o'brien"), "'o''brien'");
    }
}
