//! Collections, articles, the forum, chat, messages, notifications and tracking.

use super::FILES;
use super::model::{Act, ColRule, ObjectCol, OnDelete::*, Table, Unlink};

const NOW: &str = "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP";
const COUNT: &str = "INTEGER NOT NULL DEFAULT 0";

/// Collections, articles and the forum.
pub(crate) fn publishing() -> Vec<Table> {
    vec![
        Table::new(
            "Collection",
            "Collections of images; a trigger counts items.",
        )
        .id()
        .fk("userId", "User", Cascade)
        .col("name", "TEXT NOT NULL")
        .col("description", "TEXT")
        .fk("coverImageId", "Image", SetNull)
        .col("itemCount", COUNT),
        Table::new(
            "CollectionItem",
            "Items of a collection, keyed by position; anyone may add to a shared collection.",
        )
        .fk("collectionId", "Collection", Cascade)
        .col("position", "INTEGER NOT NULL")
        .pk(&["collectionId", "position"])
        .fk("imageId", "Image", Cascade)
        .fk("addedById", "User", SetNull)
        .col("note", "TEXT")
        .counter("Collection", "collectionId", "itemCount"),
        Table::new(
            "CollectionItemNote",
            "Notes on a collection item (composite key into \"CollectionItem\").",
        )
        .id()
        .col("collectionId", "INTEGER NOT NULL")
        .col("position", "INTEGER NOT NULL")
        .fk_cols(
            &["collectionId", "position"],
            "CollectionItem",
            &["collectionId", "position"],
            Cascade,
            Act::Default,
        )
        .fk("userId", "User", Cascade)
        .col("body", "TEXT NOT NULL"),
        Table::new(
            "CollectionContributor",
            "People who may add to a collection.",
        )
        .fk("collectionId", "Collection", Cascade)
        .fk("userId", "User", Cascade)
        .col("permissions", "TEXT[] NOT NULL DEFAULT '{}'")
        .pk(&["collectionId", "userId"]),
        Table::new("Article", "Long-form articles; the cover is a CDN URL.")
            .id()
            .fk("userId", "User", Cascade)
            .col("title", "TEXT NOT NULL")
            .col("content", "TEXT NOT NULL")
            .col("coverUrl", "TEXT")
            .col("publishedAt", "TIMESTAMP(3)")
            .object(ObjectCol::Url {
                bucket: FILES,
                column: "coverUrl".into(),
            }),
        Table::new(
            "ArticleRevision",
            "Revisions of an article, chained by \"previousRevisionId\".",
        )
        .id()
        .fk("articleId", "Article", Cascade)
        .fk("editorId", "User", SetNull)
        .fk("previousRevisionId", "ArticleRevision", SetNull)
        .col("content", "TEXT NOT NULL")
        .col("createdAt", NOW),
        Table::new("ForumThread", "Forum threads.")
            .id()
            .fk("userId", "User", Cascade)
            .col("title", "TEXT NOT NULL")
            .fk("lockedById", "User", SetNull)
            .col("createdAt", NOW),
        Table::new(
            "ForumPost",
            "Forum posts; replies survive their parent (SET NULL) but quote its author.",
        )
        .id()
        .fk("threadId", "ForumThread", Cascade)
        .fk("userId", "User", Cascade)
        .fk_with(
            "parentId",
            "ForumPost",
            SetNull,
            true,
            Act::Anonymize(Unlink::Keep, vec![("body".into(), ColRule::Redact)]),
        )
        .col("body", "TEXT NOT NULL")
        .col("createdAt", NOW)
        .identity(&["body"]),
    ]
}

/// Chat, messages, notifications and tracking.
pub(crate) fn messaging() -> Vec<Table> {
    let delete = || Act::Delete;
    vec![
        Table::new("Chat", "Group chats (cuid keys).")
            .text_id()
            .fk("createdById", "User", SetNull)
            .col("title", "TEXT")
            .col("createdAt", NOW),
        Table::new("ChatMember", "Members of a chat.")
            .col("chatId", "TEXT NOT NULL")
            .fk_cols(&["chatId"], "Chat", &["id"], Cascade, Act::Default)
            .fk("userId", "User", Cascade)
            .pk(&["chatId", "userId"])
            .col("lastViewedAt", "TIMESTAMP(3)"),
        Table::new(
            "ChatMessage",
            "Chat messages; the sender key is SET NULL, but a leaver's messages go.",
        )
        .id()
        .col("chatId", "TEXT NOT NULL")
        .fk_cols(&["chatId"], "Chat", &["id"], Cascade, Act::Default)
        .user_act("senderId", SetNull, delete())
        .col("content", "TEXT NOT NULL")
        .col("attachmentKey", "TEXT")
        .col("createdAt", NOW)
        .object(ObjectCol::Key {
            bucket: FILES,
            column: "attachmentKey".into(),
        }),
        Table::new("DirectMessage", "One-to-one messages.")
            .id()
            .fk("senderId", "User", Cascade)
            .fk("recipientId", "User", Cascade)
            .col("body", "TEXT NOT NULL")
            .col("readAt", "TIMESTAMP(3)")
            .identity(&["body"]),
        Table::new(
            "Notification",
            "Notifications; the actor is a soft link and is named inside the JSON payload.",
        )
        .id()
        .fk("userId", "User", Cascade)
        .soft(
            "actorId",
            "User",
            true,
            Act::Anonymize(Unlink::Null, vec![("payload".into(), ColRule::Redact)]),
        )
        .col("type", "TEXT NOT NULL")
        .col("payload", "JSONB NOT NULL DEFAULT '{}'")
        .col("readAt", "TIMESTAMP(3)")
        .identity(&["payload"]),
        Table::new("NotificationSetting", "Disabled notification types.")
            .fk("userId", "User", Cascade)
            .col("type", "TEXT NOT NULL")
            .pk(&["userId", "type"])
            .col("disabled", "BOOLEAN NOT NULL DEFAULT true"),
        Table::new("UserActivity", "Activity log (soft link, no foreign key).")
            .id()
            .soft("userId", "User", false, delete())
            .col("activity", "TEXT NOT NULL")
            .col("details", "JSONB")
            .col("createdAt", NOW),
        Table::new(
            "PostView",
            "Post views: soft links to the post and the viewer.",
        )
        .id()
        .soft("postId", "Post", false, delete())
        .soft("viewerId", "User", true, delete())
        .col("viewedAt", NOW),
        Table::new("ModelDownload", "Downloads (soft link to the version).")
            .id()
            .soft("modelVersionId", "ModelVersion", false, delete())
            .fk_opt("userId", "User", Cascade)
            .col("ipAddress", "INET")
            .col("downloadedAt", NOW),
        Table::new("Vault", "Personal storage quota, keyed by the user.")
            .fk("userId", "User", Cascade)
            .pk(&["userId"])
            .col("storageKb", COUNT),
        Table::new(
            "VaultItem",
            "Saved versions; \"vaultId\" is the owner's user id.",
        )
        .id()
        .col("vaultId", "BIGINT NOT NULL")
        .fk_cols(&["vaultId"], "Vault", &["userId"], Cascade, Act::Default)
        .fk("modelVersionId", "ModelVersion", SetNull)
        .col("files", "JSONB NOT NULL DEFAULT '[]'")
        .col("notes", "TEXT"),
        Table::new("UserMetric", "Per-user metrics.")
            .fk("userId", "User", Cascade)
            .col("timeframe", "TEXT NOT NULL")
            .col("followerCount", COUNT)
            .col("reactionCount", COUNT)
            .pk(&["userId", "timeframe"]),
    ]
}
