//! What personal data a column's name suggests: an email, a name, an address, a birth
//! date, an identifier and the rest of [`PersonalKind`].

use super::{any_word, is_word, words};

/// What kind of personal data a column's name suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PersonalKind {
    /// An email address.
    Email,
    /// An IP address.
    IpAddress,
    /// A browser's user agent.
    UserAgent,
    /// A date (or place) of birth.
    Birth,
    /// A phone number.
    Phone,
    /// A person's name or username.
    Name,
    /// A postal address or part of one.
    Address,
    /// A geographic location or coordinates.
    Location,
    /// An identity document, tax or bank identifier, or payment card.
    Identifier,
}

impl PersonalKind {
    /// A short label for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::IpAddress => "ip address",
            Self::UserAgent => "user agent",
            Self::Birth => "birth",
            Self::Phone => "phone",
            Self::Name => "name",
            Self::Address => "address",
            Self::Location => "location",
            Self::Identifier => "identifier",
        }
    }
}

const NAME_QUALIFIERS: &[&str] = &[
    "first",
    "last",
    "full",
    "display",
    "real",
    "given",
    "family",
    "middle",
    "maiden",
    "legal",
    "nick",
    "sur",
    "fore",
    "screen",
    "billing",
    "shipping",
    "contact",
    "user",
    "customer",
    "account",
    "holder",
    "card",
    "owner",
    "author",
    "person",
    "member",
    "sender",
    "recipient",
    "birth",
    "emergency",
    "guardian",
    "parent",
];
const NAME_WORDS: &[&str] = &[
    "username",
    "firstname",
    "lastname",
    "fullname",
    "surname",
    "nickname",
    "displayname",
    "givenname",
    "familyname",
    "forename",
    "middlename",
    "realname",
    "legalname",
];
/// Last words that make a column a flag, count, time or reference *about* personal data.
const NOT_DATA_SUFFIXES: &[&str] = &[
    "id",
    "ids",
    "count",
    "at",
    "on",
    "verified",
    "confirmed",
    "enabled",
    "disabled",
    "flag",
    "type",
    "kind",
    "format",
    "status",
    "visibility",
    "visible",
    "public",
    "required",
    "optin",
    "optout",
    "consent",
    "template",
];
const PERSON_TABLES: &[&str] = &[
    "user",
    "account",
    "customer",
    "member",
    "person",
    "people",
    "contact",
    "profile",
    "author",
    "employee",
    "staff",
    "subscriber",
    "recipient",
    "guest",
    "patient",
    "student",
    "owner",
    "applicant",
    "candidate",
    "client",
    "buyer",
    "seller",
    "attendee",
    "participant",
    "player",
];

/// What personal data a column name suggests (`email`, `signupIp`, `first_name`,
/// `billingAddress`, `birthDate`, `user_agent`, `taxId`, `iban`, …). Flags, counts,
/// timestamps and references about such data (`emailVerified`, `phone_confirmed_at`,
/// `addressId`) are not personal data themselves. A bare `name` counts only in a table of
/// people.
pub fn personal_kind(table: &str, column: &str) -> Option<PersonalKind> {
    let p = words(column);
    if p == ["name"] {
        return any_word(&words(table), PERSON_TABLES).then_some(PersonalKind::Name);
    }
    let has = |list: &[&str]| any_word(&p, list);
    let pair = |a: &str, b: &str| p.windows(2).any(|w| is_word(&w[0], a) && is_word(&w[1], b));
    if has(&["ssn", "passport", "iban", "taxid", "nationalid"])
        || pair("tax", "id")
        || pair("national", "id")
    {
        return Some(PersonalKind::Identifier);
    }
    if p.last()
        .is_some_and(|l| NOT_DATA_SUFFIXES.contains(&l.as_str()))
    {
        return None;
    }
    let kinds: [(&[&str], PersonalKind); 5] = [
        (&["email", "mail"], PersonalKind::Email),
        (
            &["ip", "ipaddr", "ipaddress", "ipv"],
            PersonalKind::IpAddress,
        ),
        (&["useragent"], PersonalKind::UserAgent),
        (
            &["birth", "birthday", "birthdate", "dob", "birthplace"],
            PersonalKind::Birth,
        ),
        (
            &["phone", "mobile", "telephone", "msisdn", "fax", "cellphone"],
            PersonalKind::Phone,
        ),
    ];
    for (list, kind) in kinds {
        if has(list) && !(kind == PersonalKind::Email && has(&["campaign", "queue", "provider"])) {
            return Some(kind);
        }
    }
    if pair("user", "agent") {
        return Some(PersonalKind::UserAgent);
    }
    if has(NAME_WORDS)
        || p.iter()
            .position(|w| w == "name")
            .is_some_and(|i| p[..i].iter().any(|q| NAME_QUALIFIERS.contains(&q.as_str())))
    {
        return Some(PersonalKind::Name);
    }
    if has(&[
        "address",
        "addr",
        "street",
        "city",
        "postcode",
        "postalcode",
        "postal",
        "zip",
        "zipcode",
    ]) {
        return Some(PersonalKind::Address);
    }
    if has(&[
        "location",
        "geolocation",
        "geo",
        "lat",
        "lng",
        "lon",
        "latitude",
        "longitude",
        "coordinates",
        "gps",
    ]) {
        return Some(PersonalKind::Location);
    }
    has(&["creditcard", "cardnumber", "bank"]).then_some(PersonalKind::Identifier)
}
