//! The schema model: every table of the large platform as data, so that the schema SQL,
//! the seeder's checks and the answer key all come from one description. The model also
//! records the *intended* treatment of every edge (what [`super::DECISIONS`] says, or the
//! foreign key's own delete rule), written by hand, not by Lethe's planner.

/// A foreign key's `ON DELETE` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDelete {
    Cascade,
    SetNull,
    Restrict,
    NoAction,
}

impl OnDelete {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::Cascade => "CASCADE",
            Self::SetNull => "SET NULL",
            Self::Restrict => "RESTRICT",
            Self::NoAction => "NO ACTION",
        }
    }
}

/// How a kept row's link is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unlink {
    /// The link stays as it is (or the database sets it to NULL itself).
    Keep,
    Null,
    Placeholder,
    Tombstone,
}

/// A column rule for kept rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColRule {
    Null,
    Redact,
    Hash,
}

/// The intended treatment of the rows an edge reaches from rows being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Act {
    /// No decision: the foreign key's delete rule (CASCADE → delete, SET NULL → leave).
    Default,
    Delete,
    Detach,
    /// Point the link at the placeholder (or a tombstone).
    Reassign(Unlink),
    Retain(Unlink, Vec<(String, ColRule)>),
    Anonymize(Unlink, Vec<(String, ColRule)>),
}

/// The resolved action of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// The rows are the subject's: deleted, and the walk goes on below them.
    Delete,
    /// The rows stay; the link (and maybe some columns) change.
    Keep,
    /// The rows stay; the database sets the link to NULL (SET NULL key).
    Leave,
    /// Nothing happens to the rows (a soft link left alone).
    Nothing,
}

/// A foreign key or a soft link from a table's columns to another table's columns.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub cols: Vec<String>,
    pub target: String,
    pub target_cols: Vec<String>,
    /// `None`: a soft link (no foreign key).
    pub on_delete: Option<OnDelete>,
    pub act: Act,
}

impl Edge {
    /// What the edge does to rows below a deleted parent.
    pub(crate) fn effect(&self) -> Effect {
        match (&self.act, self.on_delete) {
            (Act::Default, Some(OnDelete::Cascade)) | (Act::Delete, _) => Effect::Delete,
            (Act::Default, Some(OnDelete::SetNull)) => Effect::Leave,
            (Act::Default, _) => Effect::Nothing,
            _ => Effect::Keep,
        }
    }

    /// Whether the edge points into the subject table.
    pub(crate) fn to_user(&self) -> bool {
        self.target == "User"
    }

    /// The `[links]` key of this edge.
    #[cfg(test)]
    pub(crate) fn link_key(&self, table: &str) -> String {
        if self.cols.len() == 1 {
            format!("{table}.{}", self.cols[0])
        } else {
            format!("{table}.({})", self.cols.join(", "))
        }
    }

    /// Column rules applied to kept rows.
    pub(crate) fn anonymize(&self) -> &[(String, ColRule)] {
        match &self.act {
            Act::Retain(_, a) | Act::Anonymize(_, a) => a,
            _ => &[],
        }
    }
}

/// How an object key is stored in a row.
#[derive(Debug, Clone)]
pub(crate) enum ObjectCol {
    /// A bare key in a column.
    Key {
        bucket: &'static str,
        column: String,
    },
    /// `https://cdn.example/<key>` in a column.
    Url {
        bucket: &'static str,
        column: String,
    },
    /// Every object under a prefix built from the row's columns, e.g.
    /// `{modelVersionId}/{userId}/`; `keys` is SQL over `t` listing the seeded keys.
    Prefix {
        bucket: &'static str,
        #[cfg_attr(not(test), allow(dead_code))]
        template: String,
        keys: String,
    },
}

/// A counter trigger: inserting or deleting a row of this table changes `column` of the
/// `parent` row named by `via`.
#[derive(Debug, Clone)]
pub(crate) struct Counter {
    pub parent: String,
    pub via: String,
    pub column: String,
}

/// One table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
    /// Legacy snake_case table (constraints written inline, no Prisma naming).
    pub legacy: bool,
    pub comment: String,
    /// `(name, type and constraints)`.
    pub columns: Vec<(String, String)>,
    pub pk: Vec<String>,
    pub uniques: Vec<Vec<String>>,
    pub checks: Vec<String>,
    pub edges: Vec<Edge>,
    pub counters: Vec<Counter>,
    pub objects: Vec<ObjectCol>,
    /// Columns where seeding plants people's email addresses and usernames.
    pub identity: Vec<String>,
}

/// Quotes an identifier the way PostgreSQL needs it.
pub(crate) fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Table {
    /// A table without columns yet.
    pub(crate) fn new(name: &str, comment: &str) -> Self {
        Self {
            name: name.to_owned(),
            legacy: name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
            comment: comment.to_owned(),
            columns: Vec::new(),
            pk: Vec::new(),
            uniques: Vec::new(),
            checks: Vec::new(),
            edges: Vec::new(),
            counters: Vec::new(),
            objects: Vec::new(),
            identity: Vec::new(),
        }
    }

    /// A serial `id` primary key (`bigserial` in legacy tables).
    pub(crate) fn id(mut self) -> Self {
        let ty = if self.legacy { "BIGSERIAL" } else { "SERIAL" };
        self.columns.push(("id".into(), format!("{ty} NOT NULL")));
        self.pk = vec!["id".into()];
        self
    }

    /// A text (cuid-style) `id` primary key.
    pub(crate) fn text_id(mut self) -> Self {
        self.columns.push(("id".into(), "TEXT NOT NULL".into()));
        self.pk = vec!["id".into()];
        self
    }

    /// A plain column.
    pub(crate) fn col(mut self, name: &str, ty: &str) -> Self {
        self.columns.push((name.into(), ty.into()));
        self
    }

    /// A primary key over existing columns.
    pub(crate) fn pk(mut self, cols: &[&str]) -> Self {
        self.pk = cols.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// A unique constraint.
    pub(crate) fn unique(mut self, cols: &[&str]) -> Self {
        self.uniques
            .push(cols.iter().map(|c| (*c).to_owned()).collect());
        self
    }

    /// A check constraint.
    pub(crate) fn check(mut self, expr: &str) -> Self {
        self.checks.push(expr.into());
        self
    }

    /// A foreign key from a new column; NOT NULL unless the rule is SET NULL.
    pub(crate) fn fk(self, col: &str, target: &str, rule: OnDelete) -> Self {
        let null = rule == OnDelete::SetNull;
        self.fk_with(col, target, rule, null, Act::Default)
    }

    /// A nullable foreign key from a new column.
    pub(crate) fn fk_opt(self, col: &str, target: &str, rule: OnDelete) -> Self {
        self.fk_with(col, target, rule, true, Act::Default)
    }

    /// A foreign key into `"User"` with a decision.
    pub(crate) fn user_act(self, col: &str, rule: OnDelete, act: Act) -> Self {
        let null = rule == OnDelete::SetNull;
        self.fk_with(col, "User", rule, null, act)
    }

    /// A foreign key from a new column, with its nullability and decision.
    pub(crate) fn fk_with(
        mut self,
        col: &str,
        target: &str,
        rule: OnDelete,
        null: bool,
        act: Act,
    ) -> Self {
        let ty = if target == "User" || self.legacy {
            "BIGINT"
        } else {
            "INTEGER"
        };
        let ty = if null {
            ty.to_owned()
        } else {
            format!("{ty} NOT NULL")
        };
        self.columns.push((col.into(), ty));
        self.edges.push(Edge {
            cols: vec![col.into()],
            target: target.into(),
            target_cols: vec!["id".into()],
            on_delete: Some(rule),
            act,
        });
        self
    }

    /// A foreign key over existing columns.
    pub(crate) fn fk_cols(
        mut self,
        cols: &[&str],
        target: &str,
        target_cols: &[&str],
        rule: OnDelete,
        act: Act,
    ) -> Self {
        self.edges.push(Edge {
            cols: cols.iter().map(|c| (*c).to_owned()).collect(),
            target: target.into(),
            target_cols: target_cols.iter().map(|c| (*c).to_owned()).collect(),
            on_delete: Some(rule),
            act,
        });
        self
    }

    /// A soft link: a new column holding `target`'s `id` without a foreign key.
    pub(crate) fn soft(mut self, col: &str, target: &str, null: bool, act: Act) -> Self {
        let ty = if target == "User" || self.legacy {
            "BIGINT"
        } else {
            "INTEGER"
        };
        let ty = if null {
            ty.to_owned()
        } else {
            format!("{ty} NOT NULL")
        };
        self.columns.push((col.into(), ty));
        self.edges.push(Edge {
            cols: vec![col.into()],
            target: target.into(),
            target_cols: vec!["id".into()],
            on_delete: None,
            act,
        });
        self
    }

    /// A counter trigger on the parent named by `via`.
    pub(crate) fn counter(mut self, parent: &str, via: &str, column: &str) -> Self {
        self.counters.push(Counter {
            parent: parent.into(),
            via: via.into(),
            column: column.into(),
        });
        self
    }

    /// An object reference.
    pub(crate) fn object(mut self, object: ObjectCol) -> Self {
        self.objects.push(object);
        self
    }

    /// Columns where people's identities are planted.
    pub(crate) fn identity(mut self, cols: &[&str]) -> Self {
        self.identity.extend(cols.iter().map(|c| (*c).to_owned()));
        self
    }

    /// SQL over alias `t` that identifies a row.
    pub(crate) fn key_sql(&self) -> String {
        if self.pk.len() == 1 {
            format!("t.{}::text", q(&self.pk[0]))
        } else {
            let cols: Vec<String> = self.pk.iter().map(|c| format!("t.{}", q(c))).collect();
            format!("({})::text", cols.join(", "))
        }
    }

    /// Whether a column exists.
    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|(c, _)| c == name)
    }
}
