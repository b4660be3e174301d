//! The seeder's machinery: a deterministic generator that renders every row as SQL
//! (no database needed to plan), with explicit ids, so that parents, trees, mentions and
//! object keys are all known while generating.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use super::LargeOptions;
use super::model::{Table, q};
pub(crate) use super::rng::{Rng, V};

/// Statements are cut at about this many bytes.
const STATEMENT_BYTES: usize = 1 << 20;

/// A generated row other rows may point at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec {
    pub id: i64,
    pub owner: i64,
    /// Context: the image/post/thread/root the row belongs to, or another attribute.
    pub ctx: i64,
}

/// A seeded person.
pub(crate) struct Person {
    pub id: i64,
    pub first: &'static str,
    pub last: &'static str,
    pub username: String,
    pub email: String,
    pub tenant: i64,
}

/// An object to upload.
pub(crate) struct Obj {
    pub bucket: &'static str,
    pub key: String,
    /// PNG side length, or 0 for opaque bytes.
    pub png: u32,
}

/// The seeding plan: SQL statements, the heavy subjects and the objects.
pub(crate) struct Plan {
    pub statements: Vec<String>,
    pub heavy: Vec<i64>,
    pub objects: Vec<Obj>,
    /// Per table: rows, and rows whose owner is a heavy subject.
    pub stats: BTreeMap<String, (i64, i64)>,
}

/// The generator.
pub(crate) struct Gen<'o> {
    pub rng: Rng,
    pub o: &'o LargeOptions,
    pub people: Vec<Person>,
    cum: Vec<f64>,
    pub heavy: Vec<i64>,
    pub mods: Vec<i64>,
    recs: HashMap<String, Vec<Rec>>,
    ids: HashMap<String, i64>,
    seen: HashSet<(u64, i64, i64)>,
    statements: Vec<String>,
    current: String,
    buf_table: String,
    pub objects: Vec<Obj>,
    stats: BTreeMap<String, (i64, i64)>,
    pub after: Vec<String>,
}

const FIRST: [&str; 26] = [
    "ada", "bruno", "chen", "dara", "elif", "farah", "goran", "hana", "ines", "jonas", "kemi",
    "liam", "mira", "nils", "oona", "pavel", "quinn", "rosa", "sami", "tara", "uma", "viktor",
    "wen", "xena", "yusuf", "zoe",
];
const LAST: [&str; 16] = [
    "abara", "berg", "costa", "dubois", "eriksen", "fischer", "garcia", "hoang", "ivanova",
    "jensen", "kowalski", "lopez", "moreau", "nakamura", "okafor", "petrov",
];

impl<'o> Gen<'o> {
    fn new(o: &'o LargeOptions) -> Self {
        let mut rng = Rng(o.seed ^ 0x4c45_5448_4521);
        let mut people = vec![Person {
            id: 0,
            first: "deleted",
            last: "user",
            username: "deleted".into(),
            email: "deleted@placeholder.invalid".into(),
            tenant: 1,
        }];
        let mut cum = Vec::new();
        let mut total = 0.0;
        let all = i64::from(o.users) + i64::from(o.heavy_subjects);
        for id in 1..=all {
            let (first, last) = (
                FIRST[(id as usize * 7) % 26],
                LAST[(id as usize * 11 + id as usize / 26) % 16],
            );
            let heavy = id > i64::from(o.users);
            let username = if heavy {
                format!("prolific_{first}{id}")
            } else {
                format!("{first}_{last}{id}")
            };
            let tenant = if heavy && id % 2 == 1 {
                2
            } else if rng.chance(0.85) {
                1
            } else {
                2 + rng.below(2) as i64
            };
            people.push(Person {
                id,
                first,
                last,
                email: format!("{first}.{last}.{id}@example.com"),
                username,
                tenant,
            });
            if !heavy {
                total += 0.05 + 3.0 * rng.f().powi(4);
                cum.push(total);
            }
        }
        let heavy: Vec<i64> = (i64::from(o.users) + 1..=all).collect();
        let mut mods = vec![1, 2, 3];
        mods.extend(heavy.first());
        Self {
            rng,
            o,
            people,
            cum,
            heavy,
            mods,
            recs: HashMap::new(),
            ids: HashMap::new(),
            seen: HashSet::new(),
            statements: Vec::new(),
            current: String::new(),
            buf_table: String::new(),
            objects: Vec::new(),
            stats: BTreeMap::new(),
            after: Vec::new(),
        }
    }

    /// A weighted-random ordinary user (skewed: a few are very active).
    pub(crate) fn actor(&mut self) -> i64 {
        let total = self.cum.last().copied().unwrap_or(1.0);
        let x = self.rng.f() * total;
        self.cum.partition_point(|c| *c < x) as i64 + 1
    }

    /// Any user but the placeholder, heavy subjects included (they are popular).
    pub(crate) fn anyone(&mut self) -> i64 {
        if !self.heavy.is_empty() && self.rng.chance(0.25) {
            *self.rng.of(&self.heavy.clone())
        } else {
            self.actor()
        }
    }

    /// Someone other than `not`.
    pub(crate) fn other(&mut self, not: i64) -> i64 {
        for _ in 0..16 {
            let id = self.anyone();
            if id != not {
                return id;
            }
        }
        if not == 1 { 2 } else { 1 }
    }

    pub(crate) fn person(&self, id: i64) -> &Person {
        &self.people[id as usize]
    }

    pub(crate) fn username(&self, id: i64) -> String {
        self.people[id as usize].username.clone()
    }

    /// The next id of a table.
    pub(crate) fn id(&mut self, table: &str) -> i64 {
        let n = self.ids.entry(table.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    /// Remembers a row for later picks.
    pub(crate) fn rec(&mut self, table: &str, rec: Rec) {
        self.recs.entry(table.to_owned()).or_default().push(rec);
    }

    pub(crate) fn recs(&self, table: &str) -> &[Rec] {
        self.recs.get(table).map_or(&[], |v| v.as_slice())
    }

    /// A random row of a table.
    pub(crate) fn pick(&mut self, table: &str) -> Option<Rec> {
        let n = self.recs(table).len();
        let i = self.rng.below(n);
        self.recs(table).get(i).copied()
    }

    /// A random row of a table, preferably not owned by `user`.
    pub(crate) fn pick_not(&mut self, table: &str, user: i64) -> Option<Rec> {
        let mut last = None;
        for _ in 0..8 {
            last = self.pick(table);
            if last.is_some_and(|r| r.owner != user) {
                break;
            }
        }
        last
    }

    /// Whether `(table, a, b)` is new (for unique keys).
    pub(crate) fn once(&mut self, table: &str, a: i64, b: i64) -> bool {
        let h = table.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
            (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
        });
        self.seen.insert((h, a, b))
    }

    /// Rows for ordinary users at `rate` per user.
    pub(crate) fn n(&self, rate: f64) -> usize {
        (f64::from(self.o.users) * rate).round() as usize
    }

    /// Rows for one heavy subject: `share` of `heavy_rows`.
    pub(crate) fn heavy_n(&self, share: f64) -> usize {
        (self.o.heavy_rows as f64 * share).round() as usize
    }

    /// Rows for one heavy subject: `share` of `heavy_objects`.
    pub(crate) fn heavy_objects(&self, share: f64) -> usize {
        (f64::from(self.o.heavy_objects) * share).round().max(1.0) as usize
    }

    pub(crate) fn ts(&mut self) -> V {
        V::T(self.rng.range(0, 730 * 86_400))
    }

    pub(crate) fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.rng.below(255),
            self.rng.below(255),
            1 + self.rng.below(254)
        )
    }

    /// Appends a row to the statement being built.
    pub(crate) fn put(&mut self, table: &str, cols: &[&str], owner: i64, row: Vec<V>) {
        debug_assert_eq!(cols.len(), row.len(), "{table}");
        let entry = self.stats.entry(table.to_owned()).or_default();
        entry.0 += 1;
        if self.heavy.contains(&owner) {
            entry.1 += 1;
        }
        if self.buf_table != table || self.current.len() > STATEMENT_BYTES {
            self.end_statement();
            let cols: Vec<String> = cols.iter().map(|c| q(c)).collect();
            let _ = write!(
                self.current,
                "INSERT INTO {} ({}) VALUES\n(",
                q(table),
                cols.join(", ")
            );
            self.buf_table = table.to_owned();
        } else {
            self.current.push_str(",\n(");
        }
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.current.push_str(", ");
            }
            v.render(&mut self.current);
        }
        self.current.push(')');
    }

    fn end_statement(&mut self) {
        if !self.current.is_empty() {
            self.current.push_str(";\n");
            self.statements.push(std::mem::take(&mut self.current));
        }
        self.buf_table.clear();
    }

    /// Generates `users × rate` rows by weighted-random ordinary users and, for each
    /// heavy subject, `heavy_rows × share` rows; `row` returns `None` to skip one.
    pub(crate) fn rows<F>(&mut self, table: &str, cols: &[&str], rate: f64, share: f64, mut row: F)
    where
        F: FnMut(&mut Self, i64, bool) -> Option<Vec<V>>,
    {
        for _ in 0..self.n(rate) {
            let actor = self.actor();
            if let Some(r) = row(self, actor, false) {
                self.put(table, cols, actor, r);
            }
        }
        for h in self.heavy.clone() {
            for _ in 0..self.heavy_n(share) {
                if let Some(r) = row(self, h, true) {
                    self.put(table, cols, h, r);
                }
            }
        }
    }

    /// An object to upload.
    pub(crate) fn object(&mut self, bucket: &'static str, key: &str, png: u32) {
        self.objects.push(Obj {
            bucket,
            key: key.to_owned(),
            png,
        });
    }
}

/// Plans the whole seed.
pub(crate) fn generate(o: &LargeOptions) -> Plan {
    let mut g = Gen::new(o);
    super::seed_accounts::accounts(&mut g);
    super::seed_content::content(&mut g);
    super::seed_publishing::publishing(&mut g);
    super::seed_messaging::messaging(&mut g);
    super::seed_money::money(&mut g);
    super::seed_moderation::legacy(&mut g);
    for (i, module) in super::modules::MODULES.iter().enumerate() {
        super::seed_modules::module(&mut g, module, i);
    }
    g.end_statement();
    let mut statements = std::mem::take(&mut g.statements);
    statements.append(&mut g.after);
    Plan {
        statements,
        heavy: g.heavy,
        objects: g.objects,
        stats: g.stats,
    }
}

/// Moves every serial and identity sequence past the seeded ids.
pub(crate) fn reset_sequences(tables: &[Table]) -> String {
    let mut sql = String::new();
    for t in tables.iter().filter(|t| {
        t.columns
            .iter()
            .any(|(c, ty)| c == "id" && (ty.contains("SERIAL") || ty.contains("IDENTITY")))
    }) {
        let _ = writeln!(
            sql,
            "SELECT setval(pg_get_serial_sequence('{n}', 'id'), greatest(1, (SELECT max(\"id\") FROM {n})));",
            n = q(&t.name).replace('\'', "''")
        );
    }
    sql
}
