#!/usr/bin/env python3
"""A short `usher mcp` session, as an AI agent would have it (for `make demo`; standard library only).

Starts `usher mcp` in fixtures/demo, asks what the rules say about databases, checks
fixtures/mcp/noncompliant-deployment.yaml, and re-checks the fixed YAML the tool returns.

Usage: scripts/mcp-demo.py [USHER_BINARY]
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent
usher = str(Path(sys.argv[1]).resolve()) if len(sys.argv) > 1 else str(root / "target/release/usher")
audit = Path(tempfile.mkdtemp(prefix="usher-mcp-demo-")) / "audit.jsonl"
server = subprocess.Popen([usher, "mcp", "--audit-log", str(audit)], cwd=root / "fixtures/demo",
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
next_id = 0


def request(method, params):
    global next_id
    next_id += 1
    server.stdin.write(json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}) + "\n")
    server.stdin.flush()
    while True:
        msg = json.loads(server.stdout.readline())
        if msg.get("id") == next_id:
            if "error" in msg:
                sys.exit(f"{method}: {msg['error']}")
            return msg["result"]


def tool(name, arguments):
    result = request("tools/call", {"name": name, "arguments": arguments})
    return result["structuredContent"], result["content"][0]["text"]


request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "make-demo", "version": "1"}})
server.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
tools = request("tools/list", {})["tools"]
print("tools:", ", ".join(t["name"] for t in tools))

print('\n--> search_policies("which region can a postgres database run in?", k=2)')
_, text = tool("search_policies", {"query": "which region can a postgres database run in?", "k": 2})
print(text)

manifest = (root / "fixtures/mcp/noncompliant-deployment.yaml").read_text()
print("--> check_manifest(fixtures/mcp/noncompliant-deployment.yaml)")
result, text = tool("check_manifest", {"yaml": manifest, "filename": "billing.yaml"})
print(text)
fixed = result["fixed"]
if fixed:
    again, text = tool("check_manifest", {"yaml": fixed["yaml"], "filename": "billing.yaml (fixed)"})
    print(f"--> check_manifest(fixed.yaml): {again['summary']['errors']} error(s), "
          f"{again['summary']['warnings']} warning(s) left")
    print(text)
server.stdin.close()
server.wait()
print(f"audit log ({audit}):")
print(audit.read_text(), end="")
