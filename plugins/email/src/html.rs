//! HTML bodies rendered as safe plain text.
//!
//! An agent reads mail as plain text, and many senders (web forms, newsletters, some mobile
//! clients) send HTML only. The text must carry no markup, no script or style content, decoded
//! entities, and the line structure a reader sees in a browser.
//!
//! `mail-parser` already has a converter (`decoders::html::html_to_text`, which is what
//! `Message::body_text()` uses for HTML-only mail). It decodes named and numeric entities,
//! collapses whitespace, ends lines at `<br>` and `</p>` and drops tags and comments, and is
//! used here for exactly that. On its own it is not good enough for mail (each point is
//! pinned by a `mail_parser_alone_*` test below, so an upgrade that fixes it shows up):
//!
//! - only `<br>` and `</p>` end a line: `<div>Hello</div><div>World</div>` becomes
//!   `HelloWorld`, a `<ul>` one run-on line;
//! - it recognises `<script>`, `<style>` and `<head>` only without attributes, so the code in
//!   `<script type="text/javascript">` or the CSS in Outlook's `<style type="text/css">`
//!   comes out as text;
//! - a `>` inside a quoted attribute value ends the tag, leaking the rest of the attribute;
//! - link targets are lost.
//!
//! So a pre-pass in this module rewrites every tag to a bare `<name>`/`</name>`, drops
//! script, style, head, title and template elements, comments and doctypes itself, and marks
//! structure (block boundaries, list bullets, table cells, link targets) before handing the
//! result to `mail-parser`; a post-pass turns the marks into line breaks and tidies
//! whitespace. Writing a full HTML parser is out of scope, and an HTML5 parser crate
//! (html5ever and its dependencies) would multiply the size of a WebAssembly plugin for
//! this one job.

use mail_parser::decoders::html::html_to_text as mail_parser_html_to_text;

/// Private-use characters that survive `mail-parser`'s conversion as ordinary text and mark
/// where a line break (`LINE`) or a blank line (`PARAGRAPH`) belongs.
const LINE: char = '\u{E000}';
const PARAGRAPH: char = '\u{E001}';

/// Elements after and before which a new line starts.
const LINE_ELEMENTS: &[&str] = &[
    "div",
    "tr",
    "dt",
    "dd",
    "li",
    "address",
    "center",
    "figcaption",
    "caption",
];

/// Elements after and before which a blank line is left.
const PARAGRAPH_ELEMENTS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "table",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "figure",
    "form",
    "fieldset",
];

/// Elements dropped with their content. Browsers do not show it, and `mail-parser` only
/// recognises them without attributes, so they never reach it.
const DROPPED_ELEMENTS: &[&str] = &["script", "style", "template", "title", "head"];

/// Renders `html` as plain text: no tags, entities decoded, scripts and styles dropped,
/// block elements on their own lines, list items as `- item`, and a link's target after its
/// text as `text (https://…)` unless the text already shows it.
pub fn html_to_text(html: &str) -> String {
    let marked = mark_structure(html);
    let text = mail_parser_html_to_text(&marked);
    tidy(&text)
}

/// The pre-pass. It copies `html` with every element tag rewritten to a bare `<name>` or
/// `</name>` (attributes gone, so nothing in them can confuse `mail-parser`), drops
/// [`DROPPED_ELEMENTS`], comments, doctypes and processing instructions, escapes a `<` that
/// starts no tag as `&lt;`, and inserts [`LINE`]/[`PARAGRAPH`] marks before block tags,
/// `- ` before list items, a space before table cells and ` (url)` after links.
fn mark_structure(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    // The open link: its target, and where its text starts in `html`.
    let mut open_link: Option<(String, usize)> = None;

    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let tag_src = &rest[lt..];

        if let Some(skip) = markup_declaration_len(tag_src) {
            rest = &tag_src[skip..];
            continue;
        }
        let Some(tag) = Tag::parse(tag_src) else {
            // A `<` in text: keep it as text.
            out.push_str("&lt;");
            rest = &tag_src[1..];
            continue;
        };
        let name = tag.name.as_str();
        let after_tag = &tag_src[tag.len..];

        if !tag.closing && DROPPED_ELEMENTS.contains(&name) {
            let end_tag = format!("</{name}");
            rest = match find_ascii_case_insensitive(after_tag, &end_tag) {
                Some(end) => {
                    let closing = &after_tag[end..];
                    closing.find('>').map_or("", |gt| &closing[gt + 1..])
                }
                // An unclosed <head> loses only its tag; an unclosed script or style
                // runs to the end, as in a browser.
                None if name == "head" => after_tag,
                None => "",
            };
            continue;
        }
        if DROPPED_ELEMENTS.contains(&name) {
            rest = after_tag; // a stray end tag
            continue;
        }

        if PARAGRAPH_ELEMENTS.contains(&name) {
            out.push(PARAGRAPH);
        } else if LINE_ELEMENTS.contains(&name) {
            out.push(LINE);
            if name == "li" && !tag.closing {
                out.push_str("- ");
            }
        } else if name == "td" || name == "th" {
            out.push(' ');
        }

        out.push('<');
        if tag.closing {
            out.push('/');
        }
        out.push_str(name);
        out.push('>');

        if name == "a" {
            if tag.closing {
                if let Some((href, text_start)) = open_link.take() {
                    let text_end = html.len() - tag_src.len();
                    let anchor_text = html.get(text_start..text_end).unwrap_or_default();
                    if let Some(shown) = link_target_to_show(&href, anchor_text) {
                        out.push_str(" (");
                        out.push_str(&shown);
                        out.push(')');
                    }
                }
            } else {
                open_link = tag.href.map(|href| (href, html.len() - after_tag.len()));
            }
        }
        rest = after_tag;
    }
    out.push_str(rest);
    out
}

/// The length of a comment (`<!-- … -->`), doctype or conditional comment (`<!…>`) or
/// processing instruction (`<?…>`) at the start of `src`, to skip it; to the end of the input
/// if it is not closed.
fn markup_declaration_len(src: &str) -> Option<usize> {
    if let Some(body) = src.strip_prefix("<!--") {
        return Some(body.find("-->").map_or(src.len(), |end| 4 + end + 3));
    }
    if src.starts_with("<!") || src.starts_with("<?") {
        return Some(src.find('>').map_or(src.len(), |end| end + 1));
    }
    None
}

/// The target to print after a link's text, if it is worth printing: only `http(s)` and
/// `mailto` links (never `javascript:` or relative ones), and only when the text does not
/// already contain it.
fn link_target_to_show(href: &str, anchor_html: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.contains(['<', '>', ' ', '\t', '\r', '\n']) {
        return None;
    }
    let lower = href.to_ascii_lowercase();
    let shown = if lower.starts_with("http://") || lower.starts_with("https://") {
        href
    } else if lower.starts_with("mailto:") {
        &href["mailto:".len()..]
    } else {
        return None;
    };
    // Compare against the anchor's text with its tags removed; entities are compared
    // loosely by also comparing the `&amp;`-decoded form.
    let text = strip_tags(anchor_html).to_ascii_lowercase();
    let bare = shown
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let bare_decoded = bare.replace("&amp;", "&");
    if text.contains(&bare) || text.replace("&amp;", "&").contains(&bare_decoded) {
        return None;
    }
    Some(shown.to_string())
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    out
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Just enough of a start or end tag for the pre-pass: its lower-cased name, whether it
/// closes, its `href` (for links) and its length in bytes up to and including `>`.
struct Tag {
    name: String,
    closing: bool,
    href: Option<String>,
    len: usize,
}

impl Tag {
    /// Parses the tag at the start of `src` (which starts with `<`); `None` for anything that
    /// is not an element tag (`< `, `<!--`, `<!DOCTYPE`, a `<` without a closing `>`).
    fn parse(src: &str) -> Option<Tag> {
        let bytes = src.as_bytes();
        let mut i = 1;
        let closing = bytes.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let name_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        }
        if i == name_start || !bytes[name_start].is_ascii_alphabetic() {
            return None;
        }
        let name = src[name_start..i].to_ascii_lowercase();
        let end = tag_end(src, i)?;
        let href = (name == "a" && !closing)
            .then(|| attribute(&src[i..end], "href"))
            .flatten();
        Some(Tag {
            name,
            closing,
            href,
            len: end + 1,
        })
    }
}

/// The index of the `>` that ends a tag whose attributes start at `from`, skipping `>` inside
/// quoted attribute values.
fn tag_end(src: &str, from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in src.as_bytes().iter().enumerate().skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(i),
            (None, b'<') => return None,
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in a tag's attribute text (quoted or not).
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let bytes = attrs.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'/')
        {
            i += 1;
        }
        let key = &attrs[key_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            if i == key_start {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let start = i + 1;
                let end = attrs[start..]
                    .find(q as char)
                    .map_or(attrs.len(), |e| start + e);
                i = end + 1;
                &attrs[start..end]
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &attrs[start..i]
            }
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value.to_string());
        }
    }
    None
}

/// The post-pass: resolves the marks into line breaks, turns no-break spaces into spaces,
/// trims every line, keeps at most one blank line in a row and trims the whole text.
fn tidy(text: &str) -> String {
    // 1. Each run of whitespace that holds a mark becomes one or two newlines.
    let mut resolved = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let has_paragraph = run.contains(PARAGRAPH);
        let has_line = run.contains(LINE);
        if has_paragraph || has_line {
            let newlines = run.matches('\n').count();
            let wanted = if has_paragraph { 2 } else { 1 };
            out.push_str(&"\n".repeat(newlines.clamp(wanted, 2)));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in text.chars() {
        if ch == LINE || ch == PARAGRAPH || ch.is_whitespace() {
            run.push(ch);
        } else {
            flush(&mut run, &mut resolved);
            resolved.push(ch);
        }
    }
    flush(&mut run, &mut resolved);

    // 2. Trim lines, collapse blank lines.
    let mut out = String::with_capacity(resolved.len());
    let mut blank_run = 0;
    for line in resolved.split('\n') {
        let line = line.replace('\u{a0}', " ");
        let line = line.trim();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Why the pre-pass exists. If one of these starts failing after a mail-parser upgrade,
    // that shortcoming is fixed upstream and the pre-pass may be simplified.

    #[test]
    fn mail_parser_alone_glues_block_elements() {
        let raw = mail_parser_html_to_text(
            "<div>Hello</div><div>World</div><ul><li>a</li><li>b</li></ul>",
        );
        assert_eq!(raw, "HelloWorldab");
    }

    #[test]
    fn mail_parser_alone_leaks_scripts_and_styles_with_attributes() {
        let raw = mail_parser_html_to_text(
            "<style type=\"text/css\">p{margin:0}</style><script type=\"text/javascript\">track()</script>hi",
        );
        assert!(
            raw.contains("p{margin:0}") && raw.contains("track()"),
            "{raw:?}"
        );
    }

    #[test]
    fn mail_parser_alone_ends_a_tag_at_a_quoted_gt() {
        let raw = mail_parser_html_to_text("<div title=\"a > b\">x</div>");
        assert_eq!(raw, " b\">x");
    }

    #[test]
    fn divs_and_list_items_become_lines() {
        assert_eq!(
            html_to_text("<div>Hello</div><div>World</div><ul><li>one</li><li>two</li></ul>"),
            "Hello\nWorld\n\n- one\n- two"
        );
    }

    #[test]
    fn paragraphs_are_separated_by_one_blank_line() {
        assert_eq!(
            html_to_text("<p>First</p>\n\n<p>Second</p><h2>Title</h2>tail"),
            "First\n\nSecond\n\nTitle\n\ntail"
        );
    }

    #[test]
    fn gmail_style_div_lines_are_not_double_spaced() {
        assert_eq!(
            html_to_text("<div dir=\"ltr\">Hi,<div>line two</div><div>line three</div></div>"),
            "Hi,\nline two\nline three"
        );
    }

    #[test]
    fn br_twice_keeps_one_blank_line() {
        assert_eq!(html_to_text("a<br><br><br><br>b<br>c"), "a\n\nb\nc");
    }

    #[test]
    fn entities_are_decoded_and_nbsp_is_a_space() {
        assert_eq!(
            html_to_text("Caf&eacute; &lt;b&gt; &amp; &#8364;5&nbsp;total &#x2014; &rsquo;"),
            "Café <b> & €5 total — ’"
        );
    }

    #[test]
    fn scripts_styles_head_and_comments_are_dropped() {
        let text = html_to_text(concat!(
            "<!DOCTYPE html><?xml version=\"1.0\"?><html><head><title>T</title>",
            "<style>p{color:red}</style></head><body>",
            "<script>if (a < b) { document.write('<div>x</div>') }</script>",
            "<!-- <div>hidden</div> --><!--[if mso]>mso only<![endif]-->",
            "<p>shown</p></body></html>"
        ));
        assert_eq!(text, "shown");
    }

    #[test]
    fn scripts_and_styles_with_attributes_are_dropped() {
        let text = html_to_text(concat!(
            "<style type=\"text/css\" media=\"screen\">.x { color: red }</style>",
            "<SCRIPT type='text/javascript'>track('open')</SCRIPT >",
            "<template id=t><p>tpl</p></template>",
            "<div>kept</div>"
        ));
        assert_eq!(text, "kept");
    }

    #[test]
    fn unclosed_script_runs_to_the_end_but_unclosed_head_does_not() {
        assert_eq!(html_to_text("before<script>never shown"), "before");
        assert_eq!(html_to_text("<head><p>body text</p>"), "body text");
        assert_eq!(html_to_text("a</style>b"), "ab");
    }

    #[test]
    fn links_show_their_target_once() {
        assert_eq!(
            html_to_text("<a href=\"https://ex.test/o?id=1&amp;x=2\">your order</a>."),
            "your order (https://ex.test/o?id=1&x=2)."
        );
        // The text already is the URL: not repeated.
        assert_eq!(
            html_to_text("<a href='https://ex.test/'>https://ex.test</a>"),
            "https://ex.test"
        );
        assert_eq!(
            html_to_text("<a href=\"mailto:help@ex.test\">write to us</a>"),
            "write to us (help@ex.test)"
        );
        assert_eq!(
            html_to_text("<a href=\"mailto:help@ex.test\">help@ex.test</a>"),
            "help@ex.test"
        );
    }

    #[test]
    fn unsafe_or_relative_link_targets_are_not_shown() {
        assert_eq!(
            html_to_text("<a href=\"javascript:alert(1)\">click</a>"),
            "click"
        );
        assert_eq!(html_to_text("<a href=\"/orders/1\">order</a>"), "order");
        assert_eq!(html_to_text("<a name=\"top\">top</a>"), "top");
    }

    #[test]
    fn gt_inside_quoted_attribute_does_not_end_the_tag() {
        assert_eq!(
            html_to_text("<div title=\"a > b\">x</div><div>y</div>"),
            "x\ny"
        );
    }

    #[test]
    fn table_cells_are_spaced() {
        assert_eq!(
            html_to_text(
                "<table><tr><td>Item</td><td>Qty</td></tr><tr><td>Mug</td><td>2</td></tr></table>"
            ),
            "Item Qty\nMug 2"
        );
    }

    #[test]
    fn stray_angle_brackets_and_broken_markup_do_not_panic() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(html_to_text("1<2 and 3>2"), "1<2 and 3>2");
        assert_eq!(html_to_text("<div"), "<div");
        assert_eq!(
            html_to_text("x<a href=\"https://e.test\">unclosed"),
            "xunclosed"
        );
        assert_eq!(html_to_text("<!-- never closed"), "");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn attribute_parsing() {
        assert_eq!(
            attribute(" class=x href=\"h1\"", "href").as_deref(),
            Some("h1")
        );
        assert_eq!(attribute(" HREF='h2' ", "href").as_deref(), Some("h2"));
        assert_eq!(
            attribute(" href = h3 target=_blank", "href").as_deref(),
            Some("h3")
        );
        assert_eq!(attribute(" disabled data-href=\"no\"", "href"), None);
    }
}
