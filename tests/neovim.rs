//! usher in a real editor: headless Neovim attaches `usher lsp` through vim.lsp, opens
//! fixtures/lsp/deployment-errors.yaml, and checks the diagnostics and hovers
//! (editors/neovim/test/e2e.lua does the checking; this file finds Neovim and runs it).
//!
//! Neovim (>= 0.10) is looked up as: `$USHER_NVIM`, then `$USHER_TOOLS_DIR/bin/nvim` or
//! `<repo>/.tools/bin/nvim` (installed by scripts/setup-editors.sh, which `make test` runs
//! through scripts/setup.sh), then `nvim` on `PATH`. Without a suitable Neovim the tests print a notice and pass, unless
//! `USHER_REQUIRE_NVIM=1` (set by `make test`, so CI cannot skip them silently).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Oldest Neovim whose vim.lsp the test script supports.
const MIN_NVIM: (u32, u32) = (0, 10);
/// How long one Neovim run may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn required() -> bool {
    std::env::var("USHER_REQUIRE_NVIM").is_ok_and(|v| v == "1")
}

/// `(major, minor)` from the first line of `nvim --version`, e.g. `NVIM v0.11.4`.
fn nvim_version(nvim: &Path) -> Result<(u32, u32), String> {
    let out = Command::new(nvim)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", nvim.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("");
    let parse = || {
        let v = first.strip_prefix("NVIM v")?;
        let mut parts = v.split(|c: char| !c.is_ascii_digit());
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    parse().ok_or_else(|| {
        format!(
            "cannot read the version of {} from `{first}` (exit status {})",
            nvim.display(),
            out.status
        )
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The Neovim to use, or why there is none.
fn find_nvim() -> Result<PathBuf, String> {
    const HINT: &str =
        "run scripts/setup-editors.sh (or `make setup`) to install Neovim 0.11 into .tools/";
    let explicit = std::env::var_os("USHER_NVIM").filter(|v| !v.is_empty());
    let (nvim, origin) = if let Some(p) = explicit {
        (PathBuf::from(p), "USHER_NVIM")
    } else if let Some(p) = std::env::var_os("USHER_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map(|d| PathBuf::from(d).join("bin/nvim"))
        .filter(|p| p.is_file())
    {
        (p, "USHER_TOOLS_DIR")
    } else if root().join(".tools/bin/nvim").is_file() {
        (root().join(".tools/bin/nvim"), ".tools/bin/nvim")
    } else if let Some(p) = on_path("nvim") {
        (p, "PATH")
    } else {
        return Err(format!(
            "nvim not found (USHER_NVIM unset, no .tools/bin/nvim, none on PATH); {HINT}"
        ));
    };
    let version = nvim_version(&nvim).map_err(|e| format!("{e} (from {origin}); {HINT}"))?;
    if version < MIN_NVIM {
        return Err(format!(
            "{} (from {origin}) is Neovim {}.{}, Neovim >= {}.{} is needed; {HINT}",
            nvim.display(),
            version.0,
            version.1,
            MIN_NVIM.0,
            MIN_NVIM.1
        ));
    }
    Ok(nvim)
}

/// Neovim to run with, or `None` after printing why the test is skipped.
fn nvim_or_skip(test: &str) -> Option<PathBuf> {
    match find_nvim() {
        Ok(nvim) => Some(nvim),
        Err(why) if required() => panic!("USHER_REQUIRE_NVIM=1 but no usable Neovim: {why}"),
        Err(why) => {
            eprintln!("{test}: skipping: {why}");
            None
        }
    }
}

/// Runs editors/neovim/test/e2e.lua in headless Neovim with `env` added, and fails the test
/// (printing Neovim's output and the LSP log) unless it exits 0.
fn run_e2e(nvim: &Path, env: &[(&str, &str)]) {
    let root = root();
    let script = root.join("editors/neovim/test/e2e.lua");
    let fixture = root.join("fixtures/lsp/deployment-errors.yaml");
    // Keep Neovim away from the user's config, data, state (LSP log) and cache.
    let home = tempfile::tempdir().unwrap();
    let out_path = home.path().join("stdout");
    let err_path = home.path().join("stderr");
    let server = format!("{} lsp", env!("CARGO_BIN_EXE_usher"));

    let mut cmd = Command::new(nvim);
    cmd.args(["--clean", "--headless", "-n", "-l"])
        .arg(&script)
        .arg(&fixture)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .env("USHER_CMD", &server);
    for dir in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ] {
        let p = home.path().join(dir.to_lowercase());
        std::fs::create_dir_all(&p).unwrap();
        cmd.env(dir, p);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let described = format!(
        "{} --clean --headless -n -l {} {} (USHER_CMD={server}{})",
        nvim.display(),
        script.display(),
        fixture.display(),
        env.iter()
            .map(|(k, v)| format!(" {k}={v}"))
            .collect::<String>()
    );

    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    print!("{stdout}");
    if status.is_some_and(|s| s.success()) {
        return;
    }
    let lsp_log = std::fs::read_to_string(home.path().join("xdg_state_home/nvim/lsp.log"))
        .unwrap_or_else(|_| "(none)".into());
    let what = match status {
        Some(s) => format!("exited with {s}"),
        None => format!("was killed after {} s", RUN_TIMEOUT.as_secs()),
    };
    panic!(
        "Neovim {what}\ncommand: {described}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}--- lsp.log ---\n{lsp_log}"
    );
}

/// Whatever position encoding Neovim and usher negotiate (UTF-8 on Neovim 0.11, which offers
/// it; UTF-16 on 0.10).
#[test]
fn neovim_diagnostics_and_hover() {
    if let Some(nvim) = nvim_or_skip("neovim_diagnostics_and_hover") {
        run_e2e(&nvim, &[]);
    }
}

/// A client that offers only UTF-16: the fixture has an emoji before a finding on its line,
/// so UTF-16 columns differ from UTF-8 ones.
#[test]
fn neovim_diagnostics_and_hover_utf16() {
    if let Some(nvim) = nvim_or_skip("neovim_diagnostics_and_hover_utf16") {
        run_e2e(&nvim, &[("USHER_POSITION_ENCODING", "utf-16")]);
    }
}

/// The expectations in e2e.lua are the CLI's findings: same lines, codes and (code point)
/// columns. Runs without Neovim, so the fixture stays honest everywhere.
#[test]
fn fixture_findings_match_the_cli() {
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args([
            "check",
            "--no-config",
            "--no-bundled-policies",
            "--format",
            "json",
            "fixtures/lsp/deployment-errors.yaml",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "usher check should find errors: {out:?}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<(u64, u64, u64, u64, String)> = doc["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["start"]["line"].as_u64().unwrap(),
                f["start"]["column"].as_u64().unwrap(),
                f["end"]["line"].as_u64().unwrap(),
                f["end"]["column"].as_u64().unwrap(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    // 1-based lines and code point columns; e2e.lua holds the same as 0-based `utf-32` columns.
    let want: Vec<(u64, u64, u64, u64, String)> = [
        (23, 22, 23, 31, "schema/enum"),
        (27, 11, 27, 27, "schema/unknown-field"),
        (28, 53, 28, 63, "schema/unknown-field"),
    ]
    .into_iter()
    .map(|(a, b, c, d, e)| (a, b, c, d, e.to_string()))
    .collect();
    assert_eq!(got, want);
}
