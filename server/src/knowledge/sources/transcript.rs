//! Meeting transcripts (WebVTT, SRT) → passages.
//!
//! Cues are read with their speaker (`<v Speaker>` voice tags, or a `Speaker: text` prefix;
//! a cue without either continues the previous speaker), consecutive cues of one speaker are
//! merged into turns, and turns are packed into passages of up to [`MAX_PASSAGE_CHARS`]
//! (a passage splits a turn only when the turn alone is longer, and then between cues).
//! Provenance: the file, the line range, the speakers, the start time `HH:MM:SS`; ids are
//! `transcript:<relative path>:<HH:MM:SS>`.

use std::path::Path;

use crate::knowledge::{Chunk, Provenance, SourceType};

/// The size a passage stays under (unless one cue alone is longer).
pub const MAX_PASSAGE_CHARS: usize = 1200;

/// One cue: start time (milliseconds), 1-based line range, speaker, text.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start_ms: u64,
    pub lines: (u32, u32),
    pub speaker: Option<String>,
    pub text: String,
}

/// Consecutive cues of one speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub speaker: Option<String>,
    pub cues: Vec<Cue>,
}

impl Turn {
    pub fn text(&self) -> String {
        let body: Vec<&str> = self.cues.iter().map(|c| c.text.as_str()).collect();
        let body = body.join(" ");
        match &self.speaker {
            Some(s) => format!("{s}: {body}"),
            None => body,
        }
    }
}

/// The chunks of a WebVTT file.
pub fn vtt_chunks(text: &str, path: &Path, rel: &str) -> Result<Vec<Chunk>, String> {
    let cues = parse_vtt(text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(passages(&merge_turns(cues), path, rel))
}

/// The chunks of an SRT file.
pub fn srt_chunks(text: &str, path: &Path, rel: &str) -> Result<Vec<Chunk>, String> {
    let cues = parse_srt(text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(passages(&merge_turns(cues), path, rel))
}

/// Blocks of non-blank lines: (1-based number of the first line, lines).
fn blocks(text: &str) -> Vec<(u32, Vec<&str>)> {
    let mut out: Vec<(u32, Vec<&str>)> = Vec::new();
    let mut current: Option<(u32, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if let Some(b) = current.take() {
                out.push(b);
            }
        } else {
            current
                .get_or_insert_with(|| (i as u32 + 1, Vec::new()))
                .1
                .push(line);
        }
    }
    if let Some(b) = current {
        out.push(b);
    }
    out
}

/// Parses WebVTT cues; errors carry the line.
pub fn parse_vtt(text: &str) -> Result<Vec<Cue>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    let header_ok = first
        .strip_prefix("WEBVTT")
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']));
    if !header_ok {
        return Err("line 1: missing the WEBVTT header".to_string());
    }
    let mut cues = Vec::new();
    for (n, (line_no, lines)) in blocks(text).into_iter().enumerate() {
        if n == 0 && line_no == 1 {
            continue; // the header block
        }
        let head = lines[0];
        if ["NOTE", "STYLE", "REGION"].iter().any(|k| {
            head == *k || head.starts_with(&format!("{k} ")) || head.starts_with(&format!("{k}\t"))
        }) {
            continue;
        }
        cues.push(cue(line_no, &lines, '.')?);
    }
    Ok(cues)
}

/// Parses SRT cues; errors carry the line.
pub fn parse_srt(text: &str) -> Result<Vec<Cue>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    blocks(text)
        .into_iter()
        .map(|(line_no, lines)| cue(line_no, &lines, ','))
        .collect()
}

/// One cue block: an optional identifier line, the timing line, the payload.
fn cue(line_no: u32, lines: &[&str], sep: char) -> Result<Cue, String> {
    let timing = lines
        .iter()
        .take(2)
        .position(|l| l.contains("-->"))
        .ok_or_else(|| {
            format!(
                "line {line_no}: expected a cue timing like `00:00:01{sep}000 --> 00:00:04{sep}000`"
            )
        })?;
    let timing_no = line_no + timing as u32;
    let (start, end) = lines[timing].split_once("-->").unwrap_or_default();
    let start_ms = timestamp(start.trim(), sep)
        .ok_or_else(|| format!("line {timing_no}: bad start time `{}`", start.trim()))?;
    let end = end.split_whitespace().next().unwrap_or("");
    timestamp(end, sep).ok_or_else(|| format!("line {timing_no}: bad end time `{end}`"))?;
    let payload: Vec<&str> = lines[timing + 1..].iter().map(|l| l.trim()).collect();
    let (speaker, text) = speaker_and_text(&payload.join(" "));
    Ok(Cue {
        start_ms,
        lines: (line_no, line_no + lines.len() as u32 - 1),
        speaker,
        text,
    })
}

/// `HH:MM:SS.mmm` or `MM:SS.mmm` (`,` for SRT) → milliseconds.
fn timestamp(s: &str, sep: char) -> Option<u64> {
    let (hms, ms) = s.split_once(sep)?;
    if ms.len() != 3 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = hms.split(':').collect();
    let num = |p: &str| -> Option<u64> {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let two = |p: &str| if p.len() == 2 { num(p) } else { None };
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (num(h)?, two(m)?, two(s)?),
        [m, s] => (0, two(m)?, two(s)?),
        _ => return None,
    };
    if m > 59 || sec > 59 {
        return None;
    }
    h.checked_mul(3_600_000)?
        .checked_add((m * 60 + sec) * 1000 + ms.parse::<u64>().ok()?)
}

/// The speaker (voice tag or `Name:` prefix) and the text without markup.
fn speaker_and_text(payload: &str) -> (Option<String>, String) {
    let mut speaker = None;
    if let Some(i) = payload.find("<v") {
        let rest = &payload[i + 2..];
        if rest.starts_with([' ', '.'])
            && let Some(end) = rest.find('>')
        {
            let tag = &rest[..end];
            let name = tag.split_once(' ').map(|(_, n)| n.trim()).unwrap_or("");
            if !name.is_empty() {
                speaker = Some(name.to_string());
            }
        }
    }
    let mut text = strip_tags(payload);
    if speaker.is_none()
        && let Some((name, rest)) = text.split_once(':')
        && looks_like_name(name)
    {
        speaker = Some(name.trim().to_string());
        text = rest.trim().to_string();
    }
    let text = text
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ");
    (speaker, text.trim_start_matches("- ").trim().to_string())
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = false;
    for c in s.chars() {
        match c {
            '<' => depth = true,
            '>' if depth => depth = false,
            _ if !depth => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A `Speaker:` prefix: one to four capitalised words, no digits, short.
fn looks_like_name(s: &str) -> bool {
    let s = s.trim();
    let words: Vec<&str> = s.split_whitespace().collect();
    !s.is_empty()
        && s.len() <= 40
        && words.len() <= 4
        && s.chars().next().is_some_and(char::is_uppercase)
        && s.chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '-' | '\'' | '(' | ')'))
}

/// Merges consecutive cues of one speaker (a cue without a speaker continues the previous
/// one) into turns.
pub fn merge_turns(cues: Vec<Cue>) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for mut c in cues {
        if c.text.is_empty() {
            continue;
        }
        if c.speaker.is_none() {
            c.speaker = turns.last().and_then(|t| t.speaker.clone());
        }
        match turns.last_mut() {
            Some(t) if t.speaker == c.speaker => t.cues.push(c),
            _ => turns.push(Turn {
                speaker: c.speaker.clone(),
                cues: vec![c],
            }),
        }
    }
    turns
}

/// `HH:MM:SS` of a time in milliseconds.
pub fn hms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Packs turns into passages (splitting between cues a turn that alone is too long).
fn passages(turns: &[Turn], path: &Path, rel: &str) -> Vec<Chunk> {
    // Pieces no longer than the limit (unless one cue is).
    let mut pieces: Vec<Turn> = Vec::new();
    for t in turns {
        if t.text().len() <= MAX_PASSAGE_CHARS {
            pieces.push(t.clone());
            continue;
        }
        let mut piece = Turn {
            speaker: t.speaker.clone(),
            cues: Vec::new(),
        };
        for c in &t.cues {
            piece.cues.push(c.clone());
            if piece.cues.len() > 1 && piece.text().len() > MAX_PASSAGE_CHARS {
                let last = piece.cues.pop().expect("just pushed");
                pieces.push(std::mem::replace(
                    &mut piece,
                    Turn {
                        speaker: t.speaker.clone(),
                        cues: vec![last],
                    },
                ));
            }
        }
        pieces.push(piece);
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| rel.to_string());
    let mut out = Vec::new();
    let mut group: Vec<Turn> = Vec::new();
    let mut size = 0;
    for p in pieces {
        let len = p.text().len() + 1;
        if !group.is_empty() && size + len > MAX_PASSAGE_CHARS {
            out.push(passage(&std::mem::take(&mut group), path, rel, &stem));
            size = 0;
        }
        size += len;
        group.push(p);
    }
    if !group.is_empty() {
        out.push(passage(&group, path, rel, &stem));
    }
    out
}

fn passage(group: &[Turn], path: &Path, rel: &str, stem: &str) -> Chunk {
    let first = &group[0].cues[0];
    let last = group
        .last()
        .and_then(|t| t.cues.last())
        .expect("turns have cues");
    let mut speakers: Vec<&str> = Vec::new();
    for t in group {
        if let Some(s) = t.speaker.as_deref()
            && !speakers.contains(&s)
        {
            speakers.push(s);
        }
    }
    let time = hms(first.start_ms);
    let text: Vec<String> = group.iter().map(Turn::text).collect();
    let text = text.join("\n");
    Chunk {
        id: format!("transcript:{rel}:{time}"),
        source_type: SourceType::Transcript,
        title: format!("{stem}, {time}"),
        kinds: super::kinds_in_text(&text),
        text,
        provenance: Provenance {
            path: Some(path.to_path_buf()),
            lines: Some((first.lines.0, last.lines.1)),
            author: (!speakers.is_empty()).then(|| speakers.join(", ")),
            time: Some(time),
            ..Provenance::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VTT: &str = "WEBVTT - platform sync

NOTE recorded by the bot
<v Nobody>ignored</v>

1
00:00:01.000 --> 00:00:04.000
<v Priya Raman>Databases:
where do they run?</v>

00:00:04.500 --> 00:00:06.000
<v.loud Priya Raman>Any region today.

00:00:06.000 --> 00:00:08.000
Tom: us-east-1 &amp; nowhere else.

00:00:08.000 --> 00:00:09.000
Agreed, for compliance.

01:02.000 --> 01:05.000 align:start
<v Lee>Fine by me.
";

    #[test]
    fn vtt_cues_speakers_and_turns() {
        let cues = parse_vtt(VTT).unwrap();
        assert_eq!(cues.len(), 5);
        assert_eq!(cues[0].lines, (6, 9));
        assert_eq!(cues[0].text, "Databases: where do they run?");
        assert_eq!(cues[2].speaker.as_deref(), Some("Tom"));
        assert_eq!(cues[3].speaker, None);
        assert_eq!(cues[4].start_ms, 62_000);
        let turns = merge_turns(cues);
        let texts: Vec<String> = turns.iter().map(Turn::text).collect();
        assert_eq!(
            texts,
            vec![
                "Priya Raman: Databases: where do they run? Any region today.",
                "Tom: us-east-1 & nowhere else. Agreed, for compliance.",
                "Lee: Fine by me.",
            ]
        );
        let chunks = vtt_chunks(VTT, Path::new("/k/m/sync.vtt"), "m/sync.vtt").unwrap();
        assert_eq!(chunks.len(), 1);
        let c = &chunks[0];
        assert_eq!(c.id, "transcript:m/sync.vtt:00:00:01");
        assert_eq!(c.title, "sync, 00:00:01");
        assert_eq!(c.text, texts.join("\n"));
        assert_eq!(
            c.provenance.author.as_deref(),
            Some("Priya Raman, Tom, Lee")
        );
        assert_eq!(c.provenance.time.as_deref(), Some("00:00:01"));
        assert_eq!(c.provenance.lines, Some((6, 21)));
    }

    #[test]
    fn passages_pack_turns_without_splitting_them() {
        let mut vtt = String::from("WEBVTT\n\n");
        let speakers = ["Ann", "Ben", "Ann", "Cy"];
        let mut t = 0;
        for (i, s) in speakers.iter().enumerate() {
            // Each turn: 3 cues of ~150 chars → ~460 chars.
            for _ in 0..3 {
                vtt.push_str(&format!(
                    "{} --> {}\n<v {s}>{}\n\n",
                    hms_ms(t),
                    hms_ms(t + 1000),
                    format!("turn {i} ").repeat(21)
                ));
                t += 1000;
            }
        }
        let chunks = vtt_chunks(&vtt, Path::new("x.vtt"), "x.vtt").unwrap();
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["transcript:x.vtt:00:00:00", "transcript:x.vtt:00:00:06"]
        );
        assert!(chunks[0].text.starts_with("Ann: turn 0"));
        assert_eq!(chunks[0].text.lines().count(), 2);
        assert_eq!(chunks[0].provenance.author.as_deref(), Some("Ann, Ben"));
        assert_eq!(chunks[1].provenance.author.as_deref(), Some("Ann, Cy"));
        assert!(chunks.iter().all(|c| c.text.len() <= MAX_PASSAGE_CHARS));

        // One long turn is split between its cues.
        let mut long = String::from("WEBVTT\n\n");
        for k in 0..6 {
            long.push_str(&format!(
                "{} --> {}\n<v Ann>{}\n\n",
                hms_ms(k * 10_000),
                hms_ms(k * 10_000 + 9_000),
                "a".repeat(400)
            ));
        }
        let chunks = vtt_chunks(&long, Path::new("y.vtt"), "y.vtt").unwrap();
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "transcript:y.vtt:00:00:00",
                "transcript:y.vtt:00:00:20",
                "transcript:y.vtt:00:00:40"
            ]
        );
    }

    fn hms_ms(ms: u64) -> String {
        format!("{}.{:03}", hms(ms), ms % 1000)
    }

    #[test]
    fn srt() {
        let srt = "1\n00:00:01,000 --> 00:00:02,500\nPriya: hello\n\n2\n00:00:03,000 --> 00:00:04,000\n<i>still me</i>\n\n3\n00:01:00,000 --> 00:01:02,000\nTom: hi\n";
        let chunks = srt_chunks(srt, Path::new("a/b.srt"), "a/b.srt").unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].id, "transcript:a/b.srt:00:00:01");
        assert_eq!(chunks[0].text, "Priya: hello still me\nTom: hi");
        assert_eq!(chunks[0].provenance.lines, Some((1, 11)));
        assert!(
            srt_chunks("", Path::new("e.srt"), "e.srt")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_inputs_name_file_and_line() {
        let e = vtt_chunks(
            "1\n00:00:01.000 --> 00:00:02.000\nhi\n",
            Path::new("m.vtt"),
            "m.vtt",
        )
        .unwrap_err();
        assert_eq!(e, "m.vtt: line 1: missing the WEBVTT header");
        let e = vtt_chunks(
            "WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nhi\n",
            Path::new("m.vtt"),
            "m.vtt",
        )
        .unwrap_err();
        assert!(e.starts_with("m.vtt: line 3: expected a cue timing"), "{e}");
        let e = vtt_chunks(
            "WEBVTT\n\nid\n00:00:1.000 --> 00:00:02.000\nhi\n",
            Path::new("m.vtt"),
            "m.vtt",
        )
        .unwrap_err();
        assert_eq!(e, "m.vtt: line 4: bad start time `00:00:1.000`");
        let e = srt_chunks(
            "1\n00:00:01.000 --> 00:00:02,000\nhi\n",
            Path::new("m.srt"),
            "m.srt",
        )
        .unwrap_err();
        assert_eq!(e, "m.srt: line 2: bad start time `00:00:01.000`");
        let e = srt_chunks(
            "1\n00:00:01,000 --> 00:61:02,000\nhi\n",
            Path::new("m.srt"),
            "m.srt",
        )
        .unwrap_err();
        assert_eq!(e, "m.srt: line 2: bad end time `00:61:02,000`");
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet: Vec<char> = "WEBVTT\n\n0123456789:.,-> <v>/&;NOTE #`~é"
            .chars()
            .collect();
        for _ in 0..3000 {
            let mut s = String::new();
            let n = (x % 120) as usize;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = parse_vtt(&s);
            let _ = parse_vtt(&format!("WEBVTT\n\n{s}"));
            let _ = parse_srt(&s);
            let _ = super::super::markdown::markdown_chunks(&s, Path::new("f.md"), "f.md");
            let _ = super::super::markdown::text_chunks(&s, Path::new("f.txt"), "f.txt");
        }
        assert_eq!(timestamp("99999999999999999999:00:00.000", '.'), None);
    }
}
