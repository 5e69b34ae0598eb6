//! Text layer: byte offsets, line/column positions in the encodings editors use.

/// How columns are counted, as negotiated with an LSP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionEncoding {
    /// Columns count bytes.
    Utf8,
    /// Columns count UTF-16 code units (the LSP default).
    #[default]
    Utf16,
    /// Columns count Unicode scalar values.
    Utf32,
}

/// A zero-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// Line starts of a text, for converting byte offsets to positions and back.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = Vec::with_capacity(text.len() / 32 + 1);
        line_starts.push(0);
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex {
            line_starts,
            len: text.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The byte offset where zero-based `line` starts.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line).copied()
    }

    /// The zero-based line that contains `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    /// Position of a byte offset (clamped to the text and to a char boundary).
    pub fn line_col(&self, text: &str, offset: usize, encoding: PositionEncoding) -> LineCol {
        let mut offset = offset.min(self.len).min(text.len());
        while offset > 0 && !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.line_starts[line];
        let col = column_width(&text[start..offset], encoding);
        LineCol {
            line: line as u32,
            col: col as u32,
        }
    }

    /// Byte offset of a position; a column past the end of its line clamps to the line end,
    /// a line past the end of the text clamps to the end of the text.
    pub fn offset(&self, text: &str, pos: LineCol, encoding: PositionEncoding) -> usize {
        let line = pos.line as usize;
        let Some(&start) = self.line_starts.get(line) else {
            return text.len();
        };
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(text.len(), |&next| next);
        let line_text = &text[start..end];
        let line_text = line_text.strip_suffix('\n').unwrap_or(line_text);
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        start + byte_of_column(line_text, pos.col as usize, encoding)
    }
}

/// Width of `s` in columns of `encoding`.
pub fn column_width(s: &str, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => s.len(),
        PositionEncoding::Utf16 => s.chars().map(char::len_utf16).sum(),
        PositionEncoding::Utf32 => s.chars().count(),
    }
}

/// Byte index in `line` of column `col` (clamped to the line's length; a column inside a
/// character rounds down to the character's start).
pub fn byte_of_column(line: &str, col: usize, encoding: PositionEncoding) -> usize {
    if encoding == PositionEncoding::Utf8 {
        let mut col = col.min(line.len());
        while col > 0 && !line.is_char_boundary(col) {
            col -= 1;
        }
        return col;
    }
    let mut seen = 0;
    for (i, ch) in line.char_indices() {
        let w = if encoding == PositionEncoding::Utf16 {
            ch.len_utf16()
        } else {
            1
        };
        if seen + w > col {
            return i;
        }
        seen += w;
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_every_encoding() {
        let text = "a: 😀x\nb: 日本\n";
        let idx = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(
            idx.line_col(text, x, PositionEncoding::Utf8),
            LineCol { line: 0, col: 7 }
        );
        assert_eq!(
            idx.line_col(text, x, PositionEncoding::Utf16),
            LineCol { line: 0, col: 5 }
        );
        assert_eq!(
            idx.line_col(text, x, PositionEncoding::Utf32),
            LineCol { line: 0, col: 4 }
        );
        for enc in [
            PositionEncoding::Utf8,
            PositionEncoding::Utf16,
            PositionEncoding::Utf32,
        ] {
            let pos = idx.line_col(text, x, enc);
            assert_eq!(idx.offset(text, pos, enc), x);
        }
        let hon = text.find('本').unwrap();
        let pos = idx.line_col(text, hon, PositionEncoding::Utf16);
        assert_eq!(pos, LineCol { line: 1, col: 4 });
        assert_eq!(idx.offset(text, pos, PositionEncoding::Utf16), hon);
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let text = "ab\ncd";
        let idx = LineIndex::new(text);
        assert_eq!(
            idx.offset(text, LineCol { line: 0, col: 99 }, PositionEncoding::Utf16),
            2
        );
        assert_eq!(
            idx.offset(text, LineCol { line: 9, col: 0 }, PositionEncoding::Utf16),
            5
        );
        assert_eq!(
            idx.line_col(text, 99, PositionEncoding::Utf16),
            LineCol { line: 1, col: 2 }
        );
        // A column inside a surrogate pair rounds down to the character start.
        let text = "😀z";
        let idx = LineIndex::new(text);
        assert_eq!(
            idx.offset(text, LineCol { line: 0, col: 1 }, PositionEncoding::Utf16),
            0
        );
    }
}
