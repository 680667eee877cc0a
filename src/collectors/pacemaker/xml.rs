//! A small element tree built with quick-xml, just enough for crm_mon's and cibadmin's output.
//!
//! Both tools print a few kilobytes (a few hundred kilobytes on a big cluster), so a tree is cheap
//! and lets the parsers read the documents the way their schemas describe them, instead of as a
//! stream of events. The reader checks that end tags match and the builder caps the nesting depth:
//! whatever a broken or hostile binary prints becomes a [`XmlError`], never a panic.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Deeper than any real crm_mon document (a bundle replica's resource is at depth 5).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum XmlError {
    #[error("not XML: {0}")]
    Syntax(String),
    #[error("empty output")]
    Empty,
    #[error("XML nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("text after the root element")]
    TrailingContent,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean attribute as Pacemaker writes it; absent or anything else is false.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.attr(name), Some("true" | "1" | "yes"))
    }

    pub fn number(&self, name: &str) -> Option<u64> {
        self.attr(name).and_then(|v| v.trim().parse().ok())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parse a whole document into its root element.
pub fn parse(document: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(document);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(format!("{e} at byte {}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                let el = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                // check_end_names guarantees a matching Start was pushed.
                let Some(el) = stack.pop() else {
                    return Err(XmlError::Syntax("unexpected end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let raw: &str = t.as_ref();
                text(&mut stack, root.is_some(), &unescape(raw))?;
            }
            // quick-xml reports `&lt;` and `&#60;` between text events.
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => unescape(&format!("&{};", AsRef::<str>::as_ref(&r))),
                };
                text(&mut stack, root.is_some(), &resolved)?;
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions, CDATA, doctype: nothing we read.
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax(format!(
            "document ends inside <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("?")
        )));
    }
    root.ok_or(XmlError::Empty)
}

/// Element text (crm_mon's `<error>` lines) is kept as a `#text` attribute of its element; only
/// whitespace may stand outside the root element.
fn text(stack: &mut [Element], after_root: bool, piece: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => {
            match el.attrs.iter_mut().find(|(n, _)| n == "#text") {
                Some((_, value)) => value.push_str(piece),
                None => el.attrs.push(("#text".into(), piece.to_owned())),
            }
            Ok(())
        }
        None if piece.trim().is_empty() => Ok(()),
        None if after_root => Err(XmlError::TrailingContent),
        None => Err(XmlError::Syntax(format!(
            "text outside any element: {:.40}",
            piece.trim()
        ))),
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = start.name().0.to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Syntax(format!("in <{name}>: {e}")))?;
        let key = attr.key.0.to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Syntax(format!("in <{name} {key}>: {e}")))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

fn unescape(raw: &str) -> String {
    quick_xml::escape::unescape(raw)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_attributes_and_text() {
        let root =
            parse("<?xml version=\"1.0\"?>\n<a x=\"1&amp;2\"><b/><c>hi &lt;there&gt;</c></a>\n")
                .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("x"), Some("1&2"));
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.child("c").unwrap().attr("#text"), Some("hi <there>"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "",
            "   \n",
            "hello world",
            "<a><b></a>",
            "<a>",
            "<a/><b/>",
            "<a/>trailing",
            "\u{0}\u{1}<<<>>>",
            "<a x=1/>",
        ] {
            assert!(parse(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(&text), Err(XmlError::TooDeep));
    }
}
