//! Unit tests of the name heuristics.

use super::personal::PersonalKind;
use super::*;
use crate::datamap::catalog::{Catalog, ColumnInfo};
use crate::datamap::spec::Category;

#[test]
fn identifiers_split_into_words_in_every_style() {
    assert_eq!(words("fromUserId"), ["from", "user", "id"]);
    assert_eq!(words("from_user_id"), ["from", "user", "id"]);
    assert_eq!(words("APIKey"), ["api", "key"]);
    assert_eq!(words("ModelVersion"), ["model", "version"]);
    assert_eq!(words("address_line1"), ["address", "line"]);
    assert_eq!(words("userID"), ["user", "id"]);
    assert_eq!(squashed("model_versions"), "modelversions");
}

#[test]
fn personal_columns_are_recognised_in_any_style() {
    for (table, column, kind) in [
        ("users", "email", PersonalKind::Email),
        ("User", "signupIp", PersonalKind::IpAddress),
        ("Session", "ipAddress", PersonalKind::IpAddress),
        ("Session", "userAgent", PersonalKind::UserAgent),
        ("Purchase", "billingName", PersonalKind::Name),
        ("Purchase", "billingAddress", PersonalKind::Address),
        ("TaxProfile", "taxId", PersonalKind::Identifier),
        ("User", "birthDate", PersonalKind::Birth),
        ("users", "name", PersonalKind::Name),
        ("contacts", "mobile_number", PersonalKind::Phone),
    ] {
        assert_eq!(personal_kind(table, column), Some(kind), "{table}.{column}");
    }
    for column in [
        "emailVerified",
        "phone_confirmed_at",
        "addressId",
        "file_name",
        "title",
        "object_key",
    ] {
        assert_eq!(personal_kind("things", column), None, "{column}");
    }
    assert_eq!(personal_kind("Model", "name"), None);
}

#[test]
fn person_references_are_recognised_in_any_style() {
    for column in [
        "userId",
        "user_id",
        "fromUserId",
        "ownerId",
        "owner_id",
        "createdById",
        "authorId",
        "viewerId",
        "actorId",
        "reviewed_by",
        "created_by",
        "invitedById",
        "subscriberId",
        "owner",
    ] {
        assert!(looks_like_person_reference(column), "{column}");
    }
    for column in [
        "id",
        "postId",
        "image_id",
        "orderId",
        "created_at",
        "providerId",
        "userName",
        "parentId",
    ] {
        assert!(!looks_like_person_reference(column), "{column}");
    }
}

#[test]
fn references_name_their_table() {
    let tables = ["Post", "ModelVersion", "images", "Image", "categories"];
    assert_eq!(referenced_table("postId", &tables), Some("Post"));
    assert_eq!(
        referenced_table("modelVersionId", &tables),
        Some("ModelVersion")
    );
    assert_eq!(referenced_table("image_id", &tables), Some("images"));
    assert_eq!(referenced_table("coverImageId", &["Image"]), Some("Image"));
    assert_eq!(referenced_table("category_id", &tables), Some("categories"));
    assert_eq!(referenced_table("viewerId", &tables), None);
}

fn col(name: &str, sql_type: &str) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        sql_type: sql_type.into(),
        not_null: false,
        has_default: false,
    }
}

#[test]
fn object_key_columns_are_told_from_other_keys() {
    for name in [
        "storageKey",
        "object_key",
        "bannerUrl",
        "file_url",
        "avatarPath",
        "attachmentKey",
    ] {
        assert!(looks_like_object_key(&col(name, "text")), "{name}");
    }
    for name in [
        "apiKey",
        "idempotency_key",
        "websiteUrl",
        "callback_url",
        "sessionToken",
        "keyboard",
    ] {
        assert!(!looks_like_object_key(&col(name, "text")), "{name}");
    }
    assert!(!looks_like_object_key(&col("storageKey", "bigint")));
}

#[test]
fn tables_fall_into_several_categories() {
    let catalog = Catalog::default();
    for (table, category) in [
        ("Session", Category::Security),
        ("ApiKey", Category::Security),
        ("UserProfile", Category::Account),
        ("NotificationSetting", Category::Preferences),
        ("marketing_preferences", Category::Preferences),
        ("ChallengeReport", Category::Moderation),
        ("moderation_reports", Category::Moderation),
        ("user_ip_history", Category::DeviceLocation),
        ("ImageReaction", Category::Activity),
        ("UserActivity", Category::Activity),
        ("follows", Category::Activity),
        ("Purchase", Category::Payments),
        ("tips", Category::Payments),
        ("Image", Category::Content),
        ("model_versions", Category::Content),
    ] {
        assert_eq!(category_for(&catalog, table), category, "{table}");
    }
    assert!(is_money_record(&catalog, "TaxProfile"));
    assert!(is_money_record(&catalog, "payments"));
    assert!(!is_money_record(&catalog, "Image"));
    assert!(!is_money_record(&catalog, "multiple_choices"));
}
