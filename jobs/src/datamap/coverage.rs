//! What the data map does not cover: personal-looking columns in tables no entry reads,
//! foreign keys into the subject (or into rows the map reaches) that no entry follows, and
//! columns that look like user references without a foreign key ("soft" links).
//!
//! Everything here works from names and the foreign-key graph of the live catalog; the
//! one database query ([`confirm_soft_links`]) only checks whether a suggested soft link
//! holds values that are subject keys.

use std::collections::{BTreeMap, HashSet};

use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::catalog::{Catalog, ColumnInfo, ForeignKey, OnDelete, ident};
use super::spec::DataMap;

/// What kind of personal data a column's name suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PersonalKind {
    /// An email address.
    Email,
    /// An IP address.
    IpAddress,
    /// A browser's user agent.
    UserAgent,
    /// A date (or place) of birth.
    Birth,
    /// A phone number.
    Phone,
    /// A person's name or username.
    Name,
    /// A postal address or part of one.
    Address,
    /// A geographic location or coordinates.
    Location,
    /// An identity document, tax or bank identifier, or payment card.
    Identifier,
}

impl PersonalKind {
    /// A short label for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::IpAddress => "ip address",
            Self::UserAgent => "user agent",
            Self::Birth => "birth",
            Self::Phone => "phone",
            Self::Name => "name",
            Self::Address => "address",
            Self::Location => "location",
            Self::Identifier => "identifier",
        }
    }
}

impl std::fmt::Display for PersonalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lowercase word parts of a name split at `_`, with trailing digits removed
/// (`address_line1` → `address`, `line`).
fn parts(name: &str) -> Vec<String> {
    name.to_lowercase()
        .split('_')
        .map(|p| p.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `word` or its plural.
fn is_word(part: &str, word: &str) -> bool {
    part == word || part.strip_suffix('s') == Some(word)
}

fn any_word(part: &str, words: &[&str]) -> bool {
    words.iter().any(|w| is_word(part, w))
}

/// Word parts that qualify a trailing `name` as a person's name (`first_name`,
/// `billing_name`, `card_holder_name`; not `file_name`).
const NAME_QUALIFIERS: &[&str] = &[
    "first",
    "last",
    "full",
    "display",
    "real",
    "given",
    "family",
    "middle",
    "maiden",
    "legal",
    "nick",
    "sur",
    "fore",
    "screen",
    "billing",
    "shipping",
    "contact",
    "user",
    "customer",
    "account",
    "holder",
    "card",
    "owner",
    "author",
    "person",
    "member",
    "sender",
    "recipient",
    "birth",
    "emergency",
    "guardian",
    "parent",
];

/// Word parts that name a person's name in one word.
const NAME_WORDS: &[&str] = &[
    "username",
    "firstname",
    "lastname",
    "fullname",
    "surname",
    "nickname",
    "displayname",
    "givenname",
    "familyname",
    "forename",
    "middlename",
    "realname",
];

/// Last word parts that make a column a flag, count, timestamp or reference about
/// personal data rather than the data itself (`email_verified`, `address_id`).
const NOT_DATA_SUFFIXES: &[&str] = &[
    "id",
    "ids",
    "count",
    "at",
    "on",
    "verified",
    "confirmed",
    "enabled",
    "disabled",
    "flag",
    "type",
    "kind",
    "format",
    "status",
    "visibility",
    "visible",
    "public",
    "required",
    "optin",
    "optout",
    "consent",
];

/// Table-name words that make a bare `name` column a person's name.
const PERSON_TABLES: &[&str] = &[
    "user",
    "account",
    "customer",
    "member",
    "person",
    "people",
    "contact",
    "profile",
    "author",
    "employee",
    "staff",
    "subscriber",
    "recipient",
    "guest",
    "patient",
    "student",
    "owner",
    "applicant",
    "candidate",
    "client",
    "buyer",
    "seller",
    "driver",
    "passenger",
    "lead",
    "signup",
    "attendee",
    "participant",
    "player",
    "teacher",
    "parent",
];

/// What personal data a column name suggests, from its word parts (split at `_`,
/// case-insensitive): `email`, `ip`/`ip_address`/`*_ip`, `first_name`/`username`/
/// `billing_name`, `phone`/`mobile`, `address`/`street`/`city`/`postcode`/`zip`,
/// `birth_date`/`dob`, `user_agent`, `location`/`lat`/`lng`, `ssn`/`passport`/`iban`/
/// `card_number`. Flags, counts, timestamps and references about such data
/// (`email_verified`, `phone_confirmed_at`, `address_id`) are not personal data
/// themselves. A bare `name` depends on the table; see [`personal_column`].
pub fn personal_kind(column: &str) -> Option<PersonalKind> {
    let p = parts(column);
    let has = |words: &[&str]| p.iter().any(|part| any_word(part, words));
    let pair = |a: &str, b: &str| p.windows(2).any(|w| is_word(&w[0], a) && is_word(&w[1], b));
    // Identity documents are personal even when called `*_id` or `*_number`.
    if has(&[
        "ssn",
        "passport",
        "iban",
        "taxid",
        "nationalid",
        "socialsecurity",
    ]) || pair("tax", "id")
        || pair("national", "id")
        || pair("social", "security")
    {
        return Some(PersonalKind::Identifier);
    }
    if p.last()
        .is_some_and(|last| NOT_DATA_SUFFIXES.contains(&last.as_str()))
    {
        return None;
    }
    if has(&["email"]) && !has(&["template", "campaign", "queue", "provider"]) {
        return Some(PersonalKind::Email);
    }
    if has(&["ip", "ipaddr", "ipaddress", "ipv"]) {
        return Some(PersonalKind::IpAddress);
    }
    if has(&["useragent"]) || pair("user", "agent") {
        return Some(PersonalKind::UserAgent);
    }
    if has(&["birth", "birthday", "birthdate", "dob", "birthplace"]) {
        return Some(PersonalKind::Birth);
    }
    if has(&[
        "phone",
        "mobile",
        "telephone",
        "tel",
        "msisdn",
        "fax",
        "cellphone",
    ]) {
        return Some(PersonalKind::Phone);
    }
    if has(NAME_WORDS) {
        return Some(PersonalKind::Name);
    }
    if let Some(i) = p.iter().position(|part| part == "name")
        && p[..i].iter().any(|q| NAME_QUALIFIERS.contains(&q.as_str()))
    {
        return Some(PersonalKind::Name);
    }
    if has(&[
        "address",
        "addr",
        "street",
        "city",
        "postcode",
        "postalcode",
        "postal",
        "zip",
        "zipcode",
        "housenumber",
    ]) {
        return Some(PersonalKind::Address);
    }
    if has(&[
        "location",
        "geolocation",
        "geo",
        "lat",
        "lng",
        "lon",
        "latitude",
        "longitude",
        "coordinates",
        "coords",
        "gps",
    ]) {
        return Some(PersonalKind::Location);
    }
    if has(&["card", "creditcard", "cardnumber", "bank"]) {
        return Some(PersonalKind::Identifier);
    }
    None
}

/// Like [`personal_kind`], and a bare `name` column counts as a person's name in a table
/// whose name says it holds people (`users`, `contacts`, `customer_accounts`), not in
/// one that holds things (`models.name`, `tags.name`).
pub fn personal_column(table: &str, column: &str) -> Option<PersonalKind> {
    if column.eq_ignore_ascii_case("name") {
        return parts(table)
            .iter()
            .any(|p| any_word(p, PERSON_TABLES))
            .then_some(PersonalKind::Name);
    }
    personal_kind(column)
}

/// Words that make an `*_id` column look like a reference to a person.
const USER_WORDS: &[&str] = &[
    "user",
    "owner",
    "author",
    "creator",
    "member",
    "account",
    "customer",
    "person",
    "sender",
    "recipient",
];

/// Whether a column name looks like a reference to a user: ending in `_id` with a word
/// part user/owner/author/creator/member/account/customer/person/sender/recipient
/// (`from_user_id`, `owner_id`), or exactly `created_by`, `updated_by`, `deleted_by`,
/// `modified_by`, `owned_by` or `owner`.
pub fn looks_like_user_reference(column: &str) -> bool {
    let lower = column.to_lowercase();
    if [
        "created_by",
        "updated_by",
        "deleted_by",
        "modified_by",
        "owned_by",
        "owner",
    ]
    .contains(&lower.as_str())
    {
        return true;
    }
    let Some(prefix) = lower.strip_suffix("_id") else {
        return false;
    };
    parts(prefix).iter().any(|p| any_word(p, USER_WORDS))
}

/// A personal-looking column in a table that no entry of the map reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalColumn {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// What its name suggests.
    pub kind: PersonalKind,
}

impl std::fmt::Display for PersonalColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}.{}` looks like personal data ({}) but no entry covers table `{}`",
            self.table, self.column, self.kind, self.table
        )
    }
}

/// Why a foreign key shows up in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkReason {
    /// It references the subject table and no entry links through it.
    IntoSubject,
    /// It references a table the map reads and no entry links through it with that
    /// table's entry as parent.
    IntoEntry,
    /// A self-reference of a table the map reads (comment threads, referrals): other
    /// rows of the same table hanging off the subject's rows. A warning.
    SelfReference,
    /// `ON DELETE SET NULL` from a table the map already reads into one it reads: the
    /// database detaches these rows by itself when the linked rows go. A warning.
    Detached,
}

/// A foreign key that the map does not follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncoveredLink {
    /// Constraint name.
    pub constraint: String,
    /// The referencing table.
    pub table: String,
    /// Its columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: String,
    /// The referenced columns.
    pub referenced_columns: Vec<String>,
    /// The delete rule.
    pub on_delete: OnDelete,
    /// Why it is reported.
    pub reason: LinkReason,
    /// The entries reading the referenced table (empty for the subject table).
    pub parents: Vec<String>,
}

/// The SQL spelling of a delete rule.
pub fn on_delete_sql(rule: OnDelete) -> &'static str {
    match rule {
        OnDelete::Cascade => "CASCADE",
        OnDelete::SetNull => "SET NULL",
        OnDelete::Restrict => "RESTRICT/NO ACTION",
    }
}

impl std::fmt::Display for UncoveredLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns = self.columns.join(",");
        write!(
            f,
            "foreign key `{}` `{}.{columns}` -> `{}.{}` (ON DELETE {})",
            self.constraint,
            self.table,
            self.references,
            self.referenced_columns.join(","),
            on_delete_sql(self.on_delete)
        )?;
        let parents = self
            .parents
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.reason {
            LinkReason::IntoSubject => {
                write!(
                    f,
                    " links to the subject, but no entry links through `{}.{columns}`",
                    self.table
                )
            }
            LinkReason::IntoEntry => write!(
                f,
                " links to rows of entry {parents}, but no entry links through `{}.{columns}` with parent {parents}",
                self.table
            ),
            LinkReason::SelfReference if self.parents.is_empty() => write!(
                f,
                " is a self-reference of the subject table: it restricts deleting the subject while other `{}` rows \
                 point at it",
                self.table
            ),
            LinkReason::SelfReference => write!(
                f,
                " is a self-reference no entry follows: rows of `{}` under the subject's rows are left as they are \
                 (add an entry with link.parent if they need treatment)",
                self.table
            ),
            LinkReason::Detached => write!(
                f,
                " is not followed: the database detaches these `{}` rows when the linked rows are deleted \
                 (add an entry with link.parent if they hold the subject's data)",
                self.table
            ),
        }
    }
}

/// What a database check said about a suggested soft link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoftLinkEvidence {
    /// Not checked against the data.
    Unchecked,
    /// Some of its values are subject keys.
    Matches,
    /// None of the sampled values is a subject key.
    NoMatch,
    /// The check failed (the message says why).
    CheckFailed(String),
}

/// A column that looks like a user reference but has no foreign key, which no entry
/// declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftLink {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// Its SQL type.
    pub sql_type: String,
    /// What the data says.
    pub evidence: SoftLinkEvidence,
}

impl std::fmt::Display for SoftLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}.{}` looks like a user reference without a foreign key",
            self.table, self.column
        )?;
        match &self.evidence {
            SoftLinkEvidence::Unchecked => {}
            SoftLinkEvidence::Matches => f.write_str(" and some of its values are subject keys")?,
            SoftLinkEvidence::NoMatch => {
                f.write_str(" (none of its sampled values is a subject key)")?
            }
            SoftLinkEvidence::CheckFailed(why) => {
                write!(f, " (its values could not be checked: {why})")?
            }
        }
        write!(
            f,
            "; if it holds the subject's key, declare it: [[table]] table = \"{}\", link = {{ column = \"{}\", soft = true }}",
            self.table, self.column
        )
    }
}

/// What the map leaves out, as found by [`coverage`].
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Personal-looking columns in tables no entry reads. Errors.
    pub personal_columns: Vec<PersonalColumn>,
    /// Foreign keys into the subject or into rows the map reads that no entry follows.
    /// Errors.
    pub foreign_keys: Vec<UncoveredLink>,
    /// Self-references and detaching (`SET NULL`) links the map does not follow, and
    /// self-references of the subject table that restrict deleting it. Warnings.
    pub unfollowed: Vec<UncoveredLink>,
    /// Columns that look like user references without a foreign key. Suggestions.
    pub soft_links: Vec<SoftLink>,
}

impl Coverage {
    /// Whether the map misses anything that must be fixed.
    pub fn has_errors(&self) -> bool {
        !self.personal_columns.is_empty() || !self.foreign_keys.is_empty()
    }
}

/// Whether a column of type `column_type` could hold a subject key of type `key_type`.
fn could_hold_key(column_type: &str, key_type: &str) -> bool {
    let integer =
        |t: &str| matches!(t, "smallint" | "integer" | "bigint") || t.starts_with("numeric");
    let text = |t: &str| t == "text" || t.starts_with("character");
    if text(column_type) {
        return true;
    }
    if key_type == "uuid" {
        column_type == "uuid"
    } else if integer(key_type) {
        integer(column_type)
    } else {
        integer(column_type) || column_type == "uuid" || column_type == key_type
    }
}

/// The parts of a [`Catalog`] the reports read: tables in name order, and foreign keys.
/// Built from a catalog, or directly in tests.
#[derive(Debug, Clone, Default)]
pub(super) struct Schema<'a> {
    /// Columns per table, in table-name order.
    pub(super) tables: BTreeMap<&'a str, &'a [ColumnInfo]>,
    /// Every foreign key, sorted by referencing table, columns and name.
    pub(super) foreign_keys: Vec<&'a ForeignKey>,
}

impl<'a> Schema<'a> {
    pub(super) fn new(
        tables: BTreeMap<&'a str, &'a [ColumnInfo]>,
        foreign_keys: &'a [ForeignKey],
    ) -> Self {
        let mut foreign_keys: Vec<&ForeignKey> = foreign_keys.iter().collect();
        foreign_keys
            .sort_by(|a, b| (&a.table, &a.columns, &a.name).cmp(&(&b.table, &b.columns, &b.name)));
        Self {
            tables,
            foreign_keys,
        }
    }

    pub(super) fn from_catalog(catalog: &'a Catalog) -> Self {
        let tables = catalog
            .table_names()
            .filter_map(|t| Some((t, catalog.columns(t)?)))
            .collect();
        Self::new(tables, &catalog.foreign_keys)
    }

    pub(super) fn columns(&self, table: &str) -> &'a [ColumnInfo] {
        self.tables.get(table).copied().unwrap_or_default()
    }

    pub(super) fn column(&self, table: &str, column: &str) -> Option<&'a ColumnInfo> {
        self.columns(table).iter().find(|c| c.name == column)
    }
}

/// Columns of the schema that look like references to the subject but have no foreign
/// key, outside the subject table, in table and column order.
pub fn soft_link_candidates<'a>(
    catalog: &'a Catalog,
    subject_table: &str,
    key: &str,
) -> Vec<(&'a str, &'a ColumnInfo)> {
    soft_links_in(&Schema::from_catalog(catalog), subject_table, key)
}

pub(super) fn soft_links_in<'a>(
    schema: &Schema<'a>,
    subject_table: &str,
    key: &str,
) -> Vec<(&'a str, &'a ColumnInfo)> {
    let key_type = schema
        .column(subject_table, key)
        .map(|c| c.sql_type.as_str())
        .unwrap_or("bigint");
    let mut found = Vec::new();
    for (&table, &columns) in schema.tables.iter().filter(|(t, _)| **t != subject_table) {
        let has_fk = |column: &str| {
            schema
                .foreign_keys
                .iter()
                .any(|fk| fk.table == table && fk.columns.iter().any(|c| c == column))
        };
        for column in columns {
            if looks_like_user_reference(&column.name)
                && could_hold_key(&column.sql_type, key_type)
                && !has_fk(&column.name)
            {
                found.push((table, column));
            }
        }
    }
    found
}

/// Reports what `map` does not cover in `catalog`: personal-looking columns in tables no
/// entry reads (by name, see [`personal_column`]); foreign keys into the subject table,
/// or into a table an entry reads, that no entry links through; self-references and
/// detaching links nobody follows (warnings); and soft-link suggestions (see
/// [`looks_like_user_reference`]; confirm them with [`confirm_soft_links`]).
pub fn coverage(map: &DataMap, catalog: &Catalog) -> Coverage {
    coverage_in(map, &Schema::from_catalog(catalog))
}

pub(super) fn coverage_in(map: &DataMap, schema: &Schema<'_>) -> Coverage {
    let subject = &map.subject;
    let mut covered: HashSet<&str> = map.tables.iter().map(|t| t.table_name()).collect();
    covered.insert(&subject.table);
    let mut report = Coverage::default();

    for (&table, &columns) in schema.tables.iter().filter(|(t, _)| !covered.contains(**t)) {
        for column in columns {
            if column.sql_type == "boolean" {
                continue;
            }
            if let Some(kind) = personal_column(table, &column.name) {
                report.personal_columns.push(PersonalColumn {
                    table: table.to_owned(),
                    column: column.name.clone(),
                    kind,
                });
            }
        }
    }

    for &fk in &schema.foreign_keys {
        let column = fk.columns.join(",");
        let referenced = fk.referenced_columns.join(",");
        let link = |reason: LinkReason, parents: Vec<String>| UncoveredLink {
            constraint: fk.name.clone(),
            table: fk.table.clone(),
            columns: fk.columns.clone(),
            references: fk.references.clone(),
            referenced_columns: fk.referenced_columns.clone(),
            on_delete: fk.on_delete,
            reason,
            parents,
        };
        if fk.references == subject.table {
            if fk.table == subject.table {
                // Other people (referred users, say) pointing at the subject: nothing to
                // map, unless the key would stop the subject row from being deleted.
                if fk.on_delete == OnDelete::Restrict {
                    report
                        .unfollowed
                        .push(link(LinkReason::SelfReference, vec![]));
                }
                continue;
            }
            let followed = map.tables.iter().any(|t| {
                t.table_name() == fk.table
                    && t.link.parent.is_none()
                    && t.link.column == column
                    && t.link.parent_column.as_deref().unwrap_or(&subject.key) == referenced
            });
            if !followed {
                report
                    .foreign_keys
                    .push(link(LinkReason::IntoSubject, vec![]));
            }
            continue;
        }
        if fk.table == subject.table {
            // The subject row pointing at other rows is part of the subject row.
            continue;
        }
        let parents: Vec<String> = map
            .tables
            .iter()
            .filter(|t| t.table_name() == fk.references)
            .map(|t| t.name.clone())
            .collect();
        if parents.is_empty() {
            continue;
        }
        let followed = map.tables.iter().any(|t| {
            t.table_name() == fk.table
                && t.link.column == column
                && t.link.parent_column.as_deref().unwrap_or("id") == referenced
                && t.link.parent.as_ref().is_some_and(|p| parents.contains(p))
        });
        if followed {
            continue;
        }
        if fk.table == fk.references {
            report
                .unfollowed
                .push(link(LinkReason::SelfReference, parents));
        } else if fk.on_delete == OnDelete::SetNull && covered.contains(fk.table.as_str()) {
            report.unfollowed.push(link(LinkReason::Detached, parents));
        } else {
            report
                .foreign_keys
                .push(link(LinkReason::IntoEntry, parents));
        }
    }

    for (table, column) in soft_links_in(schema, &subject.table, &subject.key) {
        let declared = map
            .tables
            .iter()
            .any(|t| t.table_name() == table && t.link.column == column.name);
        if !declared {
            report.soft_links.push(SoftLink {
                table: table.to_owned(),
                column: column.name.clone(),
                sql_type: column.sql_type.clone(),
                evidence: SoftLinkEvidence::Unchecked,
            });
        }
    }
    report
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// How many values of a suggested soft-link column are compared with the subject keys.
pub const SOFT_LINK_SAMPLE: usize = 1000;

/// Checks each soft-link suggestion against the data: whether any of the first
/// [`SOFT_LINK_SAMPLE`] non-null values of the column equals a subject key (compared as
/// text). Sets each suggestion's evidence; a failed query is recorded, not returned.
pub async fn confirm_soft_links(
    conn: &mut AsyncPgConnection,
    map: &DataMap,
    coverage: &mut Coverage,
) {
    let schema = ident(&map.schema);
    let subject = format!("{schema}.{}", ident(&map.subject.table));
    let key = ident(&map.subject.key);
    for link in &mut coverage.soft_links {
        let column = ident(&link.column);
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM (SELECT t.{column}::text AS v FROM {schema}.{table} t \
                                           WHERE t.{column} IS NOT NULL LIMIT {SOFT_LINK_SAMPLE}) s \
                            WHERE s.v IN (SELECT u.{key}::text FROM {subject} u)) AS found",
            table = ident(&link.table),
        );
        link.evidence = match diesel::sql_query(sql).get_result::<Found>(conn).await {
            Ok(Found { found: true }) => SoftLinkEvidence::Matches,
            Ok(Found { found: false }) => SoftLinkEvidence::NoMatch,
            Err(error) => SoftLinkEvidence::CheckFailed(error.to_string()),
        };
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn personal_looking_column_names_are_recognised_by_their_word_parts() {
        let cases = [
            ("email", PersonalKind::Email),
            ("Contact_Email", PersonalKind::Email),
            ("email_address", PersonalKind::Email),
            ("ip", PersonalKind::IpAddress),
            ("ip_address", PersonalKind::IpAddress),
            ("signup_ip", PersonalKind::IpAddress),
            ("last_login_ip", PersonalKind::IpAddress),
            ("user_agent", PersonalKind::UserAgent),
            ("first_name", PersonalKind::Name),
            ("last_name", PersonalKind::Name),
            ("full_name", PersonalKind::Name),
            ("display_name", PersonalKind::Name),
            ("username", PersonalKind::Name),
            ("billing_name", PersonalKind::Name),
            ("card_holder_name", PersonalKind::Name),
            ("phone", PersonalKind::Phone),
            ("mobile_number", PersonalKind::Phone),
            ("address", PersonalKind::Address),
            ("address_line1", PersonalKind::Address),
            ("street", PersonalKind::Address),
            ("city", PersonalKind::Address),
            ("postcode", PersonalKind::Address),
            ("zip", PersonalKind::Address),
            ("birth_date", PersonalKind::Birth),
            ("dob", PersonalKind::Birth),
            ("location", PersonalKind::Location),
            ("lat", PersonalKind::Location),
            ("lng", PersonalKind::Location),
            ("latitude", PersonalKind::Location),
            ("longitude", PersonalKind::Location),
            ("ssn", PersonalKind::Identifier),
            ("passport_number", PersonalKind::Identifier),
            ("iban", PersonalKind::Identifier),
            ("card_last4", PersonalKind::Identifier),
            ("tax_id", PersonalKind::Identifier),
        ];
        for (column, kind) in cases {
            assert_eq!(personal_kind(column), Some(kind), "{column}");
        }
    }

    #[test]
    fn things_named_like_personal_data_but_not_holding_it_are_not_reported() {
        for column in [
            "id",
            "user_id",
            "file_name",
            "model_name",
            "title",
            "body",
            "created_at",
            "email_verified",
            "phone_confirmed_at",
            "address_id",
            "location_id",
            "shipping",
            "zipper",
            "relationship",
            "description",
            "amount_cents",
            "object_key",
        ] {
            assert_eq!(personal_kind(column), None, "{column}");
        }
    }

    #[test]
    fn a_bare_name_is_personal_only_in_a_table_of_people() {
        assert_eq!(personal_column("users", "name"), Some(PersonalKind::Name));
        assert_eq!(
            personal_column("customer_accounts", "Name"),
            Some(PersonalKind::Name)
        );
        assert_eq!(personal_column("models", "name"), None);
        assert_eq!(personal_column("tags", "name"), None);
        assert_eq!(
            personal_column("models", "phone"),
            Some(PersonalKind::Phone)
        );
    }

    #[test]
    fn user_reference_names_are_recognised() {
        for column in [
            "user_id",
            "from_user_id",
            "to_user_id",
            "owner_id",
            "author_id",
            "creator_id",
            "member_id",
            "account_id",
            "created_by",
            "Updated_By",
            "owner",
            "users_id",
        ] {
            assert!(looks_like_user_reference(column), "{column}");
        }
        for column in [
            "id",
            "image_id",
            "user",
            "owner_name",
            "userid",
            "created_at",
            "accounting_period_id",
            "model_id",
        ] {
            assert!(!looks_like_user_reference(column), "{column}");
        }
    }

    fn col(name: &str, sql_type: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.to_owned(),
            sql_type: sql_type.to_owned(),
        }
    }

    fn fk(table: &str, column: &str, references: &str, on_delete: OnDelete) -> ForeignKey {
        ForeignKey {
            name: format!("{table}_{column}_fkey"),
            table: table.to_owned(),
            columns: vec![column.to_owned()],
            references: references.to_owned(),
            referenced_columns: vec!["id".to_owned()],
            on_delete,
        }
    }

    /// A small platform: users, their images, comments on images (threaded), contacts
    /// nobody mapped, tags, and a ledger with a soft link.
    pub(crate) struct Fixture {
        tables: Vec<(&'static str, Vec<ColumnInfo>)>,
        foreign_keys: Vec<ForeignKey>,
    }

    impl Fixture {
        pub(crate) fn new() -> Self {
            Self {
                tables: vec![
                    (
                        "users",
                        vec![
                            col("id", "bigint"),
                            col("email", "text"),
                            col("referred_by", "bigint"),
                        ],
                    ),
                    (
                        "images",
                        vec![
                            col("id", "bigint"),
                            col("user_id", "bigint"),
                            col("title", "text"),
                        ],
                    ),
                    (
                        "comments",
                        vec![
                            col("id", "bigint"),
                            col("image_id", "bigint"),
                            col("parent_id", "bigint"),
                        ],
                    ),
                    (
                        "contacts",
                        vec![
                            col("id", "bigint"),
                            col("user_id", "bigint"),
                            col("phone", "text"),
                            col("sms_ok", "boolean"),
                        ],
                    ),
                    ("tags", vec![col("id", "bigint"), col("name", "text")]),
                    (
                        "ledger",
                        vec![
                            col("id", "bigint"),
                            col("owner_id", "bigint"),
                            col("created_by", "timestamp with time zone"),
                        ],
                    ),
                ],
                foreign_keys: vec![
                    fk("users", "referred_by", "users", OnDelete::SetNull),
                    fk("images", "user_id", "users", OnDelete::Cascade),
                    fk("comments", "image_id", "images", OnDelete::Cascade),
                    fk("comments", "parent_id", "comments", OnDelete::SetNull),
                    fk("contacts", "user_id", "users", OnDelete::Restrict),
                ],
            }
        }

        pub(crate) fn schema(&self) -> Schema<'_> {
            Schema::new(
                self.tables
                    .iter()
                    .map(|(t, c)| (*t, c.as_slice()))
                    .collect(),
                &self.foreign_keys,
            )
        }
    }

    const MAP: &str = r#"
        version = 1
        [subject]
        table = "users"
        email = "email"
        erase = { action = "delete" }
        [[table]]
        name = "images"
        link = { column = "user_id" }
        category = "content"
        erase = { action = "delete" }
    "#;

    #[test]
    fn coverage_names_uncovered_columns_links_and_soft_links() {
        let fixture = Fixture::new();
        let map = DataMap::parse(MAP).unwrap();
        let report = coverage_in(&map, &fixture.schema());
        let personal: Vec<String> = report
            .personal_columns
            .iter()
            .map(|p| format!("{}.{}", p.table, p.column))
            .collect();
        assert_eq!(
            personal,
            ["contacts.phone"],
            "tags.name is a thing's name, sms_ok a flag"
        );
        let links: Vec<String> = report
            .foreign_keys
            .iter()
            .map(|l| format!("{}.{}", l.table, l.columns[0]))
            .collect();
        assert_eq!(links, ["comments.image_id", "contacts.user_id"]);
        assert_eq!(report.foreign_keys[0].reason, LinkReason::IntoEntry);
        assert!(
            report.foreign_keys[0]
                .to_string()
                .contains("`comments.image_id` -> `images.id`"),
            "{}",
            report.foreign_keys[0]
        );
        assert!(
            report.foreign_keys[1]
                .to_string()
                .contains("links to the subject"),
            "{}",
            report.foreign_keys[1]
        );
        assert!(
            report.unfollowed.is_empty(),
            "comments is not mapped, so neither is its self-reference"
        );
        let soft: Vec<String> = report
            .soft_links
            .iter()
            .map(|s| format!("{}.{}", s.table, s.column))
            .collect();
        assert_eq!(
            soft,
            ["ledger.owner_id"],
            "a timestamp cannot hold a bigint key"
        );
        assert!(report.has_errors());
    }

    #[test]
    fn a_map_following_every_link_is_covered() {
        let fixture = Fixture::new();
        let map = DataMap::parse(&format!(
            "{MAP}
            [[table]]
            name = \"contacts\"
            link = {{ column = \"user_id\" }}
            category = \"profile\"
            erase = {{ action = \"delete\" }}
            [[table]]
            name = \"comments_on_images\"
            table = \"comments\"
            link = {{ column = \"image_id\", parent = \"images\" }}
            category = \"content\"
            erase = {{ action = \"delete\" }}
            [[table]]
            name = \"ledger\"
            link = {{ column = \"owner_id\", soft = true }}
            category = \"payments\"
            erase = {{ action = \"delete\" }}"
        ))
        .unwrap();
        let report = coverage_in(&map, &fixture.schema());
        assert!(!report.has_errors(), "{report:?}");
        assert!(report.soft_links.is_empty());
        assert_eq!(report.unfollowed.len(), 1);
        assert_eq!(report.unfollowed[0].reason, LinkReason::SelfReference);
        assert_eq!(report.unfollowed[0].table, "comments");
    }

    #[test]
    fn a_link_through_the_wrong_column_does_not_cover_the_foreign_key() {
        let fixture = Fixture::new();
        let map =
            DataMap::parse(&MAP.replace("column = \"user_id\"", "column = \"title\"")).unwrap();
        let report = coverage_in(&map, &fixture.schema());
        assert!(
            report
                .foreign_keys
                .iter()
                .any(|l| l.table == "images" && l.reason == LinkReason::IntoSubject)
        );
    }
}
