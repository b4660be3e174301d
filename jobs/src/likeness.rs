//! Likeness removal on the platform, through the map's `[[resources]]`: whether a listed
//! resource exists, unpublishing a removed one, and deleting its files after the hold.
//! Every operation is idempotent.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::datamap::catalog::literal;
use crate::datamap::marketing::run_writes;
use crate::datamap::resources::{self, ResourceSpec};
use crate::lifecycle::ResourceItem;
use crate::purge::objects::{TableObjects, resolve};
use crate::queue::JobContext;

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    key: String,
}

fn spec<'a>(ctx: &'a JobContext, item: &ResourceItem) -> Option<&'a ResourceSpec> {
    resources::find(&ctx.map.map.resources, &item.resource)
}

/// The resource's key as the platform has it, or `None` when no such row exists (or the
/// map no longer knows the kind).
pub async fn check(ctx: &JobContext, item: &ResourceItem) -> anyhow::Result<Option<String>> {
    let Some(spec) = spec(ctx, item) else {
        return Ok(None);
    };
    let sql = resources::exists_sql(&ctx.map.map.schema, &ctx.map.catalog, spec);
    let mut conn = ctx.platform.get().await?;
    match diesel::sql_query(sql)
        .bind::<Text, _>(&item.key)
        .load::<KeyRow>(&mut conn)
        .await
    {
        Ok(rows) => Ok(rows.into_iter().next().map(|r| r.key)),
        // A key that does not even parse as the key type names nothing.
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("invalid input syntax") =>
        {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Unpublishes the resource, in one synchronously committed transaction; the rows written.
pub async fn unpublish(ctx: &JobContext, item: &ResourceItem) -> anyhow::Result<u64> {
    let Some(spec) = spec(ctx, item) else {
        anyhow::bail!("the data map no longer has resources of this kind");
    };
    let statement = resources::unpublish_statement(&ctx.map.map.schema, &ctx.map.catalog, spec);
    let mut conn = ctx.platform.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        diesel::sql_query("SET LOCAL synchronous_commit = on")
            .execute(c)
            .await?;
        Ok(run_writes(c, std::slice::from_ref(&statement), &item.key).await?)
    })
    .await
}

/// Deletes the files of the resource: the objects its row and the rows it owns name,
/// except those other rows still name. The objects deleted.
pub async fn delete_files(ctx: &JobContext, item: &ResourceItem) -> anyhow::Result<u64> {
    let Some(spec) = spec(ctx, item) else {
        return Ok(0);
    };
    let schema = &ctx.map.map.schema;
    let mut conn = ctx.platform.get().await?;
    let mut deleted = 0u64;
    for owned in resources::owned(schema, &ctx.map.catalog, spec, &literal(&item.key)) {
        let Some(objects) = TableObjects::of(&ctx.map, &owned.table) else {
            continue;
        };
        let sql = format!(
            "SELECT {} AS v {}",
            objects.select_list(&owned.alias),
            owned.from_where
        );
        let (ctids, named) = objects.read(&mut conn, &sql).await?;
        let resolved = resolve(
            &ctx.map,
            &ctx.storage,
            &mut conn,
            &objects,
            named,
            &owned.table,
            &ctids,
        )
        .await?;
        for (bucket, keys) in resolved.delete {
            if !keys.is_empty() {
                deleted += ctx.storage.delete_keys(&bucket, &keys).await? as u64;
            }
        }
    }
    Ok(deleted)
}
