//! A browser-like HTTP client for page tests that need no browser: it keeps cookies, and
//! sends this site's `Origin` and the form token with every POST.

use std::collections::BTreeMap;

use crate::helpers::TestApp;

/// A browser-like client without a browser: keeps cookies, sends this site's Origin and
/// the form token.
pub(crate) struct Agent<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
}

impl<'a> Agent<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .app
            .client
            .get(format!("{}{path}", self.app.address))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        if !self.cookies.contains_key("lethe-csrf") {
            self.get("/console/sign-in").await;
        }
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let token = self.cookies["lethe-csrf"].clone();
        fields.push(("csrf", &token));
        let response = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .header("cookie", self.cookie_header())
            .header("origin", &self.app.address)
            .form(&fields)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/console/sign-in",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}
