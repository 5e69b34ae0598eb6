-- End-to-end test of usher in a real Neovim (>= 0.10), run headless:
--
--   nvim --clean --headless -n -l editors/neovim/test/e2e.lua
--
-- Attaches `usher lsp` through vim.lsp with the configuration shipped in
-- lsp/usher.lua (vim.lsp.enable on 0.11+, vim.lsp.start on 0.10), opens
-- fixtures/lsp/deployment-errors.yaml, waits for the server's diagnostics and
-- compares them with the exact expected set (line, columns, code), both as the
-- server sent them (in the negotiated position encoding) and as Neovim stores
-- them (byte columns). Then it asks for three hovers: on the `replicas` key,
-- on the `kind` value and on a misspelled key that follows non-ASCII text on
-- its line. Prints one line per check and exits 0 on success, 1 on the first
-- mismatch or timeout. tests/neovim.rs runs it from `cargo test`.
--
-- Environment:
--   USHER_CMD                command line of the server (default: "usher lsp")
--   USHER_TIMEOUT            milliseconds to wait at each step (default: 15000)
--   USHER_POSITION_ENCODING  offer only this encoding to the server (utf-8 or
--                            utf-16) and require that it is chosen;
--                            default: what this Neovim offers by itself

local script = debug.getinfo(1, 'S').source:sub(2)
local neovim_dir = vim.fn.fnamemodify(script, ':p:h:h')
local repo_root = vim.fn.fnamemodify(neovim_dir, ':h:h')
local fixture = (_G.arg and _G.arg[1] and _G.arg[1] ~= '') and _G.arg[1]
  or (repo_root .. '/fixtures/lsp/deployment-errors.yaml')
local timeout = tonumber(vim.env.USHER_TIMEOUT) or 15000
local want_encoding = vim.env.USHER_POSITION_ENCODING
if want_encoding == '' then
  want_encoding = nil
end

local function log(msg)
  io.stdout:write('usher e2e: ' .. msg .. '\n')
  io.stdout:flush()
end

local function fail(msg)
  io.stderr:write('usher e2e: FAIL: ' .. msg .. '\n')
  io.stderr:write('usher e2e: LSP log: ' .. vim.lsp.get_log_path() .. '\n')
  io.stderr:flush()
  os.exit(1)
end

if vim.fn.has('nvim-0.10') ~= 1 then
  fail('Neovim >= 0.10 is needed, this is ' .. tostring(vim.version()))
end
if want_encoding and not vim.tbl_contains({ 'utf-8', 'utf-16' }, want_encoding) then
  -- (Offering only utf-32 is allowed to yield utf-16, the mandatory fallback.)
  fail('USHER_POSITION_ENCODING must be utf-8 or utf-16, not ' .. want_encoding)
end

-- What the server must report for the fixture. `cols` are 0-based [start, end)
-- columns per position encoding: utf-8 counts bytes (and is what Neovim stores
-- in vim.diagnostic), utf-16 counts UTF-16 code units, utf-32 code points.
-- Line 28 of the fixture has CJK text and an emoji (4 bytes, 2 UTF-16 units)
-- before `valueFromm`, so its columns differ per encoding.
-- (Same findings as `usher check --format json fixtures/lsp/deployment-errors.yaml`.)
local expected = {
  {
    line = 22,
    text = 'Sometimes',
    code = 'schema/enum',
    message = '`Sometimes` is not an allowed value for `restartPolicy`',
    cols = { ['utf-8'] = { 21, 30 }, ['utf-16'] = { 21, 30 }, ['utf-32'] = { 21, 30 } },
  },
  {
    line = 26,
    text = 'imagePullPolicyy',
    code = 'schema/unknown-field',
    message = 'did you mean `imagePullPolicy`?',
    cols = { ['utf-8'] = { 10, 26 }, ['utf-16'] = { 10, 26 }, ['utf-32'] = { 10, 26 } },
  },
  {
    line = 27,
    text = 'valueFromm',
    code = 'schema/unknown-field',
    message = 'did you mean `valueFrom`?',
    cols = { ['utf-8'] = { 65, 75 }, ['utf-16'] = { 53, 63 }, ['utf-32'] = { 52, 62 } },
  },
}

---Length of the UTF-8 string `s` in the code units of `encoding`.
local function units(s, encoding)
  if encoding == 'utf-8' then
    return #s
  end
  local n = 0
  for i = 1, #s do
    local byte = s:byte(i)
    if byte < 0x80 or byte >= 0xC0 then -- not a continuation byte
      n = n + ((encoding == 'utf-16' and byte >= 0xF0) and 2 or 1)
    end
  end
  return n
end

-- Raw textDocument/publishDiagnostics params, newest last, before Neovim
-- converts the positions.
local published = {}
local function capture(err, result, ctx, config)
  if result then
    table.insert(published, vim.deepcopy(result))
  end
  return vim.lsp.handlers['textDocument/publishDiagnostics'](err, result, ctx, config)
end

local overrides = { handlers = { ['textDocument/publishDiagnostics'] = capture } }
if vim.env.USHER_CMD and vim.env.USHER_CMD ~= '' then
  overrides.cmd = vim.split(vim.env.USHER_CMD, ' ', { trimempty = true })
end

vim.opt.runtimepath:prepend(neovim_dir)
vim.cmd('filetype on')
local base = dofile(neovim_dir .. '/lsp/usher.lua')
if want_encoding then
  -- Restrict the encodings this client offers in its initialize request.
  overrides.before_init = function(params, config)
    if base.before_init then
      base.before_init(params, config)
    end
    params.capabilities.general = params.capabilities.general or {}
    params.capabilities.general.positionEncodings = { want_encoding }
  end
end

if vim.fn.has('nvim-0.11') == 1 then
  vim.lsp.config('usher', overrides)
  vim.lsp.enable('usher')
else
  -- Neovim 0.10 has no vim.lsp.config/enable: start the same configuration by hand.
  local config = vim.tbl_extend('force', base, overrides, { name = 'usher' })
  vim.api.nvim_create_autocmd('FileType', {
    pattern = 'yaml',
    callback = function(ev)
      local root = vim.fs.root(ev.buf, config.root_markers)
      vim.lsp.start(vim.tbl_extend('force', config, { root_dir = root }), { bufnr = ev.buf })
    end,
  })
end

local cmd_line = table.concat(overrides.cmd or base.cmd, ' ')
log(('%s, server: %s'):format(tostring(vim.version()), cmd_line))

-- Open the fixture and check that its text is what the expectations describe.
if vim.fn.filereadable(fixture) ~= 1 then
  fail('fixture not found: ' .. fixture)
end
vim.cmd.edit(vim.fn.fnameescape(fixture))
local bufnr = vim.api.nvim_get_current_buf()
local uri = vim.uri_from_bufnr(bufnr)
if vim.bo[bufnr].filetype ~= 'yaml' then
  fail(('%s has filetype %q, not yaml'):format(fixture, vim.bo[bufnr].filetype))
end
for _, e in ipairs(expected) do
  local line = vim.api.nvim_buf_get_lines(bufnr, e.line, e.line + 1, true)[1]
  local b = e.cols['utf-8']
  local got = line:sub(b[1] + 1, b[2])
  if got ~= e.text then
    fail(('fixture changed: line %d bytes %d-%d are %q, expected %q'):format(e.line + 1, b[1], b[2], got, e.text))
  end
  -- The other encodings' columns must describe the same text.
  for enc, c in pairs(e.cols) do
    local want = { units(line:sub(1, b[1]), enc), units(line:sub(1, b[2]), enc) }
    if c[1] ~= want[1] or c[2] ~= want[2] then
      fail(('expectation inconsistent: line %d %q is at %s columns %d-%d, not %d-%d'):format(
        e.line + 1, e.text, enc, want[1], want[2], c[1], c[2]))
    end
  end
end

-- Attach.
local client
if not vim.wait(timeout, function()
  client = vim.lsp.get_clients({ name = 'usher', bufnr = bufnr })[1]
  return client ~= nil and client.initialized == true
end, 20) then
  fail(('no initialized usher client after %d ms (cmd: %s)'):format(timeout, cmd_line))
end
local info = client.server_info or {}
local encoding = client.offset_encoding
log(('attached to %s %s, root %s, position encoding %s'):format(
  info.name or '?', info.version or '?', tostring(client.root_dir), encoding))
if want_encoding and encoding ~= want_encoding then
  fail(('offered only %s but the server chose %s'):format(want_encoding, encoding))
end
if not expected[1].cols[encoding] then
  fail('unexpected position encoding ' .. tostring(encoding))
end

-- Diagnostics: the newest publication for the fixture must be exactly `expected`.
local function fmt_range(r)
  return ('%d:%d-%d:%d'):format(r.start.line, r.start.character, r['end'].line, r['end'].character)
end

local function latest_for_uri()
  for i = #published, 1, -1 do
    if published[i].uri == uri then
      return published[i]
    end
  end
end

---Differences between a publication and `expected`, as readable lines.
local function diff(pub)
  local problems = {}
  local got = vim.deepcopy(pub.diagnostics)
  table.sort(got, function(a, b)
    if a.range.start.line ~= b.range.start.line then
      return a.range.start.line < b.range.start.line
    end
    return a.range.start.character < b.range.start.character
  end)
  if #got ~= #expected then
    table.insert(problems, ('expected %d diagnostics, got %d'):format(#expected, #got))
  end
  for i = 1, math.max(#got, #expected) do
    local g, e = got[i], expected[i]
    if not g then
      table.insert(problems, ('missing: line %d %s'):format(e.line, e.code))
    elseif not e then
      table.insert(problems, ('unexpected: %s %s %s'):format(fmt_range(g.range), tostring(g.code), g.message))
    else
      local c = e.cols[encoding]
      local want = ('%d:%d-%d:%d'):format(e.line, c[1], e.line, c[2])
      local bad = {}
      if fmt_range(g.range) ~= want then
        table.insert(bad, ('range %s, expected %s (%s)'):format(fmt_range(g.range), want, encoding))
      end
      if g.code ~= e.code then
        table.insert(bad, ('code %s, expected %s'):format(tostring(g.code), e.code))
      end
      if g.severity ~= vim.lsp.protocol.DiagnosticSeverity.Error then
        table.insert(bad, ('severity %s, expected 1 (Error)'):format(tostring(g.severity)))
      end
      if g.source ~= 'usher' then
        table.insert(bad, ('source %s, expected usher'):format(tostring(g.source)))
      end
      if not (g.message or ''):find(e.message, 1, true) then
        table.insert(bad, ('message %q does not contain %q'):format(g.message or '', e.message))
      end
      if #bad > 0 then
        table.insert(problems, ('diagnostic %d (%s): %s'):format(i, e.text, table.concat(bad, '; ')))
      end
    end
  end
  return problems
end

local last_problems
if not vim.wait(timeout, function()
  local pub = latest_for_uri()
  if not pub then
    return false
  end
  last_problems = diff(pub)
  return #last_problems == 0
end, 20) then
  local pub = latest_for_uri()
  if not pub then
    fail(('no textDocument/publishDiagnostics for %s after %d ms'):format(uri, timeout))
  end
  fail(('diagnostics do not match after %d ms:\n  %s\n  last publication: %s'):format(
    timeout, table.concat(last_problems, '\n  '), vim.json.encode(pub)))
end
-- A later publication must not take them back.
vim.wait(300, function() return false end, 20)
local final = latest_for_uri()
local problems = diff(final)
if #problems > 0 then
  fail('diagnostics changed after matching:\n  ' .. table.concat(problems, '\n  '))
end
local buf_version = vim.lsp.util.buf_versions[bufnr]
if final.version ~= nil and buf_version ~= nil and final.version ~= buf_version then
  fail(('diagnostics are for version %d, the buffer is at version %d'):format(final.version, buf_version))
end

-- What Neovim made of them: byte columns, whatever the encoding.
local stored = vim.diagnostic.get(bufnr)
table.sort(stored, function(a, b)
  return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
end)
if #stored ~= #expected then
  fail(('vim.diagnostic.get holds %d diagnostics, expected %d'):format(#stored, #expected))
end
for i, d in ipairs(stored) do
  local e = expected[i]
  local b = e.cols['utf-8']
  if d.lnum ~= e.line or d.col ~= b[1] or d.end_lnum ~= e.line or d.end_col ~= b[2] or d.code ~= e.code then
    fail(('vim.diagnostic %d is %d:%d-%d:%d %s, expected %d:%d-%d:%d %s (byte columns)'):format(
      i, d.lnum, d.col, d.end_lnum, d.end_col, tostring(d.code), e.line, b[1], e.line, b[2], e.code))
  end
  log(('diagnostic %d:%d %s %s'):format(d.lnum + 1, d.col + 1, d.code, d.message))
end
log(('%d diagnostics as expected (%s columns and byte columns)'):format(#stored, encoding))

-- Hovers.
local function hover(line, character)
  local params = { textDocument = { uri = uri }, position = { line = line, character = character } }
  local responses, err = vim.lsp.buf_request_sync(bufnr, 'textDocument/hover', params, timeout)
  if not responses then
    fail(('hover at %d:%d: no answer (%s)'):format(line, character, tostring(err)))
  end
  local r = responses[client.id]
  if not r then
    fail(('hover at %d:%d: no answer from usher'):format(line, character))
  end
  if r.err then
    fail(('hover at %d:%d: error %s'):format(line, character, vim.inspect(r.err)))
  end
  if not r.result or not r.result.contents then
    fail(('hover at %d:%d: empty result'):format(line, character))
  end
  local contents = r.result.contents
  if type(contents) ~= 'table' or contents.kind ~= 'markdown' or type(contents.value) ~= 'string' then
    fail(('hover at %d:%d: expected MarkupContent of kind markdown, got %s'):format(line, character, vim.inspect(contents)))
  end
  return contents.value, r.result.range
end

local function expect_hover(what, line, character, needles, range)
  local md, got_range = hover(line, character)
  for _, needle in ipairs(needles) do
    if not md:find(needle, 1, true) then
      fail(('hover on %s (%d:%d) does not mention %q:\n%s'):format(what, line, character, needle, md))
    end
  end
  if range then
    local want = ('%d:%d-%d:%d'):format(range[1], range[2], range[1], range[3])
    if not got_range or fmt_range(got_range) ~= want then
      fail(('hover on %s: range %s, expected %s (%s)'):format(
        what, got_range and fmt_range(got_range) or 'none', want, encoding))
    end
  end
  log(('hover on %s: ok (%s)'):format(what, md:match('^[^\n]*')))
end

-- `  replicas: 2` (line 14)
expect_hover('the replicas key', 13, 4, { 'integer', 'desired' }, { 13, 2, 10 })
-- `kind: Deployment` (line 6)
expect_hover('the kind value', 5, 8, { 'apps/v1', 'Deployment' })
-- `valueFromm` after CJK text and an emoji on line 28: the request position is
-- in the negotiated encoding too.
local vf = expected[3].cols[encoding]
expect_hover('valueFromm', 27, vf[1] + 5, { 'schema/unknown-field', '`valueFrom`' }, { 27, vf[1], vf[2] })

-- Shut the server down: Neovim sends `shutdown`, then `exit`, and keeps the
-- server's stdin open; the client goes away once the process has exited.
local id = client.id
vim.lsp.stop_client(id)
if not vim.wait(5000, function() return vim.lsp.get_client_by_id(id) == nil end, 20) then
  fail('the server process did not exit within 5 s of the shutdown request and exit notification'
    .. ' (with its stdin still open)')
end
log('server exited after shutdown/exit')
log('PASS')
os.exit(0)
