//! The requester's side: filing a request, verifying it with the mailed code, viewing,
//! cancelling, and waiting for a status.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::TestApp;

/// A filed-and-verified request.
pub struct Verified {
    /// Request id.
    pub id: String,
    /// Requester token.
    pub token: String,
}

impl TestApp {
    /// `POST /v1/requests` with a JSON body.
    pub async fn file(&self, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/requests", self.address))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/requests/{id}/verify`.
    pub async fn verify(&self, id: &str, code: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/requests/{id}/verify", self.address))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/requests/{id}` with a token.
    pub async fn show(&self, id: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/v1/requests/{id}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Files an access request for `email`, reads the code from the mailbox, verifies.
    pub async fn file_and_verify(&self, email: &str) -> Verified {
        self.file_and_verify_kind("access", email).await.0
    }

    /// Files a request of `kind` for `email`, reads the code from the mailbox, verifies;
    /// returns the request and the status verification left it in.
    pub async fn file_and_verify_kind(&self, kind: &str, email: &str) -> (Verified, Value) {
        let response = self.file(json!({ "kind": kind, "email": email })).await;
        assert_eq!(response.status(), 202);
        let filed: Value = response.json().await.unwrap();
        let id = filed["id"].as_str().unwrap().to_owned();
        let code = self.latest_code(email).await;
        let response = self.verify(&id, &code).await;
        assert_eq!(response.status(), 200);
        let verified: Value = response.json().await.unwrap();
        let token = verified["token"].as_str().unwrap().to_owned();
        self.saw(&token);
        (
            Verified { id, token },
            verified["request"]["status"].clone(),
        )
    }

    /// Polls the request until it reaches `status` (or fails the test after 60 s).
    pub async fn wait_for_status(&self, id: &str, token: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let view: Value = self.show(id, token).await.json().await.unwrap();
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

    /// `POST /v1/requests/{id}/cancel` with the requester's token.
    pub async fn cancel(&self, request: &Verified) -> reqwest::Response {
        self.client
            .post(format!(
                "{}/v1/requests/{}/cancel",
                self.address, request.id
            ))
            .bearer_auth(&request.token)
            .send()
            .await
            .unwrap()
    }

    /// Files a deletion request for `email` and verifies it by code.
    pub async fn file_deletion(&self, email: &str) -> Verified {
        let (request, status) = self.file_and_verify_kind("deletion", email).await;
        assert_eq!(status, "verified", "deletions wait for staff");
        request
    }
}
