"""End-to-end scenarios for `usher mcp`, driven through the official MCP Python SDK.

Usage:  client.py SCENARIO --usher BIN --workspace DIR --audit-log FILE [--max-yaml-kib N]

Run by tests/mcp.rs (one scenario per Rust test); each scenario starts the real server as an MCP
client would (stdio), exercises it, and exits 0 on success or 1 with a message. The client
library validates every structured result against the tool's declared output schema.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp import MCPError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TOOLS = {"search_policies", "check_manifest", "explain", "find_kinds", "list_policies", "get_policy"}


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def session(args, extra=()):
    params = StdioServerParameters(
        command=args.usher,
        args=["mcp", "--audit-log", args.audit_log, *extra],
        cwd=args.workspace,
        env={**os.environ},
    )
    return stdio_client(params)


async def call(s, tool, arguments):
    r = await s.call_tool(tool, arguments)
    return r


async def ok(s, tool, arguments):
    r = await call(s, tool, arguments)
    check(not r.is_error, f"{tool}({arguments}) failed: {text_of(r)}")
    check(r.structured_content is not None, f"{tool} returned no structured content")
    return r.structured_content


async def tool_error(s, tool, arguments, *needles):
    r = await call(s, tool, arguments)
    check(r.is_error, f"{tool}({str(arguments)[:80]}) should fail, got {text_of(r)[:300]}")
    t = text_of(r)
    for n in needles:
        check(n in t, f"{tool} error should mention {n!r}: {t}")
    return t


# --- scenarios -------------------------------------------------------------------------------


async def protocol(s, args):
    tools = (await s.list_tools()).tools
    names = {t.name for t in tools}
    check(names == TOOLS, f"tools: {sorted(names)}")
    for t in tools:
        check(len(t.description or "") > 150, f"{t.name}: description too short to act on")
        check(t.input_schema.get("type") == "object", f"{t.name}: input schema")
        check(t.input_schema.get("additionalProperties") is False, f"{t.name}: extra arguments allowed")
        check(t.output_schema and t.output_schema.get("type") == "object", f"{t.name}: output schema")
        a = t.annotations
        check(a is not None and a.read_only_hint is True, f"{t.name}: not marked read-only")
        check(a.destructive_hint is False and a.open_world_hint is False, f"{t.name}: hints {a}")
    required = {t.name: set(t.input_schema.get("required", [])) for t in tools}
    check(required["check_manifest"] == {"yaml"}, f"check_manifest requires {required['check_manifest']}")
    check(required["explain"] == {"apiVersion", "kind"}, f"explain requires {required['explain']}")

    resources = (await s.list_resources()).resources
    policies = (await ok(s, "list_policies", {}))["policies"]
    check(len(resources) == len(policies) > 0, f"{len(resources)} resources, {len(policies)} policies")
    first = resources[0]
    check(str(first.uri).startswith("usher://policies/"), f"uri {first.uri}")
    contents = (await s.read_resource(first.uri)).contents
    check(f"name: {first.name}" in contents[0].text, f"resource text: {contents[0].text[:200]}")
    try:
        await s.read_resource("usher://policies/no-such-policy")
        raise Failure("reading an unknown resource should fail")
    except MCPError as e:
        check("no-such-policy" in str(e), f"unknown resource error: {e}")

    prompts = (await s.list_prompts()).prompts
    check([p.name for p in prompts] == ["check-before-apply"], f"prompts {prompts}")
    msg = (await s.get_prompt("check-before-apply", {"task": "deploy the billing API"})).messages[0]
    check("deploy the billing API" in msg.content.text and "check_manifest" in msg.content.text, "prompt text")
    try:
        await s.get_prompt("nope", {})
        raise Failure("an unknown prompt should fail")
    except MCPError:
        pass
    return {"tools": len(tools), "resources": len(resources)}


async def tools(s, args):
    ws = Path(args.workspace)
    # search_policies: a written rule found by its meaning, with provenance to cite.
    res = await ok(s, "search_policies", {"query": "which region can a postgres database run in?", "k": 3})
    top = res["results"]
    check(any("us-east-1" in r["text"] for r in top), f"region rule not in the top 3: {top}")
    wiki = next(r for r in top if r["sourceType"] == "doc")
    check("platform-rules.md:" in wiki["provenance"] and wiki["line"], f"provenance {wiki}")
    only = await ok(s, "search_policies", {"query": "image tag", "source_type": "policy"})
    check(only["results"] and all(r["sourceType"] == "policy" for r in only["results"]), "source_type filter")
    await tool_error(s, "search_policies", {"query": "x", "source_type": "wiki"}, "source_type")

    # find_kinds: the workspace's CRDs among the built-in kinds.
    kinds = (await ok(s, "find_kinds", {"query": "managed postgres database", "k": 3}))["results"]
    check(kinds[0]["kind"] == "Database" and "CustomResourceDefinition" in kinds[0]["source"], f"{kinds}")
    kinds = (await ok(s, "find_kinds", {"query": "TLS certificate for a domain", "k": 3}))["results"]
    check(kinds[0]["kind"] == "Certificate" and kinds[0]["apiVersion"] == "tls.acme.io/v1", f"{kinds}")
    kinds = (await ok(s, "find_kinds", {"query": "run a batch job every night on a schedule", "k": 3}))["results"]
    check(any(k["kind"] == "CronJob" for k in kinds), f"{kinds}")

    # explain: built-in and CRD fields, like kubectl explain.
    e = await ok(s, "explain", {"apiVersion": "apps/v1", "kind": "Deployment",
                                "path": "spec.template.spec.containers[].imagePullPolicy"})
    check(set(e["enum"]) == {"Always", "IfNotPresent", "Never"}, f"enum {e['enum']}")
    db = await ok(s, "explain", {"apiVersion": "platform.acme.io/v1beta1", "kind": "Database"})
    check(db["fields"] and "CustomResourceDefinition" in db["source"], f"{db}")
    await tool_error(s, "explain", {"apiVersion": "apps/v1", "kind": "Deployment", "path": "spec.replica"},
                     "did you mean `replicas`")

    # check_manifest: the same findings as `usher check` on the same file.
    path = ws / "apps" / "payments-api.yaml"
    res = await ok(s, "check_manifest", {"yaml": path.read_text(), "filename": "apps/payments-api.yaml"})
    cli = subprocess.run([args.usher, "check", "--format", "json", str(path)], capture_output=True,
                         text=True, cwd=ws)
    expected = {(f["code"], f["start"]["line"], f["start"]["column"])
                for f in json.loads(cli.stdout)["files"][0]["findings"]}
    got = {(f["code"], f["range"]["start"]["line"], f["range"]["start"]["column"])
           for f in res["findings"] if not f["code"].startswith("knowledge/")}
    check(got == expected, f"MCP and CLI disagree: only MCP {got - expected}, only CLI {expected - got}")
    check(res["summary"]["resources"] >= 1 and res["resources"][0]["kind"], f"{res['summary']}")

    # list_policies / get_policy
    pods = (await ok(s, "list_policies", {"filter": "pod security"}))["policies"]
    names = {p["name"] for p in pods}
    check({"usher-podsecurity-baseline", "usher-podsecurity-restricted"} <= names, f"{names}")
    p = await ok(s, "get_policy", {"name": "usher-disallow-latest-tag"})
    check(p["yaml"].startswith("apiVersion: kyverno.io/v1") and p["action"] in ("enforce", "audit"), p["yaml"][:200])
    await tool_error(s, "get_policy", {"name": "usher-disallow-latest"}, "did you mean")
    return {"findings": len(got)}


async def errors(s, args):
    await tool_error(s, "check_manifest", {}, "missing field `yaml`")
    await tool_error(s, "check_manifest", {"yaml": "a: 1", "extra": True}, "unknown field `extra`")
    await tool_error(s, "search_policies", {"query": "latest", "k": "five"}, "invalid arguments")
    await tool_error(s, "search_policies", {"query": "latest", "k": 0}, "at least 1")
    await tool_error(s, "search_policies", {"query": "latest", "k": 1000}, "limit is 50")
    await tool_error(s, "find_kinds", {"query": "x" * 5000}, "limit is 2000")
    await tool_error(s, "search_policies", {"query": "   "}, "empty")
    big = "items:\n" + "  - value: 0123456789abcdef\n" * (args.max_yaml_kib * 1024 // 28 + 10)
    await tool_error(s, "check_manifest", {"yaml": big}, "limit is")
    try:
        await s.call_tool("apply_manifest", {"yaml": "a: 1"})
        raise Failure("an unknown tool should be a protocol error")
    except MCPError as e:
        check("unknown tool" in str(e), f"{e}")

    # Bad YAML gets findings with positions, not failures.
    r = await ok(s, "check_manifest", {"yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n"})
    check(r["summary"]["errors"] >= 1 and r["findings"][0]["range"]["start"]["line"] >= 1, f"{r['findings']}")
    r = await ok(s, "check_manifest", {"yaml": "a: \u0000\u0001binary"})
    check(r["findings"][0]["code"] == "file/binary", f"{r['findings']}")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    r = await ok(s, "check_manifest", {"yaml": bomb})
    check(r["summary"]["resources"] == 0, f"alias bomb: {r['summary']}")
    r = await ok(s, "check_manifest", {"yaml": ""})
    check(r["findings"] == [] and r["fixed"] is None, f"empty: {r}")
    # Still serving.
    check(len((await s.list_tools()).tools) == len(TOOLS), "server stopped answering")
    return {}


def apply_edits(text, edits):
    """Applies edits given in 1-based lines and columns (Unicode characters), end exclusive."""
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def index(pos):
        return starts[pos["line"] - 1] + pos["column"] - 1

    spans = sorted(((index(e["range"]["start"]), index(e["range"]["end"]), e["newText"]) for e in edits),
                   reverse=True)
    for a, b, new in spans:
        text = text[:a] + new + text[b:]
    return text


async def agent_loop(s, args):
    """What an agent does: check, apply the fixes the tool gives, check again until clean."""
    original = (FIXTURES / "mcp" / "noncompliant-deployment.yaml").read_text()
    first = await ok(s, "check_manifest", {"yaml": original, "filename": "billing.yaml"})
    check(first["summary"]["errors"] >= 2 and first["summary"]["warnings"] >= 3, f"{first['summary']}")

    # 1. From the edits of each finding's fixes (the preferred one, else the first offered).
    text, rounds = original, 0
    while True:
        res = await ok(s, "check_manifest", {"yaml": text, "filename": "billing.yaml"})
        problems = [f for f in res["findings"] if f["severity"] in ("error", "warning")]
        if not problems:
            break
        rounds += 1
        check(rounds <= 5, f"not clean after 5 rounds: {problems}")
        chosen, taken = [], []
        for f in problems:
            fixes = sorted(f["fixes"], key=lambda x: not x["preferred"])
            if not fixes:
                continue
            edits = fixes[0]["edits"]
            spans = [(e["range"]["start"]["line"], e["range"]["start"]["column"],
                      e["range"]["end"]["line"], e["range"]["end"]["column"]) for e in edits]
            if any(not (b[2:] <= t[:2] or t[2:] <= b[:2]) or b[:2] == t[:2] for b in spans for t in taken):
                continue  # overlaps an edit taken this round: next round
            taken.extend(spans)
            chosen.extend(edits)
        check(chosen, f"findings without fixes: {[f['code'] for f in problems]}")
        text = apply_edits(text, chosen)
    # 2. From `fixed.yaml` (the safe fixes together), then the edits of what is left.
    fixed = first["fixed"]
    check(fixed and fixed["applied"], f"no fixed YAML: {first['fixed']}")
    again = await ok(s, "check_manifest", {"yaml": fixed["yaml"]})
    check(again["summary"]["errors"] == fixed["remaining"]["errors"], "remaining errors disagree")
    rest = [f["fixes"][0]["edits"] for f in again["findings"] if f["severity"] == "error" and f["fixes"]]
    final = await ok(s, "check_manifest", {"yaml": apply_edits(fixed["yaml"], [e for es in rest for e in es])})
    check(final["summary"]["errors"] == 0 and final["summary"]["warnings"] == 0, f"{final['findings']}")
    return {"rounds": rounds, "first": first["summary"], "final": res["summary"]}


async def audit(s, args):
    log = Path(args.audit_log)
    before = len(log.read_text().splitlines()) if log.exists() else 0
    await ok(s, "list_policies", {})
    await ok(s, "explain", {"apiVersion": "v1", "kind": "Pod"})
    await tool_error(s, "get_policy", {"name": "nope"})
    secret = {"yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n"}
    await ok(s, "check_manifest", secret)
    lines = [json.loads(x) for x in log.read_text().splitlines()[before:]]
    check([e["tool"] for e in lines] == ["list_policies", "explain", "get_policy", "check_manifest"],
          f"audit lines: {lines}")
    check([e["ok"] for e in lines] == [True, True, False, True], f"{lines}")
    for e in lines:
        check(len(e["arguments"]["sha256"]) == 64 and e["durationMs"] >= 0 and e["time"].endswith("Z"), f"{e}")
        check(e["client"].startswith("mcp "), f"client {e}")
    check("hunter2" not in log.read_text(), "the audit log holds a secret")
    check(lines[3]["arguments"]["bytes"] > 60 and "findings" in lines[3]["result"], f"{lines[3]}")
    return {"lines": len(lines)}


async def audit_failure(s, args):
    t = await tool_error(s, "list_policies", {}, "audit log", "withheld")
    return {"message": t[:80]}


SCENARIOS = {"protocol": protocol, "tools": tools, "errors": errors, "agent_loop": agent_loop,
             "audit": audit, "audit_failure": audit_failure}


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--usher", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--audit-log", required=True)
    p.add_argument("--max-yaml-kib", type=int, default=1024)
    args = p.parse_args()
    extra = ["--max-yaml-kib", str(args.max_yaml_kib)]
    async with await session(args, extra) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            check(init.server_info.name == "usher", f"server {init.server_info}")
            check("check_manifest" in (init.instructions or ""), "instructions")
            out = await SCENARIOS[args.scenario](s, args)
    print(json.dumps({"scenario": args.scenario, **out}))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Failure as f:
        print(f"FAILED: {f}", file=sys.stderr)
        sys.exit(1)
