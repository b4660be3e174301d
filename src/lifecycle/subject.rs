//! Who a request is about in the platform: the requester themself (by the platform id of
//! an assertion, by email, or by the key located earlier), or, for a child report, the
//! account the report names.

use diesel_async::AsyncPgConnection;
use lethe_jobs::platform::SubjectLookup;

use crate::domain::{AccountKind, RequestKind};
use crate::models::{ChildReport, Request};

/// How a worker finds the request's subject; `None` when nothing that names it is held
/// any more.
pub(crate) async fn lookup(
    c: &mut AsyncPgConnection,
    request: &Request,
) -> diesel::QueryResult<Option<SubjectLookup>> {
    if request.kind() == RequestKind::ChildReport {
        if let Some(key) = &request.subject_key {
            return Ok(Some(SubjectLookup::Key(key.clone())));
        }
        let Some(report) = ChildReport::find(c, request.id).await? else {
            return Ok(None);
        };
        let kind = report.account_kind();
        return Ok(report.account.map(|account| match kind {
            AccountKind::Username => SubjectLookup::Username(account),
            AccountKind::ProfileUrl => SubjectLookup::ProfileUrl(account),
            AccountKind::Email => SubjectLookup::Email(account),
        }));
    }
    Ok(
        match (&request.subject_ref, &request.email, &request.subject_key) {
            (Some(subject), _, _) => Some(SubjectLookup::Key(subject.clone())),
            (None, Some(email), _) => Some(SubjectLookup::Email(email.clone())),
            (None, None, Some(key)) => Some(SubjectLookup::Key(key.clone())),
            (None, None, None) => None,
        },
    )
}

/// The requester's email when the request is about the requester themself: a string a
/// purge redacts, and the address told of the erasure's progress. `None` for a report,
/// whose reporter is not the person erased.
pub(crate) fn own_email(request: &Request) -> Option<String> {
    (request.kind() != RequestKind::ChildReport)
        .then(|| request.email.clone())
        .flatten()
}
