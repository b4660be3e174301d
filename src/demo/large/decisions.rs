//! The privacy engineer's decisions for the large platform.

/// The decisions a privacy engineer writes on top of what `lethe datamap discover`
/// produces for the large platform (data map format version 2, without the `version`
/// and `schema` lines; [`super::data_map`] adds them): the subject, the links whose
/// treatment is not their foreign key's delete rule (RESTRICT keys, soft links, retained
/// money rows whose keys CASCADE, reviewer columns under CHECK constraints, rows that
/// keep text naming the subject) and the objects. Every other foreign key follows its
/// delete rule: CASCADE → delete, SET NULL → leave.
pub const DECISIONS: &str = r#"[subject]
table = "User"
key = "id"
email = "email"
username = "username"
placeholder = "0"
tombstone = { email = "deleted-{hash}@tombstone.invalid", username = "deleted-{hash}" }

[links]
# Accounts and messages.
"WorkspaceSeat.(userId, tenantId)" = "delete"
"legacy_user_settings.user_id" = "delete"
"ChatMessage.senderId" = "delete"
"Invitation.inviteeId" = { action = "anonymize", anonymize = { email = "null" } }
"Notification.actorId" = { soft = true, action = "anonymize", unlink = "null", anonymize = { payload = "redact" } }
"ForumPost.parentId" = { action = "anonymize", anonymize = { body = "redact" } }

# Tracking without foreign keys.
"UserActivity.userId" = { soft = true, action = "delete" }
"api_request_log.user_id" = { soft = true, action = "delete" }
"PostView.viewerId" = { soft = true, action = "delete" }
"PostView.postId" = { soft = true, to = "Post.id", action = "delete" }
"ModelDownload.modelVersionId" = { soft = true, to = "ModelVersion.id", action = "delete" }
"ChallengeActivity.actorId" = { soft = true, action = "delete" }
"EventLog.userId" = { soft = true, action = "delete" }
"DatasetDownload.userId" = { soft = true, action = "delete" }
"TrainingRunEvent.userId" = { soft = true, action = "delete" }
"GalleryView.viewerId" = { soft = true, action = "delete" }
"PollAudit.createdById" = { soft = true, action = "delete" }
"StudioAuditLog.actorId" = { soft = true, action = "delete" }
"WildcardUsage.userId" = { soft = true, action = "delete" }
"QuestEvent.userId" = { soft = true, action = "delete" }
"StylePackExport.ownerId" = { soft = true, action = "delete" }
"contest_audit.user_id" = { soft = true, action = "delete" }
"TutorialProgress.userId" = { soft = true, action = "delete" }
"NewsletterOpen.subscriberId" = { soft = true, action = "delete" }

# Money: kept for tax and accounting, cut from the person.
"Purchase.buyerId" = { action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder", anonymize = { billingName = "null", billingAddress = "redact" } }
"Purchase.sellerId" = { action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder", anonymize = { billingAddress = "redact" } }
"PurchaseItem.modelVersionId" = "delete"
"Purchase.modelVersionId" = { action = "anonymize", anonymize = { billingAddress = "redact" } }
"Payout.userId" = { action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder", anonymize = { iban = "hash" } }
"TaxProfile.userId" = { action = "retain", basis = "tax law", period = "10 years", unlink = "tombstone" }
"BuzzAccount.userId" = { action = "retain", basis = "accounting", period = "10 years", unlink = "tombstone" }
"BuzzTransaction.fromUserId" = { soft = true, action = "retain", basis = "accounting", period = "10 years", unlink = "placeholder", anonymize = { details = "redact" } }
"BuzzTransaction.toUserId" = { soft = true, action = "retain", basis = "accounting", period = "10 years", unlink = "placeholder", anonymize = { details = "redact" } }
"Tip.fromUserId" = { soft = true, action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder", anonymize = { message = "redact" } }
"Tip.toUserId" = { action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder", anonymize = { message = "redact" } }

# Other people's things the person ran or reviewed: kept, handed to "deleted user".
"Bounty.userId" = { action = "reassign" }
"Commission.artistId" = { action = "reassign" }
"Studio.ownerId" = { action = "reassign" }
"Refund.reviewerId" = { action = "reassign" }
"Report.reviewedById" = { action = "anonymize", unlink = "placeholder", anonymize = { reason = "redact", details = "redact" } }
"ResourceReview.moderatorId" = { action = "reassign" }
"Report.targetUserId" = { action = "anonymize", anonymize = { reason = "redact", details = "redact" } }

# RESTRICT keys whose rows simply go with the person.
"Event.hostId" = "delete"
"TrainingRun.userId" = "delete"
"Guild.leaderId" = "delete"
"Auction.sellerId" = "delete"
"prompt_library.owner_id" = "delete"
"EventReport.reporterId" = "delete"
"GalleryReport.reporterId" = "delete"
"PollReport.reporterId" = "delete"

# Reports about auctions stay as fraud evidence; the reporter is unlinked.
"AuctionReport.reporterId" = "detach"

[[objects]]
bucket = "large-avatars"
table = "User"
template = "avatars/{id}/"

[[objects]]
bucket = "large-avatars"
table = "UserProfile"
column = "bannerUrl"
format = "url"

[[objects]]
bucket = "large-images"
table = "Image"
column = "storageKey"

[[objects]]
bucket = "large-models"
table = "ModelFile"
template = "{modelVersionId}/{userId}/"

[[objects]]
bucket = "large-files"
table = "Article"
column = "coverUrl"
format = "url"

[[objects]]
bucket = "large-files"
table = "ChatMessage"
column = "attachmentKey"

[[objects]]
bucket = "large-files"
table = "ChallengeAsset"
column = "coverKey"

[[objects]]
bucket = "large-files"
table = "WorkflowAsset"
column = "attachmentUrl"
format = "url"

[[objects]]
bucket = "large-files"
table = "DatasetAsset"
column = "fileKey"
"#;

/// Writes [`DECISIONS`] over a map `lethe datamap discover` wrote for the large platform,
/// as a privacy engineer would: each decided link replaces the discovered entry, the
/// subject section and table rules merge key by key, and the decided `[[objects]]`
/// replace the discovered ones (whose buckets discovery cannot know). Returns the map and
/// how many decisions were written (`[links]`, `[tables]` and `[[objects]]` entries, and
/// the subject's placeholder and tombstone).
pub fn decided_map(discovered: &str) -> anyhow::Result<(String, usize)> {
    fn merge(into: &mut toml::Table, from: &toml::Table) {
        for (key, value) in from {
            match (into.get_mut(key), value) {
                (Some(toml::Value::Table(a)), toml::Value::Table(b)) if key != "links" => {
                    merge(a, b)
                }
                (Some(toml::Value::Table(a)), toml::Value::Table(b)) => {
                    // A decided link replaces the discovered entry as a whole.
                    for (link, rule) in b {
                        a.insert(link.clone(), rule.clone());
                    }
                }
                _ => {
                    into.insert(key.clone(), value.clone());
                }
            }
        }
    }
    let mut map: toml::Table = toml::from_str(discovered)?;
    let decisions: toml::Table = toml::from_str(DECISIONS)?;
    merge(&mut map, &decisions);
    let count = |name: &str| match decisions.get(name) {
        Some(toml::Value::Table(t)) => t.len(),
        Some(toml::Value::Array(a)) => a.len(),
        _ => 0,
    };
    let subject = ["placeholder", "tombstone"]
        .iter()
        .filter(|k| decisions.get("subject").and_then(|s| s.get(**k)).is_some())
        .count();
    let written = count("links") + count("tables") + count("objects") + subject;
    Ok((toml::to_string(&map)?, written))
}
