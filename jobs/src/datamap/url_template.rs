//! URL templates of the data map: `https://demo.lethe.test/user/{username}` names the
//! platform's public pages, so that a URL someone pastes can be turned into the row it
//! shows. One path segment is a placeholder naming a column; the host matches without
//! regard to case, the scheme, query and fragment are ignored, and a URL may carry more
//! path segments after the template's (a slug, a tab of the page).

use url::Url;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    host: String,
    segments: Vec<Segment>,
    column: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder,
}

impl UrlTemplate {
    /// Parses a template; the error says what is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        // `{` and `}` are not valid in a URL path: substitute a marker before parsing.
        const MARK: &str = "lethe-placeholder-segment";
        let open = template.find('{');
        let close = template.find('}');
        let (Some(open), Some(close)) = (open, close) else {
            return Err("needs one placeholder such as `{username}`".into());
        };
        if close < open || template[close + 1..].contains('{') {
            return Err("needs exactly one placeholder".into());
        }
        let column = template[open + 1..close].to_owned();
        if column.is_empty() {
            return Err("the placeholder names no column".into());
        }
        let marked = format!("{}{MARK}{}", &template[..open], &template[close + 1..]);
        let url = Url::parse(&marked).map_err(|_| "is not a URL".to_owned())?;
        let host = url
            .host_str()
            .ok_or_else(|| "has no host".to_owned())?
            .to_ascii_lowercase();
        let segments: Vec<Segment> = url
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s == MARK {
                    Ok(Segment::Placeholder)
                } else if s.contains(MARK) {
                    Err("the placeholder must be a whole path segment".to_owned())
                } else {
                    Ok(Segment::Literal(s.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        if !segments.contains(&Segment::Placeholder) {
            return Err("the placeholder must be in the path".into());
        }
        Ok(Self {
            host,
            segments,
            column,
        })
    }

    /// The column the placeholder names.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The placeholder's value in `url`, if `url` is one of this template's pages.
    pub fn capture(&self, url: &str) -> Option<String> {
        let url = Url::parse(url.trim()).ok()?;
        if !url.host_str()?.eq_ignore_ascii_case(&self.host) {
            return None;
        }
        let given: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
        if given.len() < self.segments.len() {
            return None;
        }
        let mut value = None;
        for (segment, part) in self.segments.iter().zip(&given) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Placeholder => {
                    let decoded = percent_decode(part)?;
                    if decoded.is_empty() {
                        return None;
                    }
                    value = Some(decoded);
                }
            }
        }
        value
    }
}

/// Percent-decodes one path segment; `None` when it does not decode to UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_the_placeholder_and_nothing_else() {
        let t = UrlTemplate::parse("https://demo.lethe.test/user/{username}").unwrap();
        assert_eq!(t.column(), "username");
        assert_eq!(
            t.capture("https://Demo.Lethe.test/user/kid_2014")
                .as_deref(),
            Some("kid_2014")
        );
        assert_eq!(
            t.capture("http://demo.lethe.test/user/kid%20one/models?x=1#top")
                .as_deref(),
            Some("kid one")
        );
        assert_eq!(t.capture("https://other.test/user/kid"), None);
        assert_eq!(t.capture("https://demo.lethe.test/users/kid"), None);
        assert_eq!(t.capture("https://demo.lethe.test/user/"), None);
        assert_eq!(t.capture("not a url"), None);
        let m = UrlTemplate::parse("https://demo.lethe.test/models/{id}").unwrap();
        assert_eq!(
            m.capture("https://demo.lethe.test/models/42/a-slug")
                .as_deref(),
            Some("42")
        );
    }

    #[test]
    fn refuses_bad_templates() {
        for bad in [
            "https://demo.lethe.test/user/",
            "https://demo.lethe.test/user/{a}/{b}",
            "https://demo.lethe.test/user/x{a}",
            "/user/{a}",
            "https://{host}/user",
            "https://demo.lethe.test/user/{}",
        ] {
            assert!(UrlTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
