//! The staff side: accounts and tokens, staff endpoints, dry runs and approvals, and
//! comparing a rehearsal with the purge it rehearsed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{TestApp, Verified};

impl TestApp {
    /// Creates a staff account with `role` and returns an API token for it.
    pub async fn staff_token(&self, email: &str, role: lethe::domain::Role) -> String {
        let mut conn = self.services.db.get().await.unwrap();
        let email = lethe::domain::Email::try_from(email).unwrap();
        let staff = lethe::models::staff::Staff::create(
            &mut conn,
            &email,
            role,
            "correct horse battery staple",
        )
        .await
        .unwrap();
        let keyed = lethe::secrets::Keyed::new(self.services.settings.security.secret_key.clone());
        let token = staff
            .issue_token(
                &mut conn,
                &keyed,
                "test",
                self.services.settings.security.staff_token_ttl(),
            )
            .await
            .unwrap()
            .1;
        self.saw(&token);
        token
    }

    /// `POST` to a staff endpoint with a token.
    pub async fn staff_post(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Asks for a dry run and waits for the worker to finish it; returns the rehearsal as
    /// staff see it (`GET /v1/staff/requests/{id}` → `rehearsal`).
    pub async fn dry_run(&self, request_id: &str, staff: &str) -> Value {
        let response = self
            .staff_post(
                &format!("/v1/staff/requests/{request_id}/dry-run"),
                staff,
                json!({}),
            )
            .await;
        assert_eq!(response.status(), 202, "dry run queued");
        let queued: Value = response.json().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let view = self.staff_view(request_id, staff).await;
            let rehearsal = &view["rehearsal"];
            if rehearsal["id"] == queued["id"]
                && (rehearsal["status"] == "done" || rehearsal["status"] == "error")
            {
                return rehearsal.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the dry run never finished: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /v1/staff/requests/{id}`.
    pub async fn staff_view(&self, request_id: &str, staff: &str) -> Value {
        self.client
            .get(format!("{}/v1/staff/requests/{request_id}", self.address))
            .bearer_auth(staff)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the staff view until the request reaches `status` (or fails after 60 s).
    pub async fn wait_for_staff_status(
        &self,
        request_id: &str,
        staff: &str,
        status: &str,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let view = self.staff_view(request_id, staff).await;
            if view["status"] == status {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "request never reached {status}: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Files a deletion for `email`, verifies it, has a reviewer (`reviewer`, a staff
    /// token) dry-run it and approve it.
    pub async fn approved_deletion(&self, email: &str, reviewer: &str) -> Verified {
        let request = self.file_deletion(email).await;
        let dry = self.dry_run(&request.id, reviewer).await;
        assert_eq!(dry["status"], "done", "{dry}");
        let approved = self
            .staff_post(
                &format!("/v1/staff/requests/{}/approve", request.id),
                reviewer,
                json!({}),
            )
            .await;
        assert_eq!(approved.status(), 200);
        request
    }
}

/// Asserts that a rehearsal (the staff view's `rehearsal`) counted, table by table,
/// exactly what the finished purge (the staff view's `result`) did.
pub fn assert_rehearsal_counted_the_purge(dry: &Value, done: &Value) {
    let purged = done["result"]["tables"]
        .as_object()
        .expect("the purge's tables");
    let rehearsed = dry["report"]["tables"]
        .as_object()
        .expect("the rehearsal's tables");
    for (table, counts) in purged {
        for field in ["deleted", "updated", "inserted"] {
            assert_eq!(
                counts[field], rehearsed[table][field],
                "{table}.{field}: purge {counts} vs rehearsal {}",
                rehearsed[table]
            );
        }
    }
    for (table, summary) in rehearsed {
        let any = ["deleted", "updated", "inserted"]
            .iter()
            .any(|f| summary[*f].as_u64().unwrap_or(0) > 0);
        assert!(
            !any || purged.contains_key(table),
            "{table} rehearsed but not purged"
        );
    }
}
