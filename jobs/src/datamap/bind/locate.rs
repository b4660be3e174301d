//! Finding a subject in the platform through the bound map: by email, username, profile
//! URL or key, and the condition selecting the subject's own row.

use super::super::catalog::{ident, literal};
use super::super::url_template::UrlTemplate;
use super::{BoundMap, SubjectKey};

impl BoundMap {
    /// SQL finding the subject's key by email: exact match first, then with ASCII letters
    /// case-folded (never Unicode folding, which would match `\u{212A}emi@…` — KELVIN
    /// SIGN — to `kemi@…`). Takes the email as `$1`; yields one text column `key`.
    pub fn locate_by_email_sql(&self) -> String {
        let s = &self.map.subject;
        let (t, k, e) = (
            self.qualified_table(&s.table),
            ident(&s.key),
            ident(&s.email),
        );
        let fold = |x: &str| {
            format!("translate({x}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
        };
        let (left, right) = (fold(&format!("s.{e}")), fold("$1"));
        format!(
            "(SELECT s.{k}::text AS key, 0 AS rank FROM {t} s WHERE s.{e} = $1 \
              UNION ALL SELECT s.{k}::text, 1 FROM {t} s WHERE {left} = {right}) \
             ORDER BY rank LIMIT 1"
        )
    }

    /// SQL finding the subject by its public username (exact match). Takes `$1`; `None`
    /// when the map names no username column.
    pub fn locate_by_username_sql(&self) -> Option<String> {
        let s = &self.map.subject;
        let username = s.username.as_deref()?;
        Some(format!(
            "SELECT s.{k}::text AS key FROM {t} s WHERE s.{u}::text = $1 LIMIT 1",
            k = ident(&s.key),
            t = self.qualified_table(&s.table),
            u = ident(username)
        ))
    }

    /// What a profile URL names, through the map's `subject.profile_urls`: the subject's
    /// key or username, or `None` when no template matches.
    pub fn profile_url_lookup(&self, url: &str) -> Option<crate::platform::SubjectLookup> {
        let s = &self.map.subject;
        s.profile_urls.iter().find_map(|template| {
            let template = UrlTemplate::parse(template).ok()?;
            let value = template.capture(url)?;
            if template.column() == s.key {
                Some(crate::platform::SubjectLookup::Key(value))
            } else {
                Some(crate::platform::SubjectLookup::Username(value))
            }
        })
    }

    /// SQL finding the subject by its key (as named in a platform assertion). Takes `$1`.
    pub fn locate_by_key_sql(&self) -> String {
        let s = &self.map.subject;
        format!(
            "SELECT s.{k}::text AS key FROM {t} s WHERE s.{k} = CAST($1 AS {ty})",
            k = ident(&s.key),
            t = self.qualified_table(&s.table),
            ty = self.key_type
        )
    }

    /// The schema-qualified subject table and the condition (over alias `t0`) selecting
    /// the subject's own row.
    pub fn subject_filter(&self, subject: &SubjectKey) -> (String, String) {
        let s = &self.map.subject;
        (
            self.qualified_table(&s.table),
            format!(
                "t0.{} = CAST({} AS {})",
                ident(&s.key),
                literal(subject.as_str()),
                self.key_type
            ),
        )
    }
}
