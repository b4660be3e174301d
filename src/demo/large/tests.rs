use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::{Act, Effect, OnDelete, Table, Unlink};
use super::*;

fn user_edges(tables: &[Table]) -> Vec<(&Table, &model::Edge)> {
    tables
        .iter()
        .flat_map(|t| t.edges.iter().filter(|e| e.to_user()).map(move |e| (t, e)))
        .collect()
}

#[test]
fn schema_is_large_and_messy() {
    let sql = schema_sql();
    let tables = schema::tables();
    assert!(
        sql.matches("CREATE TABLE").count() >= 250,
        "{} tables",
        sql.matches("CREATE TABLE").count()
    );
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), tables.len(), "table names are unique");
    let edges = user_edges(&tables);
    let fks: Vec<_> = edges
        .iter()
        .filter(|(_, e)| e.on_delete.is_some())
        .collect();
    let count = |rule: &[OnDelete]| {
        fks.iter()
            .filter(|(_, e)| e.on_delete.is_some_and(|r| rule.contains(&r)))
            .count()
    };
    let (cascade, set_null, restrict) = (
        count(&[OnDelete::Cascade]),
        count(&[OnDelete::SetNull]),
        count(&[OnDelete::Restrict, OnDelete::NoAction]),
    );
    let soft = edges.iter().filter(|(_, e)| e.on_delete.is_none()).count();
    println!(
        "{} tables; {} FKs into User: {cascade} CASCADE, {set_null} SET NULL, {restrict} RESTRICT/NO ACTION; {soft} soft links into User",
        tables.len(),
        fks.len()
    );
    assert!(fks.len() >= 160);
    assert!((18..=30).contains(&soft), "{soft} soft links");
    assert!(restrict * 100 / fks.len() >= 6 && set_null * 100 / fks.len() >= 15);
    assert!(
        fks.iter().any(|(_, e)| e.cols.len() == 2),
        "a composite key into User"
    );
    let mut per_table: HashMap<&str, usize> = HashMap::new();
    for (t, _) in &edges {
        *per_table.entry(t.name.as_str()).or_default() += 1;
    }
    assert!(
        per_table.values().filter(|n| **n >= 2).count() >= 10,
        "tables with several keys into User"
    );
    assert!(tables.iter().any(|t| t.legacy) && tables.iter().any(|t| !t.legacy));
    assert!(tables.iter().filter(|t| !t.counters.is_empty()).count() >= 20);
}

#[test]
fn every_blocking_or_soft_link_is_decided_and_deletes_form_a_dag() {
    let tables = schema::tables();
    for (t, e) in user_edges(&tables) {
        let blocks = matches!(
            e.on_delete,
            None | Some(OnDelete::Restrict | OnDelete::NoAction)
        );
        assert!(
            !blocks || e.act != Act::Default,
            "{} is undecided",
            e.link_key(&t.name)
        );
        if let Act::Retain(unlink, _) | Act::Anonymize(unlink, _) = &e.act {
            let cascades = matches!(
                e.on_delete,
                Some(OnDelete::Cascade | OnDelete::Restrict | OnDelete::NoAction)
            );
            assert!(
                !cascades || *unlink != Unlink::Keep,
                "{} needs unlink",
                e.link_key(&t.name)
            );
        }
    }
    // No table is both deleted and retained.
    for t in &tables {
        let deleted = t.edges.iter().any(|e| e.effect() == Effect::Delete);
        let retained = t.edges.iter().any(|e| matches!(e.act, Act::Retain(..)));
        assert!(!(deleted && retained), "{} is deleted and retained", t.name);
    }
    // Delete edges between different tables form a DAG.
    let index: HashMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    fn visit<'a>(
        name: &'a str,
        index: &HashMap<&str, &'a Table>,
        state: &mut HashMap<&'a str, bool>,
    ) {
        match state.get(name) {
            Some(true) => return,
            Some(false) => panic!("delete cycle through {name}"),
            None => {}
        }
        state.insert(name, false);
        if let Some(t) = index.get(name) {
            for e in t
                .edges
                .iter()
                .filter(|e| e.effect() == Effect::Delete && e.target != name)
            {
                visit(&e.target, index, state);
            }
        }
        state.insert(name, true);
    }
    let mut state = HashMap::new();
    for t in &tables {
        visit(&t.name, &index, &mut state);
    }
}

/// Parses a TOML string with the `config` crate (the lethe crate has no direct `toml`).
fn parse_toml(text: &str) -> serde_json::Value {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .expect("DECISIONS is TOML")
        .try_deserialize()
        .expect("as JSON")
}

#[test]
fn decisions_express_exactly_the_model() {
    let map = parse_toml(&data_map());
    let links = map["links"].as_object().expect("[links]");
    let tables = schema::tables();
    let mut expected: BTreeMap<String, &model::Edge> = BTreeMap::new();
    for t in &tables {
        for e in t.edges.iter().filter(|e| e.act != Act::Default) {
            expected.insert(e.link_key(&t.name), e);
        }
    }
    let got: BTreeSet<&str> = links.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = expected.keys().map(String::as_str).collect();
    assert_eq!(got, want);
    for (key, e) in &expected {
        let v = &links[key.as_str()];
        let action = v
            .as_str()
            .or_else(|| v["action"].as_str())
            .expect("an action");
        let unlink = v.get("unlink").and_then(|u| u.as_str());
        let (want_action, want_unlink) = match &e.act {
            Act::Delete => ("delete", None),
            Act::Detach => ("detach", None),
            Act::Reassign(Unlink::Tombstone) => ("reassign", Some("tombstone")),
            Act::Reassign(_) => ("reassign", None),
            Act::Retain(u, _) => ("retain", unlink_name(*u)),
            Act::Anonymize(u, _) => ("anonymize", unlink_name(*u)),
            Act::Default => unreachable!(),
        };
        assert_eq!((action, unlink), (want_action, want_unlink), "{key}");
        let anonymize: BTreeSet<String> = v
            .get("anonymize")
            .and_then(|a| a.as_object())
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default();
        let want: BTreeSet<String> = e.anonymize().iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(anonymize, want, "{key}");
        assert_eq!(
            v.get("soft").and_then(|s| s.as_bool()).unwrap_or(false),
            e.on_delete.is_none(),
            "{key}"
        );
        if e.on_delete.is_none() && !e.to_user() {
            assert_eq!(
                v["to"].as_str(),
                Some(format!("{}.id", e.target).as_str()),
                "{key}"
            );
        }
    }
    let objects = map["objects"].as_array().expect("[[objects]]");
    let got: BTreeSet<String> = objects.iter().map(|o| o.to_string()).collect();
    let want: BTreeSet<String> = tables
        .iter()
        .flat_map(|t| t.objects.iter().map(move |o| (t, o)))
        .map(|(t, o)| {
            let mut v = serde_json::json!({"table": t.name});
            match o {
                model::ObjectCol::Key { bucket, column } => {
                    v["bucket"] = (*bucket).into();
                    v["column"] = column.as_str().into();
                }
                model::ObjectCol::Url { bucket, column } => {
                    v["bucket"] = (*bucket).into();
                    v["column"] = column.as_str().into();
                    v["format"] = "url".into();
                }
                model::ObjectCol::Prefix {
                    bucket, template, ..
                } => {
                    v["bucket"] = (*bucket).into();
                    v["template"] = template.as_str().into();
                }
            }
            v.to_string()
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(map["subject"]["table"], SUBJECT.table);
    assert_eq!(map["subject"]["placeholder"], PLACEHOLDER_ID.to_string());
    let entries = links.len() + objects.len() + 1;
    assert!(
        entries < 70,
        "{entries} decisions for {} tables",
        tables.len()
    );
}

fn unlink_name(u: Unlink) -> Option<&'static str> {
    match u {
        Unlink::Keep => None,
        Unlink::Null => Some("null"),
        Unlink::Placeholder => Some("placeholder"),
        Unlink::Tombstone => Some("tombstone"),
    }
}

#[test]
fn answer_key_covers_every_table() {
    let key = answer_key();
    assert_eq!(key.tables.len(), schema::tables().len());
    assert!(key.tables.iter().filter(|t| t.gone.is_some()).count() >= 150);
    assert!(key.tables.iter().filter(|t| !t.kept.is_empty()).count() >= 20);
    assert_eq!(key.subject_objects.len(), BUCKETS.len());
    for t in &key.tables {
        assert!(!t.touched.is_empty());
        if let Some(g) = &t.gone {
            assert!(
                t.touched.contains(g.as_str()),
                "{}: gone ⊂ touched",
                t.table
            );
        }
    }
}

#[test]
fn seeding_is_deterministic_and_spread() {
    let o = LargeOptions::default();
    let a = seed::generate(&o);
    let b = seed::generate(&o);
    assert_eq!(a.statements, b.statements);
    assert_eq!(a.heavy.len(), 2);
    let tables = schema::tables();
    for t in &tables {
        assert!(
            a.stats.get(&t.name).is_some_and(|s| s.0 > 0),
            "{} has no rows",
            t.name
        );
    }
    let heavy: i64 = a.stats.values().map(|s| s.1).sum::<i64>() / 2;
    let spread = a.stats.values().filter(|s| s.1 >= 2).count();
    let rows: i64 = a.stats.values().map(|s| s.0).sum();
    println!(
        "{rows} rows, {} objects; per heavy subject ≈ {heavy} own rows in {spread} tables",
        a.objects.len()
    );
    assert!((2000..=4500).contains(&heavy), "{heavy} heavy rows");
    assert!(spread >= 50, "{spread} tables");
    let keys: BTreeSet<(&str, &str)> = a
        .objects
        .iter()
        .map(|o| (o.bucket, o.key.as_str()))
        .collect();
    assert_eq!(keys.len(), a.objects.len(), "object keys are unique");
}
