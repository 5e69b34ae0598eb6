//! Conversions between the analysis layer's byte ranges and LSP positions and types.

use std::ops::Range;

use tower_lsp_server::ls_types::{
    self as lsp, CodeDescription, CompletionItem, CompletionItemKind, CompletionTextEdit,
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DocumentSymbol, Documentation,
    FoldingRange, FoldingRangeKind, InsertTextFormat, InsertTextMode, Location, MarkupContent,
    MarkupKind, NumberOrString, Position, SelectionRange, SymbolInformation, SymbolKind, Uri,
};

use crate::analysis::ide::{self, Completion, CompletionKind, Symbol};
use crate::finding::{Finding, Severity};
use crate::text::{LineCol, LineIndex, PositionEncoding};

pub struct Conv<'a> {
    text: &'a str,
    index: &'a LineIndex,
    encoding: PositionEncoding,
}

impl<'a> Conv<'a> {
    pub fn new(text: &'a str, index: &'a LineIndex, encoding: PositionEncoding) -> Self {
        Conv {
            text,
            index,
            encoding,
        }
    }

    /// Byte offset of a position (clamped to the document).
    pub fn offset(&self, p: Position) -> usize {
        self.index.offset(
            self.text,
            LineCol {
                line: p.line,
                col: p.character,
            },
            self.encoding,
        )
    }

    pub fn position(&self, offset: usize) -> Position {
        let lc = self.index.line_col(self.text, offset, self.encoding);
        Position::new(lc.line, lc.col)
    }

    pub fn range(&self, r: Range<usize>) -> lsp::Range {
        lsp::Range::new(self.position(r.start), self.position(r.end.max(r.start)))
    }

    /// The diagnostic for a finding whose ranges are relative to byte `at` of the text.
    pub fn diagnostic_at(&self, f: &Finding, at: usize, doc: &Uri) -> Diagnostic {
        let shifted = |r: &std::ops::Range<usize>| r.start + at..r.end + at;
        let mut related = Vec::new();
        let mut description = None;
        for r in &f.related {
            match &r.path {
                None => {
                    if let Some(range) = &r.range {
                        related.push(DiagnosticRelatedInformation {
                            location: Location::new(doc.clone(), self.range(shifted(range))),
                            message: r.message.clone(),
                        });
                    }
                }
                // Bundled and cluster policies have no file to point at.
                Some(path) if crate::policy::is_virtual_path(path) => {}
                Some(path) => {
                    // No canonicalize here: it costs system calls per diagnostic per keystroke.
                    let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                    if let Some(uri) = Uri::from_file_path(&abs) {
                        // Byte ranges in other files are not known here: the line when
                        // the source gives one, else the file's start.
                        let at = lsp::Position::new(r.line.unwrap_or(1).saturating_sub(1), 0);
                        related.push(DiagnosticRelatedInformation {
                            location: Location::new(uri.clone(), lsp::Range::new(at, at)),
                            message: r.message.clone(),
                        });
                        description.get_or_insert(CodeDescription { href: uri });
                    }
                }
            }
        }
        Diagnostic {
            range: self.range(shifted(&f.range)),
            severity: Some(match f.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
                Severity::Info => DiagnosticSeverity::INFORMATION,
                Severity::Hint => DiagnosticSeverity::HINT,
            }),
            code: Some(NumberOrString::String(f.code.to_string())),
            code_description: description,
            source: Some(f.source.to_string()),
            message: f.message.clone(),
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        }
    }

    pub fn completion(&self, c: Completion) -> CompletionItem {
        let multiline = c.insert.contains('\n');
        CompletionItem {
            label: c.label,
            kind: Some(match c.kind {
                CompletionKind::Field => CompletionItemKind::PROPERTY,
                CompletionKind::Value => CompletionItemKind::ENUM_MEMBER,
                CompletionKind::Kind => CompletionItemKind::CLASS,
                CompletionKind::Snippet => CompletionItemKind::SNIPPET,
            }),
            detail: c.detail,
            documentation: c.documentation.map(|d| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: d,
                })
            }),
            sort_text: Some(c.sort),
            filter_text: c.filter,
            insert_text_format: Some(if c.snippet {
                InsertTextFormat::SNIPPET
            } else {
                InsertTextFormat::PLAIN_TEXT
            }),
            insert_text_mode: multiline.then_some(InsertTextMode::ADJUST_INDENTATION),
            text_edit: Some(CompletionTextEdit::Edit(lsp::TextEdit {
                range: self.range(c.replace),
                new_text: c.insert,
            })),
            additional_text_edits: (!c.additional.is_empty()).then(|| {
                c.additional
                    .into_iter()
                    .map(|e| lsp::TextEdit {
                        range: self.range(e.range),
                        new_text: e.new_text,
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }

    #[allow(deprecated)]
    pub fn symbol(&self, s: Symbol) -> DocumentSymbol {
        DocumentSymbol {
            name: if s.name.is_empty() {
                "?".into()
            } else {
                s.name
            },
            detail: s.detail,
            kind: symbol_kind(s.kind),
            tags: None,
            deprecated: None,
            range: self.range(s.range),
            selection_range: self.range(s.selection),
            children: (!s.children.is_empty())
                .then(|| s.children.into_iter().map(|c| self.symbol(c)).collect()),
        }
    }

    #[allow(deprecated)]
    pub fn flat_symbols(&self, uri: &Uri, symbols: Vec<Symbol>) -> Vec<SymbolInformation> {
        let mut out = Vec::new();
        let mut stack: Vec<(Symbol, Option<String>)> =
            symbols.into_iter().rev().map(|s| (s, None)).collect();
        while let Some((mut s, container)) = stack.pop() {
            let children = std::mem::take(&mut s.children);
            for c in children.into_iter().rev() {
                stack.push((c, Some(s.name.clone())));
            }
            out.push(SymbolInformation {
                name: s.name,
                kind: symbol_kind(s.kind),
                tags: None,
                deprecated: None,
                location: Location::new(uri.clone(), self.range(s.range)),
                container_name: container,
            });
        }
        out
    }

    pub fn folding(&self, r: Range<usize>, _line_only: bool) -> Option<FoldingRange> {
        let start = self.index.line_of(r.start.min(self.text.len())) as u32;
        let mut end_off = r.end.min(self.text.len());
        // A range ending at a line break ends on the line before it.
        while end_off > r.start && self.text.as_bytes().get(end_off - 1) == Some(&b'\n') {
            end_off -= 1;
        }
        let end = self.index.line_of(end_off) as u32;
        (end > start).then_some(FoldingRange {
            start_line: start,
            start_character: None,
            end_line: end,
            end_character: None,
            kind: Some(FoldingRangeKind::Region),
            collapsed_text: None,
        })
    }

    /// Nested selection ranges from a chain (innermost first).
    pub fn selection(&self, chain: Vec<Range<usize>>, at: Position) -> SelectionRange {
        let mut parent: Option<SelectionRange> = None;
        for r in chain.into_iter().rev() {
            parent = Some(SelectionRange {
                range: self.range(r),
                parent: parent.map(Box::new),
            });
        }
        parent.unwrap_or(SelectionRange {
            range: lsp::Range::new(at, at),
            parent: None,
        })
    }
}

fn symbol_kind(k: ide::SymbolKind) -> SymbolKind {
    match k {
        ide::SymbolKind::Resource => SymbolKind::CLASS,
        ide::SymbolKind::Object => SymbolKind::OBJECT,
        ide::SymbolKind::Array => SymbolKind::ARRAY,
        ide::SymbolKind::Field => SymbolKind::FIELD,
    }
}
