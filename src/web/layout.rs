//! The page shell and the form pieces every page uses: labels tied to inputs, hints and
//! errors tied to their field with `aria-describedby`, an error summary announced on load.

use maud::{DOCTYPE, Markup, html};

/// The part of the site a page belongs to (its header's links).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The privacy center, for requesters.
    Privacy,
}

/// A privacy-center page. `title` is prefixed with "Error: " when the page shows errors,
/// so that a screen reader announces them first.
pub fn page(site: Site, title: &str, has_errors: bool, body: Markup) -> Markup {
    let nav = match site {
        Site::Privacy => html! { a href="/privacy" { "Privacy center" } },
    };
    shell(title, has_errors, nav, false, body)
}

/// The shell of every page: `nav` in the header, `body` under the `h1`; `wide` pages
/// (tables) use the full width.
pub fn shell(title: &str, has_errors: bool, nav: Markup, wide: bool, body: Markup) -> Markup {
    let full_title = if has_errors {
        format!("Error: {title}")
    } else {
        title.to_owned()
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (full_title) }
                link rel="stylesheet" href="/assets/lethe.css";
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="site" {
                    nav aria-label="Site" { (nav) }
                }
                main id="main" tabindex="-1" class=[wide.then_some("wide")] {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// One problem with a form, tied to the field it is about (`field` is the input's id).
#[derive(Debug, Clone)]
pub struct FieldError {
    /// The input's id (and name).
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

/// The problems of a submitted form.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// Adds a problem with `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problem with `field`, if any.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// The summary shown above the form: announced as an alert, each problem a link to
    /// its field.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div class="summary" role="alert" aria-labelledby="summary-title" {
                    h2 id="summary-title" { "There is a problem" }
                    ul {
                        @for e in &self.0 {
                            li { a href={ "#" (e.field) } { (e.message) } }
                        }
                    }
                }
            }
        }
    }
}

/// The hidden field carrying the form's anti-forgery token.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// What an input looks like.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Its id and name.
    pub name: &'a str,
    /// Its label.
    pub label: &'a str,
    /// A hint under the label.
    pub hint: Option<&'a str>,
    /// `type` (`text`, `email`, `password`…).
    pub kind: &'a str,
    /// `autocomplete`.
    pub autocomplete: &'a str,
    /// Extra class on the input.
    pub class: Option<&'a str>,
}

impl<'a> Input<'a> {
    /// A text input.
    pub fn text(name: &'a str, label: &'a str) -> Self {
        Self {
            name,
            label,
            hint: None,
            kind: "text",
            autocomplete: "off",
            class: None,
        }
    }

    /// With a hint.
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    /// Of another `type`.
    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }

    /// With an `autocomplete` value.
    pub fn autocomplete(mut self, value: &'a str) -> Self {
        self.autocomplete = value;
        self
    }

    /// With a class.
    pub fn class(mut self, class: &'a str) -> Self {
        self.class = Some(class);
        self
    }

    fn described_by(&self, error: Option<&str>) -> Option<String> {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.name));
        }
        if error.is_some() {
            ids.push(format!("{}-error", self.name));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    }

    fn head(&self, error: Option<&str>) -> Markup {
        html! {
            label for=(self.name) { (self.label) }
            @if let Some(hint) = self.hint { p class="hint" id={ (self.name) "-hint" } { (hint) } }
            @if let Some(error) = error { p class="error" id={ (self.name) "-error" } { span class="skip" { "Error: " } (error) } }
        }
    }

    /// The field as a single-line input holding `value`.
    pub fn render(&self, value: &str, errors: &Errors) -> Markup {
        let error = errors.of(self.name);
        html! {
            div class={ "field" @if error.is_some() { " invalid" } } {
                (self.head(error))
                input type=(self.kind) id=(self.name) name=(self.name) value=(value)
                    class=[self.class] autocomplete=(self.autocomplete)
                    aria-describedby=[self.described_by(error)]
                    aria-invalid=[error.map(|_| "true")];
            }
        }
    }

    /// The field as a multi-line text area holding `value`.
    pub fn textarea(&self, value: &str, errors: &Errors) -> Markup {
        let error = errors.of(self.name);
        html! {
            div class={ "field" @if error.is_some() { " invalid" } } {
                (self.head(error))
                textarea id=(self.name) name=(self.name) rows="5"
                    aria-describedby=[self.described_by(error)]
                    aria-invalid=[error.map(|_| "true")] { (value) }
            }
        }
    }
}

/// A message as a sentence for a page (its first letter upper-cased).
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A date and time as pages show it: `30 November 2026, 18:46 UTC`.
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %B %Y, %H:%M UTC").to_string()
}

/// A date as pages show it: `30 November 2026`.
pub fn day(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %B %Y").to_string()
}
