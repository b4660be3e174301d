//! `POST /v1/unsubscribe/links`: the platform's mailer (a staff token of role `mailer` or
//! `admin`) asks for the unsubscribe link of one recipient.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use crate::domain::Email;
use crate::error::ApiError;
use crate::routes::staff::StaffMember;
use crate::state::AppState;
use crate::unsubscribe::token::{Link, LinkKey};

/// Whose link, for which category.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The recipient.
    #[schema(format = Email, min_length = 3, max_length = 254)]
    pub email: String,
    /// A marketing category of the data map; absent: every category.
    #[serde(default)]
    pub category: Option<String>,
}

/// The link, and the two headers to put on the message.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedLink {
    /// The one-click URL (GET shows a confirmation page, POST unsubscribes).
    pub url: String,
    /// `List-Unsubscribe: <url>`.
    #[serde(rename = "List-Unsubscribe")]
    pub list_unsubscribe: String,
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    #[serde(rename = "List-Unsubscribe-Post")]
    pub list_unsubscribe_post: &'static str,
}

/// The unsubscribe link of one recipient (nothing is stored: the token seals the
/// recipient, the category and the day).
#[utoipa::path(post, path = "/v1/unsubscribe/links", request_body = LinkBody, security(("staff_token" = [])),
    responses((status = 201, body = IssuedLink)))]
#[post("/v1/unsubscribe/links")]
pub async fn create(
    _mailer: StaffMember,
    state: web::Data<AppState>,
    body: web::Json<LinkBody>,
) -> Result<HttpResponse, ApiError> {
    let link = link_for(&state.marketing, &body.email, body.category.as_deref())?;
    Ok(HttpResponse::Created().json(issue(
        &state.links,
        &state.settings.server.public_url,
        &link,
    )))
}

/// A link for `email` and `category`, checked: 400 naming the field otherwise.
pub fn link_for(
    marketing: &[String],
    email: &str,
    category: Option<&str>,
) -> Result<Link, ApiError> {
    let email = Email::try_from(email).map_err(|e| ApiError::field("email", e.to_string()))?;
    if let Some(category) = category
        && !marketing.iter().any(|c| c == category)
    {
        return Err(ApiError::field(
            "category",
            format!(
                "category must be one of the data map's marketing categories: {}",
                marketing.join(", ")
            ),
        ));
    }
    Ok(Link {
        email,
        category: category.map(str::to_owned),
        issued: chrono::Utc::now().date_naive(),
    })
}

/// The URL and headers of a link.
pub fn issue(links: &LinkKey, public_url: &str, link: &Link) -> IssuedLink {
    let url = format!(
        "{}/v1/unsubscribe/{}",
        public_url.trim_end_matches('/'),
        links.seal(link)
    );
    IssuedLink {
        list_unsubscribe: format!("<{url}>"),
        list_unsubscribe_post: "List-Unsubscribe=One-Click",
        url,
    }
}
