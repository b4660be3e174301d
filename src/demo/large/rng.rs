//! The seeder's randomness and values: SplitMix64, and row values rendered as SQL
//! literals.

use std::fmt::Write as _;

/// 2023-01-01T00:00:00Z.
const EPOCH: i64 = 1_672_531_200;

/// SplitMix64: small, fast, and the same everywhere.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as usize) as i64
    }
    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next());
        }
        s.truncate(len);
        s
    }
    pub(crate) fn of<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A value in a row.
pub(crate) enum V {
    I(i64),
    N,
    S(String),
    J(serde_json::Value),
    B(bool),
    /// Seconds since 2023-01-01.
    T(i64),
    A(Vec<String>),
    F(f64),
}

fn literal(out: &mut String, s: &str) {
    out.push('\'');
    out.push_str(&s.replace('\'', "''"));
    out.push('\'');
}

impl V {
    pub(crate) fn render(&self, out: &mut String) {
        match self {
            V::I(i) => {
                let _ = write!(out, "{i}");
            }
            V::N => out.push_str("NULL"),
            V::S(s) => literal(out, s),
            V::J(j) => literal(out, &j.to_string()),
            V::B(b) => out.push_str(if *b { "true" } else { "false" }),
            V::T(secs) => {
                let t = chrono::DateTime::from_timestamp(EPOCH + secs, 0).unwrap_or_default();
                literal(out, &t.format("%Y-%m-%d %H:%M:%S").to_string());
            }
            V::A(items) => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|i| format!("\"{}\"", i.replace('"', "")))
                    .collect();
                literal(out, &format!("{{{}}}", inner.join(",")));
            }
            V::F(f) => {
                let _ = write!(out, "{f:.2}");
            }
        }
    }
}
