//! Objects in the platform's buckets named by rows: where their keys come from (a column
//! or a template) and how a column holds a key.

use serde::{Deserialize, Serialize};

use super::Category;

/// Objects belonging to rows of one table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    /// Bucket holding the objects.
    pub bucket: String,
    /// Table whose rows name the objects (the subject table or any reached table).
    pub table: String,
    /// Column holding the key.
    pub column: Option<String>,
    /// How the column holds the key.
    #[serde(default)]
    pub format: KeyFormat,
    /// Key built from the row's columns (`{column}`); ending in `/`, a prefix.
    pub template: Option<String>,
    /// With `format = "url"`: the hosts whose URLs name objects of this bucket (e.g.
    /// `["cdn.example.com"]`). A URL with another host names no object here, so a row
    /// whose URL someone could set cannot make a purge delete another person's object.
    /// Empty: any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Whether the objects go into an access export.
    #[serde(default = "yes")]
    pub export: bool,
    /// Category in exports (default: the table's).
    pub category: Option<Category>,
}

fn yes() -> bool {
    true
}

impl ObjectSpec {
    /// The object key a column value names, if any: the bare key, or a URL's path when
    /// its host is one of `hosts` (or `hosts` is empty).
    pub fn key_of(&self, value: &str) -> Option<String> {
        if self.format == KeyFormat::Url && !self.hosts.is_empty() {
            let host = url::Url::parse(value).ok()?.host_str()?.to_owned();
            if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
                return None;
            }
        }
        crate::datamap::bind::object_key(value, self.format)
    }

    /// A short name for reports: `bucket:table.column` or `bucket:template`.
    pub fn label(&self) -> String {
        match (&self.column, &self.template) {
            (Some(column), _) => format!("{}:{}.{column}", self.bucket, self.table),
            (None, Some(template)) => format!("{}:{template}", self.bucket),
            (None, None) => format!("{}:{}", self.bucket, self.table),
        }
    }
}

/// How a column holds an object key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// The bare key.
    #[default]
    Key,
    /// A URL (`s3://bucket/key` or `https://host/key`); the key is the path.
    Url,
}

/// The placeholder of an object template: `{column}`.
pub fn template_columns(template: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("template `{template}` has an unclosed `{{`"))?;
        let name = &after[..close];
        if name.is_empty() {
            return Err(format!("template `{template}` has an empty `{{}}`"));
        }
        out.push(name.to_owned());
        rest = &after[close + 1..];
    }
    Ok(out)
}
