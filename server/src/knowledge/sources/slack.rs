//! A Slack export folder → chunks: one per thread (the parent and its replies, gathered
//! across the day files) and one per message without replies.
//!
//! The export is the standard one: `channels.json` (`id`, `name`), `users.json` (`id`,
//! `name`, `real_name`, `profile.display_name`) and `<channel>/<YYYY-MM-DD>.json`, each an
//! array of messages (`ts`, `user`, `text`, optional `thread_ts`, `reply_count`, `subtype`).
//! Join/leave messages are skipped; `<@U…>` mentions become `@display name`, `<#C…|name>`
//! becomes `#name` and `<http://x|label>` becomes `label`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::Value as Json;

use super::rfc3339_utc;
use crate::knowledge::{Chunk, Provenance, SourceType};

/// Message subtypes that carry no knowledge.
const SKIPPED_SUBTYPES: &[&str] = &["channel_join", "channel_leave", "group_join", "group_leave"];

/// Reads a Slack export folder.
pub fn load_export(dir: &Path) -> Result<Vec<Chunk>, String> {
    let channels = read_json(&dir.join("channels.json"))?;
    let channels = channels.as_array().ok_or_else(|| {
        format!(
            "{}: expected an array of channels",
            dir.join("channels.json").display()
        )
    })?;
    let users_path = dir.join("users.json");
    let users = if users_path.is_file() {
        user_names(&read_json(&users_path)?)
    } else {
        HashMap::new()
    };
    let mut channel_names: HashMap<String, String> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    for (i, c) in channels.iter().enumerate() {
        let name = c.get("name").and_then(Json::as_str).ok_or_else(|| {
            format!(
                "{}: channel {} has no name",
                dir.join("channels.json").display(),
                i + 1
            )
        })?;
        if let Some(id) = c.get("id").and_then(Json::as_str) {
            channel_names.insert(id.to_string(), name.to_string());
        }
        names.push(name.to_string());
    }
    let names_ctx = Names {
        users: &users,
        channels: &channel_names,
    };
    let mut out = Vec::new();
    for name in names {
        let folder = dir.join(&name);
        if !folder.is_dir() {
            continue;
        }
        let mut days: Vec<_> = std::fs::read_dir(&folder)
            .map_err(|e| format!("{}: {e}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        days.sort();
        let mut messages: Vec<Json> = Vec::new();
        for day in days {
            match read_json(&day)? {
                Json::Array(a) => messages.extend(a),
                _ => return Err(format!("{}: expected an array of messages", day.display())),
            }
        }
        out.extend(channel_chunks(dir, &name, &messages, &names_ctx));
    }
    Ok(out)
}

/// Who and what mentions refer to.
struct Names<'a> {
    users: &'a HashMap<String, String>,
    channels: &'a HashMap<String, String>,
}

/// `users.json` → user id → display name (the profile's display name, else the real name,
/// else the user name).
fn user_names(users: &Json) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for u in users.as_array().into_iter().flatten() {
        let Some(id) = u.get("id").and_then(Json::as_str) else {
            continue;
        };
        let nonempty = |v: Option<&Json>| {
            v.and_then(Json::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let profile = u.get("profile");
        let name = nonempty(profile.and_then(|p| p.get("display_name")))
            .or_else(|| nonempty(u.get("real_name")))
            .or_else(|| nonempty(profile.and_then(|p| p.get("real_name"))))
            .or_else(|| nonempty(u.get("name")))
            .unwrap_or_else(|| id.to_string());
        out.insert(id.to_string(), name);
    }
    out
}

/// A Slack timestamp as a sortable (seconds, microseconds) pair.
type TsKey = (i64, u32);

/// Parses a Slack timestamp into a [`TsKey`].
fn ts_key(ts: &str) -> Option<TsKey> {
    let (s, f) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs = s.parse().ok()?;
    let frac: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
    Some((secs, frac.parse().ok()?))
}

fn channel_chunks(dir: &Path, channel: &str, messages: &[Json], names: &Names) -> Vec<Chunk> {
    // Thread key (the parent's ts) → messages by ts.
    let mut threads: BTreeMap<TsKey, (String, BTreeMap<TsKey, &Json>)> = BTreeMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for m in messages {
        let Some(ts) = m.get("ts").and_then(Json::as_str) else {
            continue;
        };
        let subtype = m.get("subtype").and_then(Json::as_str).unwrap_or("");
        if SKIPPED_SUBTYPES.contains(&subtype) || !seen.insert(ts) {
            continue;
        }
        let Some(key) = ts_key(ts) else { continue };
        let parent = m.get("thread_ts").and_then(Json::as_str).unwrap_or(ts);
        let Some(pkey) = ts_key(parent) else { continue };
        threads
            .entry(pkey)
            .or_insert_with(|| (parent.to_string(), BTreeMap::new()))
            .1
            .insert(key, m);
    }
    let mut out = Vec::new();
    for ((secs, _), (parent_ts, msgs)) in threads {
        let mut lines = Vec::new();
        let mut author = None;
        for m in msgs.values() {
            let who = author_of(m, names);
            let text = render(m.get("text").and_then(Json::as_str).unwrap_or(""), names);
            if author.is_none() {
                author = Some(who.clone());
            }
            lines.push(format!("{who}: {text}"));
        }
        let is_thread = msgs.len() > 1
            || msgs.values().any(|m| {
                m.get("reply_count").and_then(Json::as_u64).unwrap_or(0) > 0
                    || m.get("thread_ts").is_some()
            });
        let time = rfc3339_utc(secs);
        let text = lines.join("\n");
        out.push(Chunk {
            id: format!("slack:{channel}:{parent_ts}"),
            source_type: SourceType::Slack,
            title: format!("#{channel}, {}", &time[..10]),
            kinds: super::kinds_in_text(&text),
            text,
            provenance: Provenance {
                path: Some(dir.to_path_buf()),
                channel: Some(channel.to_string()),
                author,
                time: Some(time),
                thread: is_thread.then_some(parent_ts),
                ..Provenance::default()
            },
        });
    }
    out
}

fn author_of(m: &Json, names: &Names) -> String {
    if let Some(u) = m.get("user").and_then(Json::as_str) {
        if let Some(n) = names.users.get(u) {
            return n.clone();
        }
        if let Some(n) = m
            .get("user_profile")
            .and_then(|p| p.get("display_name"))
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
        {
            return n.to_string();
        }
        return u.to_string();
    }
    m.get("username")
        .or_else(|| m.get("bot_profile").and_then(|b| b.get("name")))
        .and_then(Json::as_str)
        .unwrap_or("unknown")
        .to_string()
}

/// Slack's markup → readable text: mentions, channel links, links, escapes.
fn render(text: &str, names: &Names) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if let Some(id) = target.strip_prefix('@') {
            let name = names
                .users
                .get(id)
                .map(String::as_str)
                .or(label.map(|l| l.trim_start_matches('@')))
                .unwrap_or(id);
            out.push('@');
            out.push_str(name);
        } else if let Some(id) = target.strip_prefix('#') {
            let name = label
                .filter(|l| !l.is_empty())
                .or(names.channels.get(id).map(String::as_str))
                .unwrap_or(id);
            out.push('#');
            out.push_str(name);
        } else if let Some(special) = target.strip_prefix('!') {
            match label {
                Some(l) => out.push_str(l),
                None => {
                    out.push('@');
                    out.push_str(special);
                }
            }
        } else {
            out.push_str(label.unwrap_or(target.strip_prefix("mailto:").unwrap_or(target)));
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Reads a JSON file; syntax errors name the file, line and column.
fn read_json(path: &Path) -> Result<Json, String> {
    let text = super::read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        format!(
            "{}: line {}, column {}: invalid JSON: {msg}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::sources::tests::temp_dir;

    fn export(name: &str) -> std::path::PathBuf {
        let dir = temp_dir(name);
        std::fs::write(
            dir.join("channels.json"),
            r#"[{"id":"C1","name":"platform"},{"id":"C2","name":"random"},{"id":"C3","name":"empty"}]"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("users.json"),
            r#"[{"id":"U1","name":"priya","real_name":"Priya Raman","profile":{"display_name":"Priya"}},
                {"id":"U2","name":"tom","real_name":"Tom Berg","profile":{"display_name":""}},
                {"id":"U3","name":"lee"}]"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("platform")).unwrap();
        std::fs::create_dir_all(dir.join("random")).unwrap();
        std::fs::write(
            dir.join("platform/2026-09-30.json"),
            r#"[
  {"type":"message","subtype":"channel_join","user":"U3","text":"<@U3> has joined the channel","ts":"1790750000.000100"},
  {"type":"message","user":"U1","text":"Where do databases run? cc <@U2> see <#C2|random> and <https://wiki.shop.example/db|the wiki> &amp; <#C2>","ts":"1790760600.000200","thread_ts":"1790760600.000200","reply_count":2},
  {"type":"message","user":"U2","text":"us-east-1 only","ts":"1790761000.000300","thread_ts":"1790760600.000200"},
  {"type":"message","user":"U3","text":"Lunch?","ts":"1790762000.000400"}
]"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("platform/2026-10-01.json"),
            r#"[{"type":"message","user":"U1","text":"Decided: <!here> databases only in us-east-1","ts":"1790841600.000100","thread_ts":"1790760600.000200"}]"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("random/2026-09-30.json"),
            r#"[{"type":"message","user":"U9","user_profile":{"display_name":"Guest"},"text":"hi <@U9|guest>","ts":"1790760000.000001"}]"#,
        )
        .unwrap();
        dir
    }

    #[test]
    fn threads_across_days_and_single_messages() {
        let dir = export("slack-ok");
        let chunks = load_export(&dir).unwrap();
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "slack:platform:1790760600.000200",
                "slack:platform:1790762000.000400",
                "slack:random:1790760000.000001",
            ]
        );
        let t = &chunks[0];
        assert_eq!(t.title, "#platform, 2026-09-30");
        assert_eq!(
            t.text,
            "Priya: Where do databases run? cc @Tom Berg see #random and the wiki & #random\n\
             Tom Berg: us-east-1 only\n\
             Priya: Decided: @here databases only in us-east-1"
        );
        assert_eq!(t.provenance.channel.as_deref(), Some("platform"));
        assert_eq!(t.provenance.author.as_deref(), Some("Priya"));
        assert_eq!(t.provenance.time.as_deref(), Some("2026-09-30T09:30:00Z"));
        assert_eq!(t.provenance.thread.as_deref(), Some("1790760600.000200"));
        assert_eq!(t.provenance.path.as_deref(), Some(dir.as_path()));
        let single = &chunks[1];
        assert_eq!(single.text, "lee: Lunch?");
        assert_eq!(single.provenance.thread, None);
        assert_eq!(chunks[2].text, "Guest: hi @guest");
        assert_eq!(chunks[2].source_type, SourceType::Slack);
    }

    #[test]
    fn malformed_json_names_file_and_position() {
        let dir = export("slack-bad");
        std::fs::write(
            dir.join("platform/2026-10-02.json"),
            "[\n  {\"ts\": \"1\",\n   \"text\": oops}\n]",
        )
        .unwrap();
        let e = load_export(&dir).unwrap_err();
        assert!(
            e.contains("2026-10-02.json: line 3, column 12: invalid JSON"),
            "{e}"
        );
        std::fs::write(dir.join("platform/2026-10-02.json"), "{}").unwrap();
        let e = load_export(&dir).unwrap_err();
        assert!(e.contains("expected an array of messages"), "{e}");
        std::fs::write(dir.join("channels.json"), "[{\"id\":\"C1\"}]").unwrap();
        let e = load_export(&dir).unwrap_err();
        assert!(e.contains("channels.json: channel 1 has no name"), "{e}");
    }

    #[test]
    fn timestamps_sort_numerically() {
        assert!(ts_key("1790760600.9").unwrap() > ts_key("1790760600.000200").unwrap());
        assert_eq!(ts_key("12.5"), Some((12, 500_000)));
        assert_eq!(ts_key("x"), None);
    }
}
