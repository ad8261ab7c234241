//! A page body: Markdown in, sanitised HTML out, and the plain text of each section for the index.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The body as HTML that is safe to put in a page: no script, no event handlers, no
/// `javascript:` links (ammonia's allow-list; raw HTML in the Markdown goes through it too).
pub fn to_html(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(markdown, options()));
    ammonia::clean(&html)
}

/// A part of a page under one heading (the first has none), as plain text.
#[derive(Debug, Default, PartialEq)]
pub struct Section {
    pub heading: String,
    pub text: String,
}

/// The sections of a body, split at its headings, with the Markdown taken out: what search
/// indexes, so `**refund**` and a link's URL do not stand in the way of the words.
pub fn sections(markdown: &str) -> Vec<Section> {
    let mut sections = vec![Section::default()];
    let mut in_heading = false;
    for event in Parser::new_ext(markdown, options()) {
        let current = sections.last_mut().expect("never empty");
        match event {
            Event::Start(Tag::Heading { .. }) => {
                sections.push(Section::default());
                in_heading = true;
            }
            Event::End(TagEnd::Heading(_)) => in_heading = false,
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                let into = if in_heading {
                    &mut current.heading
                } else {
                    &mut current.text
                };
                into.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak => push_space(current, in_heading),
            Event::End(
                TagEnd::Paragraph | TagEnd::Item | TagEnd::TableCell | TagEnd::CodeBlock,
            ) => push_space(current, in_heading),
            _ => {}
        }
    }
    sections.retain(|s| !s.heading.trim().is_empty() || !s.text.trim().is_empty());
    for s in &mut sections {
        s.heading = s.heading.trim().to_owned();
        s.text = s.text.trim().to_owned();
    }
    sections
}

fn push_space(section: &mut Section, in_heading: bool) {
    let into = if in_heading {
        &mut section.heading
    } else {
        &mut section.text
    };
    if !into.ends_with(' ') && !into.is_empty() {
        into.push(' ');
    }
}
