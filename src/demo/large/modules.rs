//! Feature modules: twenty product features (challenges, workflows, datasets, …) built
//! from one template with varied names, delete rules and hazards. Each has a root entity
//! owned by a user, the items people add to it, votes, a comment tree, reactions and
//! members (with counter triggers on the root), reports, revisions, an activity log
//! (often a soft link), daily stats, tags and sometimes files.

use super::FILES;
use super::model::{Act, ObjectCol, OnDelete, OnDelete::*, Table};

/// A file column of a module's asset table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    pub column: &'static str,
    pub url: bool,
}

/// One feature module.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Module {
    pub root: &'static str,
    pub owner: &'static str,
    pub owner_rule: OnDelete,
    /// For a RESTRICT owner: reassign the root to the placeholder (others' items stay)
    /// instead of deleting it.
    pub owner_reassign: bool,
    pub item: &'static str,
    pub item_user: &'static str,
    pub item_image: Option<OnDelete>,
    pub vote: Option<&'static str>,
    pub comment: &'static str,
    pub reaction: &'static str,
    pub member: &'static str,
    pub inviter: bool,
    pub report: &'static str,
    pub reporter_rule: OnDelete,
    pub resolver: bool,
    pub revision: Option<&'static str>,
    pub log: &'static str,
    pub log_actor: &'static str,
    pub log_soft: bool,
    pub stat: &'static str,
    pub asset: Option<Asset>,
    pub cover_image: bool,
    pub version_link: bool,
}

const BASE: Module = Module {
    root: "",
    owner: "userId",
    owner_rule: Cascade,
    owner_reassign: false,
    item: "Entry",
    item_user: "userId",
    item_image: None,
    vote: None,
    comment: "Comment",
    reaction: "Reaction",
    member: "Follower",
    inviter: false,
    report: "Report",
    reporter_rule: Cascade,
    resolver: false,
    revision: None,
    log: "Event",
    log_actor: "userId",
    log_soft: false,
    stat: "Stat",
    asset: None,
    cover_image: false,
    version_link: false,
};

/// The twenty modules (one per line: a data table).
#[rustfmt::skip]
pub(crate) const MODULES: [Module; 20] = [
    Module { root: "Challenge", owner: "createdById", item_image: Some(Cascade), vote: Some("Vote"), resolver: true, revision: Some("Revision"), log: "Activity", log_actor: "actorId", log_soft: true, stat: "DailyStat", asset: Some(Asset { column: "coverKey", url: false }), ..BASE },
    Module { root: "Event", owner: "hostId", owner_rule: Restrict, item: "Participant", member: "Subscriber", inviter: true, reporter_rule: Restrict, log: "Log", log_soft: true, stat: "Metric", cover_image: true, ..BASE },
    Module { root: "Workflow", item: "Run", item_image: Some(SetNull), vote: Some("Rating"), comment: "Discussion", reaction: "Star", member: "Collaborator", inviter: true, report: "Flag", reporter_rule: SetNull, resolver: true, revision: Some("Version"), stat: "DailyStat", asset: Some(Asset { column: "attachmentUrl", url: true }), version_link: true, ..BASE },
    Module { root: "Dataset", owner: "ownerId", item: "Sample", item_user: "contributorId", item_image: Some(Cascade), vote: Some("Vote"), reaction: "Like", member: "Maintainer", inviter: true, revision: Some("Revision"), log: "Download", log_soft: true, asset: Some(Asset { column: "fileKey", url: false }), ..BASE },
    Module { root: "TrainingRun", owner_rule: Restrict, item: "Checkpoint", comment: "Note", member: "Watcher", log_soft: true, stat: "Metric", version_link: true, ..BASE },
    Module { root: "Gallery", owner: "curatorId", item: "Exhibit", item_user: "artistId", item_image: Some(Cascade), vote: Some("Vote"), reporter_rule: Restrict, resolver: true, log: "View", log_actor: "viewerId", log_soft: true, stat: "DailyStat", ..BASE },
    Module { root: "Tutorial", owner: "authorId", item: "Step", item_image: Some(SetNull), comment: "Question", member: "Learner", reporter_rule: SetNull, revision: Some("Revision"), log: "Progress", log_soft: true, ..BASE },
    Module { root: "Poll", owner: "createdById", item: "Option", vote: Some("Vote"), member: "Participant", reporter_rule: Restrict, log: "Audit", log_actor: "createdById", log_soft: true, ..BASE },
    Module { root: "Livestream", owner: "streamerId", item: "Clip", item_user: "clipperId", item_image: Some(SetNull), vote: Some("Like"), comment: "ChatLine", member: "Viewer", reporter_rule: SetNull, resolver: true, stat: "Metric", cover_image: true, ..BASE },
    Module { root: "Commission", owner: "artistId", owner_rule: Restrict, owner_reassign: true, item: "Request", item_user: "requesterId", comment: "Message", report: "Dispute", resolver: true, revision: Some("Revision"), log: "Log", ..BASE },
    Module { root: "Studio", owner: "ownerId", owner_rule: Restrict, owner_reassign: true, item: "Project", item_image: Some(SetNull), member: "Member", inviter: true, resolver: true, revision: Some("Revision"), log: "AuditLog", log_actor: "actorId", log_soft: true, ..BASE },
    Module { root: "Wildcard", vote: Some("Vote"), revision: Some("Version"), log: "Usage", log_soft: true, version_link: true, ..BASE },
    Module { root: "Showcase", item: "Item", item_image: Some(Cascade), stat: "DailyStat", cover_image: true, ..BASE },
    Module { root: "Quest", owner: "createdById", item: "Completion", item_image: Some(SetNull), member: "Participant", inviter: true, reporter_rule: SetNull, resolver: true, revision: Some("Revision"), log_soft: true, ..BASE },
    Module { root: "StylePack", owner: "creatorId", item: "Preset", vote: Some("Rating"), member: "Subscriber", revision: Some("Revision"), log: "Export", log_actor: "ownerId", log_soft: true, version_link: true, ..BASE },
    Module { root: "Guild", owner: "leaderId", owner_rule: Restrict, item: "Channel", item_user: "createdById", comment: "Message", member: "Member", inviter: true, reporter_rule: SetNull, resolver: true, log: "AuditLog", log_actor: "actorId", ..BASE },
    Module { root: "Newsletter", owner: "publisherId", item: "Issue", item_user: "authorId", member: "Subscriber", report: "Complaint", resolver: true, revision: Some("Revision"), log: "Open", log_actor: "subscriberId", log_soft: true, ..BASE },
    Module { root: "Auction", owner: "sellerId", owner_rule: Restrict, item: "Bid", item_user: "bidderId", comment: "Question", member: "Watcher", reporter_rule: NoAction, resolver: true, cover_image: true, ..BASE },
    Module { root: "contest", item_image: Some(Cascade), vote: Some("Vote"), member: "Judge", inviter: true, reporter_rule: SetNull, log: "Audit", log_soft: true, ..BASE },
    Module { root: "prompt_library", owner: "ownerId", owner_rule: Restrict, item: "Prompt", vote: Some("Vote"), revision: Some("Revision"), log: "Usage", ..BASE },
];

/// `createdAt` → `created_at`.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

impl Module {
    /// Whether the module predates the Prisma naming (snake_case).
    pub(crate) fn legacy(&self) -> bool {
        self.root
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_')
    }

    /// A table of the module: `Challenge` + `Entry` → `ChallengeEntry` (or `contest_entry`).
    pub(crate) fn table(&self, suffix: &str) -> String {
        match (suffix.is_empty(), self.legacy()) {
            (true, _) => self.root.to_owned(),
            (false, false) => format!("{}{suffix}", self.root),
            (false, true) => format!("{}_{}", self.root, snake(suffix)),
        }
    }

    /// A column name in the module's style.
    pub(crate) fn col(&self, camel: &str) -> String {
        if self.legacy() {
            snake(camel)
        } else {
            camel.to_owned()
        }
    }

    /// The column naming the root: `challengeId` (or `contest_id`).
    pub(crate) fn root_fk(&self) -> String {
        if self.legacy() {
            format!("{}_id", self.root)
        } else {
            format!("{}Id", lower_first(self.root))
        }
    }

    /// The column naming an item: `entryId` (or `entry_id`).
    pub(crate) fn item_fk(&self) -> String {
        self.col(&format!("{}Id", lower_first(self.item)))
    }

    /// The root's counter of items: `entryCount`.
    pub(crate) fn item_count(&self) -> String {
        self.col(&format!("{}Count", lower_first(self.item)))
    }

    /// The vote table, if any.
    pub(crate) fn vote_table(&self) -> Option<String> {
        self.vote.map(|v| self.table(&format!("{}{v}", self.item)))
    }

    /// The asset table, if any.
    pub(crate) fn asset_table(&self) -> Option<String> {
        self.asset.map(|_| self.table("Asset"))
    }

    /// The module's tables.
    pub(crate) fn tables(&self) -> Vec<Table> {
        let c = |n: &str| self.col(n);
        let now = if self.legacy() {
            "timestamptz NOT NULL DEFAULT now()"
        } else {
            "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP"
        };
        let count = "INTEGER NOT NULL DEFAULT 0";
        let (root, rfk) = (self.table(""), self.root_fk());
        let mut out = Vec::new();

        let owner_act = match (self.owner_rule, self.owner_reassign) {
            (Cascade, _) => Act::Default,
            (_, true) => Act::Reassign(super::model::Unlink::Placeholder),
            (_, false) => Act::Delete,
        };
        let mut t = Table::new(&root, &format!("{} (feature module root).", self.root))
            .id()
            .user_act(&c(self.owner), self.owner_rule, owner_act)
            .col("name", "TEXT NOT NULL")
            .col("description", "TEXT")
            .col("status", "TEXT NOT NULL DEFAULT 'active'")
            .col("settings", "JSONB");
        if self.cover_image {
            t = t.fk(&c("coverImageId"), "Image", SetNull);
        }
        if self.version_link {
            t = t.fk(&c("modelVersionId"), "ModelVersion", SetNull);
        }
        out.push(
            t.col(&self.item_count(), count)
                .col(&c("reactionCount"), count)
                .col(&c("createdAt"), now),
        );

        let item = self.table(self.item);
        let mut t = Table::new(&item, &format!("What people add to a {}.", self.root))
            .id()
            .fk(&rfk, &root, Cascade)
            .fk(&c(self.item_user), "User", Cascade);
        if let Some(rule) = self.item_image {
            t = t.fk(&c("imageId"), "Image", rule);
        }
        out.push(
            t.col("content", "TEXT")
                .col("meta", "JSONB")
                .col(&c("createdAt"), now)
                .counter(&root, &rfk, &self.item_count()),
        );

        if let Some(vote) = self.vote_table() {
            out.push(
                Table::new(&vote, "Votes on items.")
                    .fk(&self.item_fk(), &item, Cascade)
                    .fk(&c("userId"), "User", Cascade)
                    .col("score", "INTEGER NOT NULL")
                    .pk(&[&self.item_fk(), &c("userId")]),
            );
        }

        let comment = self.table(self.comment);
        out.push(
            Table::new(
                &comment,
                "Comment tree; replies quote their parent's author.",
            )
            .id()
            .fk(&rfk, &root, Cascade)
            .fk(&c("userId"), "User", Cascade)
            .fk_opt(&c("parentId"), &comment, Cascade)
            .col("body", "TEXT NOT NULL")
            .col(&c("createdAt"), now)
            .identity(&["body"]),
        );

        out.push(
            Table::new(
                &self.table(self.reaction),
                "Reactions; a trigger counts them on the root.",
            )
            .fk(&rfk, &root, Cascade)
            .fk(&c("userId"), "User", Cascade)
            .col("reaction", "TEXT NOT NULL")
            .pk(&[&rfk, &c("userId")])
            .counter(&root, &rfk, &c("reactionCount")),
        );

        let mut t = Table::new(&self.table(self.member), "Members and followers.")
            .fk(&rfk, &root, Cascade)
            .fk(&c("userId"), "User", Cascade);
        if self.inviter {
            t = t.fk(&c("invitedById"), "User", SetNull);
        }
        out.push(
            t.col("role", "TEXT NOT NULL")
                .col(&c("joinedAt"), now)
                .pk(&[&rfk, &c("userId")]),
        );

        // RESTRICT: the reporter's reports go with them; NO ACTION (nullable): the report
        // stays as evidence and the reporter is detached.
        let (reporter_act, reporter_null) = match self.reporter_rule {
            Restrict => (Act::Delete, false),
            NoAction => (Act::Detach, true),
            rule => (Act::Default, rule == SetNull),
        };
        let mut t = Table::new(&self.table(self.report), "Reports to moderators.")
            .id()
            .fk(&rfk, &root, Cascade)
            .fk_with(
                &c("reporterId"),
                "User",
                self.reporter_rule,
                reporter_null,
                reporter_act,
            );
        if self.resolver {
            t = t.fk(&c("resolvedById"), "User", SetNull);
        }
        out.push(
            t.col("reason", "TEXT NOT NULL")
                .col("status", "TEXT NOT NULL DEFAULT 'open'"),
        );

        if let Some(rev) = self.revision {
            let name = self.table(rev);
            out.push(
                Table::new(&name, "Edits, chained by the previous revision.")
                    .id()
                    .fk(&rfk, &root, Cascade)
                    .fk(&c("editorId"), "User", SetNull)
                    .fk(&c("previousRevisionId"), &name, SetNull)
                    .col("snapshot", "JSONB")
                    .col(&c("createdAt"), now),
            );
        }

        let t = Table::new(
            &self.table(self.log),
            "Activity log; details name the actor.",
        )
        .id()
        .fk(&rfk, &root, Cascade);
        let t = if self.log_soft {
            t.soft(&c(self.log_actor), "User", true, Act::Delete)
        } else {
            t.fk(&c(self.log_actor), "User", Cascade)
        };
        out.push(
            t.col("action", "TEXT NOT NULL")
                .col("details", "JSONB")
                .col(&c("createdAt"), now)
                .identity(&["details"]),
        );

        out.push(
            Table::new(&self.table(self.stat), "Daily statistics.")
                .fk(&rfk, &root, Cascade)
                .col("day", "DATE NOT NULL")
                .col("views", count)
                .col("downloads", count)
                .pk(&[&rfk, "day"]),
        );

        out.push(
            Table::new(&self.table("Tag"), "Tags.")
                .fk(&rfk, &root, Cascade)
                .fk(&c("tagId"), "Tag", Cascade)
                .pk(&[&rfk, &c("tagId")]),
        );

        if let (Some(asset), Some(name)) = (self.asset, self.asset_table()) {
            let object = if asset.url {
                ObjectCol::Url {
                    bucket: FILES,
                    column: asset.column.into(),
                }
            } else {
                ObjectCol::Key {
                    bucket: FILES,
                    column: asset.column.into(),
                }
            };
            out.push(
                Table::new(&name, "Files of the root.")
                    .id()
                    .fk(&rfk, &root, Cascade)
                    .col(asset.column, "TEXT NOT NULL")
                    .col("kind", "TEXT NOT NULL")
                    .col(&c("sizeKB"), count)
                    .object(object),
            );
        }
        out
    }
}
