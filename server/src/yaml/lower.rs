//! Lowering a tree-sitter-yaml CST of one document to a spanned value tree.

use std::cell::RefCell;
use std::collections::HashMap;

use tree_sitter::{Node as TsNode, Parser, Tree};

use super::node::{Entry, Node, Span, Value};
use super::scalar::{decode_block, decode_plain, fold_flow, parse_float, resolve_plain};

/// Deepest nesting lowered; deeper content is reported and replaced by null.
pub const MAX_DEPTH: usize = 256;
/// Most nodes that alias expansion may create in one document (an alias bomb stops here).
pub const ALIAS_BUDGET: usize = 200_000;
/// Most syntax errors reported per document.
const MAX_SYNTAX_ERRORS: usize = 8;

/// What can be wrong in a document's YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YamlIssueKind {
    Syntax,
    TabIndentation,
    DuplicateKey,
    UnknownAlias,
    AliasBudget,
    TooDeep,
    InvalidTaggedValue,
    InvalidMerge,
    InvalidEscape,
    CollectionKey,
}

impl YamlIssueKind {
    pub fn code(self) -> &'static str {
        match self {
            YamlIssueKind::Syntax => "yaml/syntax",
            YamlIssueKind::TabIndentation => "yaml/tab-indentation",
            YamlIssueKind::DuplicateKey => "yaml/duplicate-key",
            YamlIssueKind::UnknownAlias => "yaml/unknown-alias",
            YamlIssueKind::AliasBudget => "yaml/alias-budget",
            YamlIssueKind::TooDeep => "yaml/too-deep",
            YamlIssueKind::InvalidTaggedValue => "yaml/invalid-tagged-value",
            YamlIssueKind::InvalidMerge => "yaml/invalid-merge",
            YamlIssueKind::InvalidEscape => "yaml/invalid-escape",
            YamlIssueKind::CollectionKey => "yaml/collection-key",
        }
    }
    pub fn is_error(self) -> bool {
        !matches!(self, YamlIssueKind::DuplicateKey)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct YamlIssue {
    pub kind: YamlIssueKind,
    pub span: Span,
    pub message: String,
    /// Another place the message refers to (the first definition of a duplicate key).
    pub related: Option<Span>,
}

/// One document lowered: its value (None when it holds no content or could not be read at all)
/// and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoweredDocument {
    pub root: Option<Node>,
    pub issues: Vec<YamlIssue>,
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

/// Parses one document's text with tree-sitter-yaml.
pub fn parse_tree(text: &str, old: Option<&Tree>) -> Option<Tree> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_yaml::LANGUAGE.into())
                .ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(text, old)
    })
}

/// Lowers the text of one document segment.
pub fn lower_document(text: &str) -> LoweredDocument {
    let Some(tree) = parse_tree(text, None) else {
        return LoweredDocument {
            root: None,
            issues: vec![YamlIssue {
                kind: YamlIssueKind::Syntax,
                span: Span::new(0, text.len().min(1)),
                message: "the YAML parser gave up on this document".into(),
                related: None,
            }],
        };
    };
    if tree.root_node().has_error() {
        // Lines of a flow collection or quoted string indented no deeper than its key are
        // against the YAML spec, and tree-sitter rejects them, but the YAML parsers behind
        // kubectl and the API server accept them (Argo's examples are written so). The relaxed
        // text joins such lines to the line above; it has the same length, so the tree's spans
        // hold for the original text, from which every value is read.
        let relaxed = relax_flow_indentation(text)
            .and_then(|relaxed| parse_tree(&relaxed, None))
            .filter(|t| !t.root_node().has_error());
        if let Some(relaxed) = relaxed {
            return lower_tree(text, &relaxed);
        }
    }
    lower_tree(text, &tree)
}

/// `text` with the line breaks before under-indented continuation lines of flow collections
/// and quoted strings turned into spaces, or None when there are none (or when one follows a
/// comment, which joining would swallow). Byte offsets are unchanged.
pub fn relax_flow_indentation(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut joins: Vec<usize> = Vec::new();
    let mut flow_depth = 0usize;
    let mut quote: Option<u8> = None;
    // Indentation of the block line where the open flow collection or string started.
    let mut opener_indent = 0usize;
    // Indentation of the line holding an open block scalar header (its content is skipped).
    let mut block_scalar: Option<usize> = None;
    let mut line_indent = 0usize;
    let mut value_start = true;
    let mut comment_on_line = false;
    let mut i = 0;
    let mut at_line_start = true;
    while i < bytes.len() {
        if at_line_start {
            at_line_start = false;
            let indent = bytes[i..].iter().take_while(|&&b| b == b' ').count();
            let rest = &bytes[i + indent..];
            let blank = rest.first().is_none_or(|&b| matches!(b, b'\n' | b'\r'));
            if let Some(parent) = block_scalar {
                if blank || indent > parent {
                    // Block scalar content: skip the line.
                    i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                    at_line_start = true;
                    continue;
                }
                block_scalar = None;
            }
            if (flow_depth > 0 || quote.is_some()) && !blank && indent <= opener_indent {
                if comment_on_line {
                    return None;
                }
                joins.push(i - 1);
                if i >= 2 && bytes[i - 2] == b'\r' {
                    joins.push(i - 2);
                }
            }
            comment_on_line = false;
            if flow_depth == 0 && quote.is_none() {
                line_indent = indent;
                value_start = true;
            }
            i += indent;
            continue;
        }
        let b = bytes[i];
        if let Some(q) = quote {
            if q == b'"' && b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                quote = None;
                value_start = false;
            } else if b == b'\n' {
                at_line_start = true;
            }
            i += 1;
            continue;
        }
        match b {
            b'\n' => at_line_start = true,
            b' ' | b'\t' | b'\r' => {}
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n') => {
                comment_on_line = true;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' if value_start => {
                if flow_depth == 0 {
                    opener_indent = line_indent;
                }
                quote = Some(b);
            }
            b'[' | b'{' if value_start => {
                if flow_depth == 0 {
                    opener_indent = line_indent;
                }
                flow_depth += 1;
            }
            b']' | b'}' if flow_depth > 0 => {
                flow_depth -= 1;
                value_start = false;
            }
            b',' if flow_depth > 0 => value_start = true,
            b'|' | b'>' if value_start && flow_depth == 0 => {
                // A block scalar header: the rest of the line is indicators and a comment.
                block_scalar = Some(line_indent);
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b':' | b'-' | b'?'
                if bytes
                    .get(i + 1)
                    .is_none_or(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
                    || (flow_depth > 0 && b == b':') =>
            {
                value_start = true;
            }
            _ => value_start = false,
        }
        i += 1;
    }
    if joins.is_empty() {
        return None;
    }
    let mut out = bytes.to_vec();
    for j in joins {
        out[j] = b' ';
    }
    String::from_utf8(out).ok()
}

pub fn lower_tree(text: &str, tree: &Tree) -> LoweredDocument {
    let mut lowerer = Lowerer {
        src: text,
        parser_error: None,
        anchors: HashMap::new(),
        budget: ALIAS_BUDGET,
        issues: Vec::new(),
    };
    let root = tree.root_node();
    if root.has_error() {
        lowerer.report_syntax_errors(root);
    }
    let mut value = None;
    let mut cursor = root.walk();
    'docs: for doc in root.named_children(&mut cursor) {
        if doc.kind() != "document" {
            continue;
        }
        let mut c2 = doc.walk();
        for child in doc.named_children(&mut c2) {
            if matches!(child.kind(), "block_node" | "flow_node") {
                value = lowerer.lower(child, 0, -1);
                break 'docs;
            }
        }
    }
    LoweredDocument {
        root: value,
        issues: lowerer.issues,
    }
}

struct Lowerer<'a> {
    src: &'a str,
    /// saphyr's first syntax error in the document: None until asked for, then taken by the
    /// first ERROR node that uses it.
    parser_error: Option<Option<(usize, String)>>,
    anchors: HashMap<String, (Node, usize)>,
    budget: usize,
    issues: Vec<YamlIssue>,
}

fn span_of(n: TsNode) -> Span {
    Span::new(n.start_byte(), n.end_byte())
}

impl<'a> Lowerer<'a> {
    fn text(&self, n: TsNode) -> &'a str {
        &self.src[n.byte_range()]
    }

    fn text_at(&self, span: Span) -> &'a str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    fn issue(&mut self, kind: YamlIssueKind, span: Span, message: String) {
        self.issues.push(YamlIssue {
            kind,
            span,
            message,
            related: None,
        });
    }

    fn report_syntax_errors(&mut self, root: TsNode) {
        // YAML forbids tabs in indentation; when one is there it is almost surely the cause.
        if let Some(tab) = tab_in_indentation(self.src) {
            self.issue(
                YamlIssueKind::TabIndentation,
                Span::new(tab, tab + 1),
                "tab character used for indentation: YAML indents with spaces only".into(),
            );
            return;
        }
        let mut stack = vec![root];
        let mut found = 0;
        while let Some(n) = stack.pop() {
            if found >= MAX_SYNTAX_ERRORS {
                break;
            }
            if n.is_missing() {
                found += 1;
                let what = n.kind();
                let at = n.start_byte();
                self.issue(
                    YamlIssueKind::Syntax,
                    Span::new(at, at),
                    format!("syntax error: missing `{what}`"),
                );
                continue;
            }
            if n.is_error() {
                found += 1;
                self.report_error_node(n);
                continue;
            }
            if n.has_error() {
                let mut cursor = n.walk();
                let children: Vec<_> = n.children(&mut cursor).collect();
                stack.extend(children.into_iter().rev());
            }
        }
    }

    fn report_error_node(&mut self, n: TsNode) {
        let start = n.start_byte();
        let line_end = self.src[start..]
            .find('\n')
            .map_or(self.src.len(), |i| start + i);
        if let Some((at, len, message)) = unclosed_delimiter(&self.src[n.byte_range()]) {
            let at = n.start_byte() + at;
            self.issue(YamlIssueKind::Syntax, Span::new(at, at + len), message);
            return;
        }
        // tree-sitter recovers by wrapping a whole stretch in one ERROR node, so its start can
        // be lines above the mistake (a document's `---`). A YAML parser that stops at the
        // first error knows the place (often just past the node): use it, once per document.
        if line_end < n.end_byte()
            && let Some((at, message)) = self
                .parser_error
                .get_or_insert_with(|| first_parser_error(self.src))
                .take_if(|(at, _)| *at >= start)
        {
            let first_char = self.src[at..].chars().next().map_or(0, char::len_utf8);
            let end = self.src[at..]
                .find(char::is_whitespace)
                .map_or(self.src.len(), |i| at + i)
                .max(at + first_char);
            self.issue(
                YamlIssueKind::Syntax,
                Span::new(at, end),
                format!("syntax error: {message}"),
            );
            return;
        }
        let end = n
            .end_byte()
            .min(line_end)
            .max(start + 1)
            .min(self.src.len());
        let snippet: String = self.src[start..end].trim().chars().take(40).collect();
        let message = if snippet.is_empty() {
            "syntax error: this YAML could not be parsed".to_string()
        } else {
            format!("syntax error: could not parse `{snippet}`")
        };
        self.issue(
            YamlIssueKind::Syntax,
            Span::new(start, end.max(start)),
            message,
        );
    }

    /// Lowers a value node. `parent_indent` is the column of the enclosing block collection.
    fn lower(&mut self, n: TsNode, depth: usize, parent_indent: i64) -> Option<Node> {
        if depth > MAX_DEPTH {
            self.issue(
                YamlIssueKind::TooDeep,
                Span::new(n.start_byte(), n.start_byte() + 1),
                format!("nesting deeper than {MAX_DEPTH} levels is not analysed"),
            );
            return Some(Node::new(Value::Null, span_of(n)));
        }
        match n.kind() {
            "block_node" | "flow_node" => self.lower_properties(n, depth, parent_indent),
            "ERROR" => None,
            _ => Some(self.lower_content(n, None, depth, parent_indent)),
        }
    }

    /// A node with optional tag and anchor properties.
    fn lower_properties(&mut self, n: TsNode, depth: usize, parent_indent: i64) -> Option<Node> {
        let mut tag = None;
        let mut anchor = None;
        let mut content = None;
        let mut cursor = n.walk();
        for child in n.named_children(&mut cursor) {
            match child.kind() {
                "tag" => tag = Some(self.text(child)),
                "anchor" => {
                    let name = self.text(child).trim_start_matches('&');
                    anchor = Some(name.to_string());
                }
                "comment" => {}
                "ERROR" => {}
                _ if content.is_none() => content = Some(child),
                _ => {}
            }
        }
        let node = match content {
            Some(c) => self.lower_content(c, tag, depth, parent_indent),
            None => {
                // Only properties: an empty scalar.
                let at = n.end_byte();
                let value = match tag.and_then(core_tag) {
                    Some("str") => Value::Str(String::new()),
                    _ => Value::Null,
                };
                Node::new(value, Span::new(at, at))
            }
        };
        if let Some(name) = anchor {
            let size = node.size();
            self.anchors.insert(name, (node.clone(), size));
        }
        Some(node)
    }

    fn lower_content(
        &mut self,
        n: TsNode,
        tag: Option<&str>,
        depth: usize,
        parent_indent: i64,
    ) -> Node {
        let span = span_of(n);
        match n.kind() {
            "plain_scalar" => {
                let raw = decode_plain(self.text(n));
                let value = self.resolve_tagged(&raw, tag, span);
                Node::new(value, span)
            }
            "double_quote_scalar" | "single_quote_scalar" => {
                let double = n.kind() == "double_quote_scalar";
                let text = self.text(n);
                let q = if double { '"' } else { '\'' };
                let inner = text.strip_prefix(q).unwrap_or(text);
                let inner = inner.strip_suffix(q).unwrap_or(inner);
                let value = match fold_flow(inner, double, !double) {
                    Ok(s) => s,
                    Err(e) => {
                        self.issue(
                            YamlIssueKind::InvalidEscape,
                            span,
                            format!("invalid string: {e}"),
                        );
                        inner.to_string()
                    }
                };
                Node::new(Value::Str(value), span)
            }
            "block_scalar" => {
                let end = self.block_scalar_end(n.end_byte());
                let text = &self.src[n.start_byte()..end];
                let value = match decode_block(text, parent_indent) {
                    Ok(s) => s,
                    Err(e) => {
                        self.issue(
                            YamlIssueKind::Syntax,
                            span,
                            format!("invalid block scalar: {e}"),
                        );
                        String::new()
                    }
                };
                Node::new(Value::Str(value), span)
            }
            "alias" => self.expand_alias(n),
            "block_mapping" => {
                let indent = n.start_position().column as i64;
                let mut pairs = Vec::new();
                let mut cursor = n.walk();
                for pair in n.named_children(&mut cursor) {
                    if pair.kind() == "block_mapping_pair" {
                        pairs.push((
                            pair.child_by_field_name("key"),
                            pair.child_by_field_name("value"),
                            pair,
                        ));
                    }
                }
                self.lower_mapping(span, pairs, depth, indent)
            }
            "flow_mapping" => {
                let mut pairs = Vec::new();
                let mut cursor = n.walk();
                for item in n.named_children(&mut cursor) {
                    match item.kind() {
                        "flow_pair" => pairs.push((
                            item.child_by_field_name("key"),
                            item.child_by_field_name("value"),
                            item,
                        )),
                        "flow_node" => pairs.push((Some(item), None, item)),
                        _ => {}
                    }
                }
                self.lower_mapping(span, pairs, depth, parent_indent)
            }
            "block_sequence" => {
                let indent = n.start_position().column as i64;
                let mut items = Vec::new();
                let mut cursor = n.walk();
                for item in n.named_children(&mut cursor) {
                    if item.kind() != "block_sequence_item" {
                        continue;
                    }
                    let mut c2 = item.walk();
                    let content = item
                        .named_children(&mut c2)
                        .find(|c| matches!(c.kind(), "block_node" | "flow_node"));
                    let node = match content {
                        Some(c) => self.lower(c, depth + 1, indent),
                        None => {
                            let at = item.end_byte();
                            Some(Node::new(Value::Null, Span::new(at, at)))
                        }
                    };
                    if let Some(node) = node {
                        items.push(node);
                    }
                }
                Node::new(Value::Seq(items), span)
            }
            "flow_sequence" => {
                let mut items = Vec::new();
                let mut cursor = n.walk();
                for item in n.named_children(&mut cursor) {
                    match item.kind() {
                        "flow_node" => {
                            if let Some(node) = self.lower(item, depth + 1, parent_indent) {
                                items.push(node);
                            }
                        }
                        "flow_pair" => {
                            let pair = (
                                item.child_by_field_name("key"),
                                item.child_by_field_name("value"),
                                item,
                            );
                            items.push(self.lower_mapping(
                                span_of(item),
                                vec![pair],
                                depth + 1,
                                parent_indent,
                            ));
                        }
                        _ => {}
                    }
                }
                Node::new(Value::Seq(items), span)
            }
            _ => Node::new(Value::Null, span),
        }
    }

    /// The end of a block scalar including the blank lines after it (kept by `+` chomping).
    fn block_scalar_end(&self, end: usize) -> usize {
        let bytes = self.src.as_bytes();
        let mut pos = end;
        // Finish the current line.
        while pos < bytes.len() && bytes[pos] != b'\n' {
            if !matches!(bytes[pos], b' ' | b'\t' | b'\r') {
                return end;
            }
            pos += 1;
        }
        let mut last_good = if pos < bytes.len() { pos + 1 } else { pos };
        pos = last_good;
        loop {
            let line_end = self.src[pos..].find('\n').map_or(bytes.len(), |i| pos + i);
            if pos >= bytes.len() {
                break;
            }
            if self.src[pos..line_end]
                .trim_matches([' ', '\t', '\r'])
                .is_empty()
            {
                last_good = (line_end + 1).min(bytes.len());
                pos = last_good;
            } else {
                break;
            }
        }
        last_good
    }

    fn expand_alias(&mut self, n: TsNode) -> Node {
        let span = span_of(n);
        let name = self.text(n).trim_start_matches('*');
        let Some((target, size)) = self.anchors.get(name) else {
            self.issue(
                YamlIssueKind::UnknownAlias,
                span,
                format!("unknown alias `*{name}`: no anchor `&{name}` before it"),
            );
            return Node::new(Value::Null, span);
        };
        if *size > self.budget {
            let message = format!(
                "alias `*{name}` not expanded: this document's aliases expand to more than {ALIAS_BUDGET} nodes (an alias bomb?)"
            );
            self.budget = 0;
            self.issue(YamlIssueKind::AliasBudget, span, message);
            return Node::new(Value::Null, span);
        }
        self.budget -= *size;
        target.relocated(span)
    }

    fn resolve_tagged(&mut self, raw: &str, tag: Option<&str>, span: Span) -> Value {
        let Some(tag) = tag else {
            return resolve_plain(raw);
        };
        let Some(core) = core_tag(tag) else {
            // Application tags and the non-specific `!` do not change the value here.
            return if tag == "!" {
                Value::Str(raw.to_string())
            } else {
                resolve_plain(raw)
            };
        };
        let parsed = match core {
            "str" => Some(Value::Str(raw.to_string())),
            "bool" => match raw {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            "int" => raw.parse::<i64>().ok().map(Value::Int),
            "float" => parse_float(raw)
                .or_else(|| raw.parse::<i64>().ok().map(|i| i as f64))
                .map(Value::Float),
            "null" => matches!(raw, "~" | "null" | "").then_some(Value::Null),
            // !!binary, !!timestamp, !!map, !!seq… keep the text.
            _ => Some(Value::Str(raw.to_string())),
        };
        match parsed {
            Some(v) => v,
            None => {
                self.issue(
                    YamlIssueKind::InvalidTaggedValue,
                    span,
                    format!("`{raw}` is not a valid value for the tag `{tag}`"),
                );
                Value::Str(raw.to_string())
            }
        }
    }

    fn lower_mapping(
        &mut self,
        span: Span,
        pairs: Vec<(Option<TsNode>, Option<TsNode>, TsNode)>,
        depth: usize,
        indent: i64,
    ) -> Node {
        let mut entries: Vec<Entry> = Vec::with_capacity(pairs.len());
        let mut merges: Vec<Node> = Vec::new();
        let mut collection_keys: Vec<Span> = Vec::new();
        let single = pairs.len() == 1;
        for (key, value, pair) in pairs {
            let (key_text, key_span, is_merge) = match key {
                Some(k) => {
                    let is_merge = self.is_merge_key(k);
                    let key_node = self.lower(k, depth + 1, indent);
                    if let Some(kn) = &key_node
                        && matches!(kn.value, Value::Seq(_) | Value::Map(_))
                    {
                        collection_keys.push(span_of(k));
                    }
                    let text = key_node
                        .as_ref()
                        .map_or_else(String::new, |kn| key_string(&kn.value));
                    (text, span_of(k), is_merge)
                }
                None => {
                    let at = pair.start_byte();
                    (String::from("null"), Span::new(at, at), false)
                }
            };
            let value_node = match value {
                Some(v) => self.lower(v, depth + 1, indent),
                None => None,
            };
            let value_node = value_node.unwrap_or_else(|| {
                let at = pair.end_byte();
                Node::new(Value::Null, Span::new(at, at))
            });
            if is_merge {
                merges.push(value_node);
                continue;
            }
            entries.push(Entry {
                key: key_text,
                key_span,
                value: value_node,
            });
        }
        if !collection_keys.is_empty() {
            let text = self.text_at(span);
            let template = single
                && text
                    .strip_prefix("{{")
                    .and_then(|t| t.strip_suffix("}}"))
                    .is_some_and(|inner| !inner.contains(['{', '}', '\n']));
            if template {
                // `{{name}}` unquoted: a template placeholder that YAML reads as a mapping
                // whose key is a mapping. Kubernetes refuses it; read it as the text it meant.
                self.issue(
                    YamlIssueKind::CollectionKey,
                    span,
                    format!(
                        "`{text}` is a template placeholder, but unquoted YAML reads it as a mapping with a mapping for key, which Kubernetes refuses: quote it (\"{text}\") or render the template before checking"
                    ),
                );
                return Node::new(Value::Str(text.to_string()), span);
            }
            for key_span in collection_keys {
                self.issue(
                    YamlIssueKind::CollectionKey,
                    key_span,
                    "a mapping or list used as a key: Kubernetes accepts only strings, numbers, booleans and null as keys".into(),
                );
            }
        }
        self.report_duplicates(&entries);
        if !merges.is_empty() {
            self.apply_merges(&mut entries, merges);
        }
        Node::new(Value::Map(entries), span)
    }

    fn is_merge_key(&self, k: TsNode) -> bool {
        if self.text(k) != "<<" {
            return false;
        }
        let mut cursor = k.walk();
        k.named_children(&mut cursor)
            .any(|c| c.kind() == "plain_scalar")
    }

    fn report_duplicates(&mut self, entries: &[Entry]) {
        if entries.len() < 2 {
            return;
        }
        let mut seen: HashMap<&str, Span> = HashMap::with_capacity(entries.len());
        let mut found = Vec::new();
        for e in entries {
            if let Some(first) = seen.insert(&e.key, e.key_span) {
                found.push((e.key.clone(), e.key_span, first));
            }
        }
        for (key, span, first) in found {
            self.issues.push(YamlIssue {
                kind: YamlIssueKind::DuplicateKey,
                span,
                message: format!(
                    "duplicate key `{key}`: the last value wins, the first one is ignored"
                ),
                related: Some(first),
            });
        }
    }

    /// `<<` merge keys: keys of the merged mappings that the mapping does not define itself,
    /// earlier merged mappings taking precedence over later ones.
    fn apply_merges(&mut self, entries: &mut Vec<Entry>, merges: Vec<Node>) {
        let mut sources = Vec::new();
        for m in merges {
            match m.value {
                Value::Map(_) => sources.push(m),
                Value::Seq(items) => {
                    for item in items {
                        if matches!(item.value, Value::Map(_)) {
                            sources.push(item);
                        } else {
                            self.issue(
                                YamlIssueKind::InvalidMerge,
                                item.span,
                                "a `<<` merge list may only hold mappings".into(),
                            );
                        }
                    }
                }
                _ => self.issue(
                    YamlIssueKind::InvalidMerge,
                    m.span,
                    "the value of a `<<` merge key must be a mapping or a list of mappings".into(),
                ),
            }
        }
        let mut present: std::collections::HashSet<String> =
            entries.iter().map(|e| e.key.clone()).collect();
        for source in sources {
            if let Value::Map(src_entries) = source.value {
                for e in src_entries {
                    if present.insert(e.key.clone()) {
                        entries.push(e);
                    }
                }
            }
        }
    }
}

/// The tag's name in the YAML core schema (`!!int` → `int`), if it is one.
fn core_tag(tag: &str) -> Option<&str> {
    tag.strip_prefix("!!").or_else(|| {
        tag.strip_prefix("!<tag:yaml.org,2002:")
            .and_then(|t| t.strip_suffix('>'))
    })
}

/// A key as JSON writes it: strings as they are, other scalars in their canonical text.
pub fn key_string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_key(*f),
        Value::Seq(_) | Value::Map(_) => {
            let node = Node::new(v.clone(), Span::default());
            node.to_json().to_string()
        }
    }
}

fn float_key(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        f.to_string()
    }
}

/// The offset of a tab in the indentation of a content line, if any.
fn tab_in_indentation(src: &str) -> Option<usize> {
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let rest = line[indent_len..].trim_end();
        if !rest.is_empty() && !rest.starts_with('#') && line[..indent_len].contains('\t') {
            return Some(offset + line.find('\t').unwrap_or(0));
        }
        offset += line.len();
    }
    None
}

/// The first syntax error saphyr's parser finds in `src`: its byte offset and message.
fn first_parser_error(src: &str) -> Option<(usize, String)> {
    let e = saphyr_parser::Parser::new_from_str(src).find_map(Result::err)?;
    let m = e.marker();
    // Markers count lines from 1 and columns in characters from 0.
    let line_start = src
        .split_inclusive('\n')
        .take(m.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let line = &src[line_start.min(src.len())..];
    let column = line
        .char_indices()
        .nth(m.col())
        .map_or(line.len(), |(i, _)| i);
    let at = (line_start + column).min(src.len());
    let info = e.info();
    // "while parsing a block mapping, did not find expected key" reads better problem-first.
    let message = match info.split_once(", ") {
        // saphyr's wording for what kubectl calls "could not find expected ':'".
        _ if info == "simple key expect ':'" => "could not find expected `:`".to_string(),
        Some((context, problem)) if context.starts_with("while ") => {
            format!("{problem} ({context})")
        }
        _ => info.to_string(),
    };
    Some((at, message))
}

/// Finds a flow collection or quoted scalar that is opened and never closed: the usual cause
/// of a document tree-sitter cannot read at all. Returns the offset and length of the opening
/// delimiter and a message.
pub fn unclosed_delimiter(text: &str) -> Option<(usize, usize, String)> {
    let bytes = text.as_bytes();
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut i = 0;
    // Whether a value may start here (line start, after `: `, `- `, `[`, `{`, `,`).
    let mut value_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                value_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' if value_start => {
                let open = i;
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    if b == b'"' && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == b {
                        if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    i += 1;
                }
                if !closed {
                    return Some((
                        open,
                        1,
                        format!(
                            "syntax error: this {} string is never closed",
                            if b == b'"' {
                                "double-quoted"
                            } else {
                                "single-quoted"
                            }
                        ),
                    ));
                }
                i += 1;
                value_start = false;
                continue;
            }
            b'[' | b'{' if value_start => {
                stack.push((i, b));
                i += 1;
                value_start = true;
                continue;
            }
            b']' | b'}' if !stack.is_empty() => {
                stack.pop();
                i += 1;
                value_start = false;
                continue;
            }
            b',' if !stack.is_empty() => {
                i += 1;
                value_start = true;
                continue;
            }
            b':' | b'-' | b'?'
                if bytes
                    .get(i + 1)
                    .is_none_or(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t')) =>
            {
                i += 1;
                value_start = true;
                continue;
            }
            _ => {
                value_start = false;
                i += 1;
            }
        }
    }
    stack.first().map(|&(at, b)| {
        let (what, close) = if b == b'[' {
            ("flow sequence", ']')
        } else {
            ("flow mapping", '}')
        };
        (
            at,
            1,
            format!(
                "syntax error: this {what} `{}` is never closed (expected `{close}`)",
                b as char
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowered_json(text: &str) -> (Option<serde_json::Value>, Vec<String>) {
        let d = lower_document(text);
        (
            d.root.as_ref().map(Node::to_json),
            d.issues.iter().map(|i| i.message.clone()).collect(),
        )
    }

    #[test]
    fn under_indented_flow_and_quoted_lines_are_read_as_kubectl_reads_them() {
        // Argo Workflows' examples: a multi-line string in a flow sequence, closed at the
        // key's indentation.
        let text = "spec:\n  args: [\"\n    cd /src &&\n    make\n  \"]\n  b: 1\n";
        let (value, issues) = lowered_json(text);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            value,
            Some(serde_json::json!({"spec": {"args": [" cd /src && make "], "b": 1}}))
        );
        let text = "a:\n  c: [x,\n  z]\n  d: {k: 1,\n  l: 'two\n  words'}\n";
        let (value, issues) = lowered_json(text);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            value,
            Some(serde_json::json!({"a": {"c": ["x", "z"], "d": {"k": 1, "l": "two words"}}}))
        );
        // CRLF line ends too.
        let (value, issues) = lowered_json("a:\r\n  c: [x,\r\n  z]\r\n");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(value, Some(serde_json::json!({"a": {"c": ["x", "z"]}})));
    }

    #[test]
    fn relaxing_does_not_hide_real_mistakes() {
        // An unclosed sequence stays an error.
        let (_, issues) = lowered_json("a: [1, 2\nb: 3\n");
        assert!(!issues.is_empty());
        // A comment before the under-indented line cannot be joined.
        assert_eq!(relax_flow_indentation("a:\n  c: [x, # note\n  y]\n"), None);
        // Block scalar content is not flow content, whatever it holds.
        assert_eq!(relax_flow_indentation("a: |\n  [x,\nb: 1\n"), None);
        // Well-indented flow needs nothing.
        assert_eq!(relax_flow_indentation("a:\n  c: [x,\n     y]\n"), None);
        // Spans still point into the original text.
        let text = "a:\n  c: [x,\n  y]\n";
        let root = lower_document(text).root.unwrap();
        let Value::Map(entries) = &root.value else {
            panic!()
        };
        let Value::Map(inner) = &entries[0].value.value else {
            panic!()
        };
        let Value::Seq(items) = &inner[0].value.value else {
            panic!()
        };
        assert_eq!(
            &text[items[1].span.start as usize..items[1].span.end as usize],
            "y"
        );
    }

    #[test]
    fn template_placeholders_and_collection_keys() {
        let text = "a: {{cell}}\nb: [{{ x.y }}]\nc: {[1]: x, w: 1}\nd: \"{{fine}}\"\n";
        let d = lower_document(text);
        assert_eq!(
            d.root.as_ref().map(Node::to_json),
            Some(serde_json::json!({
                "a": "{{cell}}", "b": ["{{ x.y }}"], "c": {"[1]": "x", "w": 1}, "d": "{{fine}}"
            }))
        );
        let found: Vec<(&str, bool)> = d
            .issues
            .iter()
            .map(|i| {
                assert_eq!(i.kind, YamlIssueKind::CollectionKey);
                let at = &text[i.span.start as usize..i.span.end as usize];
                (at, i.message.contains("template placeholder"))
            })
            .collect();
        assert_eq!(
            found,
            vec![("{{cell}}", true), ("{{ x.y }}", true), ("[1]", false)]
        );
    }

    #[test]
    fn a_mis_indented_key_is_reported_on_its_line() {
        // tree-sitter's ERROR node ends before the key; the place is just past it.
        let text =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    a: b\n   c: d\n";
        let d = lower_document(text);
        let first = &d.issues[0];
        assert_eq!(
            first.span.start as usize,
            text.find("c: d").unwrap(),
            "{}",
            first.message
        );
        assert!(
            first.message.contains("did not find expected key"),
            "{}",
            first.message
        );
    }

    #[test]
    fn a_multi_line_error_is_placed_where_a_parser_stops() {
        // tree-sitter wraps all of this in one ERROR node starting at `---`.
        let text = "---\na:\n  b:\n  - name: x\n    key: y\n  ...\n  - name: z\n";
        let d = lower_document(text);
        assert!(!d.issues.is_empty());
        let first = &d.issues[0];
        assert!(first.span.start > 4, "{:?} {}", first.span, first.message);
    }

    #[test]
    fn unclosed_delimiters_are_found() {
        let (at, _, m) = unclosed_delimiter("a: 1\nargs: [--port, 8080\n").unwrap();
        assert_eq!(at, 11);
        assert!(m.contains("never closed"), "{m}");
        assert!(unclosed_delimiter("a: [1,\n  2]\nb: \"x]\"\nc: it's [fine]\n").is_none());
        let (at, _, m) = unclosed_delimiter("a: \"open\nb: 1\n").unwrap();
        assert_eq!(at, 3);
        assert!(m.contains("double-quoted"), "{m}");
    }

    fn value(text: &str) -> serde_json::Value {
        lower_document(text)
            .root
            .map(|r| r.to_json())
            .unwrap_or_default()
    }

    #[test]
    fn non_specific_tag_makes_a_string() {
        // YAML 1.2: `!` forces the string type (saphyr 0.3 resolves it as untagged).
        assert_eq!(value("a: ! 12\n"), serde_json::json!({"a": "12"}));
    }

    #[test]
    fn lowers_anchors_merges_and_tags() {
        let v = value("base: &b {x: 1, w: 2}\nm:\n  <<: *b\n  w: 3\nt: !!str 12\ni: !!int 7\n");
        assert_eq!(
            v,
            serde_json::json!({"base": {"x": 1, "w": 2}, "m": {"w": 3, "x": 1}, "t": "12", "i": 7})
        );
        // Keys resolve as values do, as Kubernetes reads them: `y` and `on` are booleans.
        assert_eq!(
            value("y: 1\non: 2\n\"n\": 3\n"),
            serde_json::json!({"true": 2, "n": 3})
        );
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names: Vec<char> = "bcdefghij".chars().collect();
        let mut prev = 'a';
        for c in names {
            text.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        let start = std::time::Instant::now();
        let doc = lower_document(&text);
        assert!(start.elapsed().as_secs() < 5);
        assert!(
            doc.issues
                .iter()
                .any(|i| i.kind == YamlIssueKind::AliasBudget)
        );
        assert!(doc.root.unwrap().size() <= ALIAS_BUDGET * 2 + 100);
    }

    #[test]
    fn duplicate_keys_and_unknown_aliases_are_reported() {
        let doc = lower_document("a: 1\nb: *nope\na: 2\n");
        let kinds: Vec<_> = doc.issues.iter().map(|i| i.kind).collect();
        assert!(kinds.contains(&YamlIssueKind::DuplicateKey));
        assert!(kinds.contains(&YamlIssueKind::UnknownAlias));
        assert_eq!(doc.root.unwrap().to_json()["a"], 2);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let depth = 10_000;
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let doc = lower_document(&text);
        assert!(doc.issues.iter().any(|i| i.kind == YamlIssueKind::TooDeep));
    }

    #[test]
    fn tabs_in_indentation_get_their_own_message() {
        let doc = lower_document("metadata:\n\tname: x\n");
        assert!(
            doc.issues
                .iter()
                .any(|i| i.kind == YamlIssueKind::TabIndentation),
            "{:?}",
            doc.issues
        );
    }
}
