//! Unit tests of the map discovery writes.

use super::*;
use crate::datamap::propose::tests::platform;
use crate::datamap::rule::{Action, ColumnRule};
use crate::datamap::sample::Samples;
use crate::datamap::spec::{Category, DataMap};

#[test]
fn the_written_map_parses_and_leaves_every_open_decision_as_todo() {
    let (catalog, subject) = platform();
    let proposal = propose(&catalog, &subject, "public", &[]);
    let found = write(
        &catalog,
        "public",
        &subject,
        proposal,
        &[],
        &[],
        &Samples::default(),
    );
    let map = DataMap::parse(&found.text).unwrap_or_else(|e| panic!("{e}\n{}", found.text));
    assert_eq!(map.links["images.user_id"].action, Some(Action::Delete));
    assert_eq!(map.links["users.referred_by"].action, Some(Action::Leave));
    for undecided in [
        "contacts.user_id",
        "payments.user_id",
        "tax_profiles.user_id",
        "reviews.reviewer_id",
        "comment_flags.comment_id",
    ] {
        assert!(
            matches!(map.links[undecided].action, Some(Action::Undecided(_))),
            "{undecided}:\n{}",
            found.text
        );
    }
    assert!(
        map.links["payments.user_id"]
            .basis
            .as_deref()
            .is_some_and(|b| b.starts_with("TODO"))
    );
    assert!(
        map.subject
            .placeholder
            .as_deref()
            .is_some_and(|p| p.starts_with("TODO"))
    );
    assert!(
        found
            .text
            .contains("# tombstone = { email = \"deleted-{hash}@tombstone.invalid\""),
        "{}",
        found.text
    );
    assert!(found.text.contains(
        "\"contacts.user_id\" = \"TODO: delete, detach, reassign or retain\"  # ON DELETE RESTRICT"
    ));
    assert_eq!(map.category_of("payments"), Category::Payments);
    assert_eq!(map.category_of("users"), Category::Account);
    assert!(found.undecided >= 8, "{}", found.undecided);
}

#[test]
fn kept_rows_naming_people_get_a_rule_and_object_columns_an_entry() {
    let (catalog, subject) = platform();
    let proposal = propose(&catalog, &subject, "public", &[]);
    let asks = [
        Probe::Identities {
            table: "tags".into(),
            column: "note".into(),
            json_paths: vec![],
            rows_with: vec!["creator_id".into()],
            own: vec![],
        },
        Probe::Identities {
            table: "comments".into(),
            column: "body".into(),
            json_paths: vec![],
            rows_with: vec!["image_id".into()],
            own: vec![],
        },
        Probe::ObjectKeys {
            table: "images".into(),
            column: "object_key".into(),
        },
        Probe::ObjectKeys {
            table: "images".into(),
            column: "source_url".into(),
        },
    ];
    let samples = Samples {
        counts: vec![
            Some(vec![10, 0, 0, 3]),
            Some(vec![10, 0, 0, 3]),
            Some(vec![50, 0, 0, 50]),
            Some(vec![50, 50, 0, 0]),
        ],
        failed: BTreeMap::new(),
    };
    let found = write(&catalog, "public", &subject, proposal, &[], &asks, &samples);
    let map = DataMap::parse(&found.text).unwrap();
    assert_eq!(
        map.links["tags.creator_id"].anonymize.get("note"),
        Some(&ColumnRule::Redact),
        "{}",
        found.text
    );
    assert!(
        !map.tables.contains_key("comments"),
        "comments under images are deleted, not kept"
    );
    assert_eq!(map.objects.len(), 1);
    assert_eq!(map.objects[0].column.as_deref(), Some("object_key"));
    assert!(map.objects[0].bucket.starts_with("TODO"));
    assert!(found.text.contains("not written): images.source_url"));
}
