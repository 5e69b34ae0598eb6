-- Headless smoke test for lsp/usher.lua (Neovim >= 0.11).
--
--   nvim --headless -u NONE -l editors/neovim/test/smoke.lua [FILE.yaml]
--
-- Starts the server through vim.lsp.enable('usher'), opens FILE (default: a
-- small Deployment written to a temporary directory), waits for the client to
-- initialize and for diagnostics, prints a summary and exits 0 on success.
-- Environment:
--   USHER_CMD      command line of the server (default: "usher lsp")
--   USHER_TIMEOUT  milliseconds to wait for the server (default: 10000)
--   USHER_EXPECT_DIAGNOSTICS=1  fail unless the server publishes diagnostics

local script = debug.getinfo(1, 'S').source:sub(2)
local neovim_dir = vim.fn.fnamemodify(script, ':p:h:h')
vim.opt.runtimepath:prepend(neovim_dir)
vim.cmd('filetype on')

local function fail(msg)
  io.stderr:write('usher smoke: FAIL: ' .. msg .. '\n')
  os.exit(1)
end

if vim.fn.has('nvim-0.11') ~= 1 then
  fail('Neovim >= 0.11 is needed for vim.lsp.config/vim.lsp.enable')
end

if vim.env.USHER_CMD and vim.env.USHER_CMD ~= '' then
  vim.lsp.config('usher', { cmd = vim.split(vim.env.USHER_CMD, ' ', { trimempty = true }) })
end
local timeout = tonumber(vim.env.USHER_TIMEOUT) or 10000

local file = _G.arg and _G.arg[1]
if not file or file == '' then
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  file = dir .. '/deployment.yaml'
  vim.fn.writefile({
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    'spec:',
    '  replicas: 1',
    '  selector:',
    '    matchLabels: { app: web }',
    '  template:',
    '    metadata:',
    '      labels: { app: web }',
    '    spec:',
    '      containers:',
    '        - name: web',
    '          image: nginx',
    '          imagePullPolicyy: Always',
  }, file)
end

vim.lsp.enable('usher')
vim.cmd.edit(vim.fn.fnameescape(file))
local bufnr = vim.api.nvim_get_current_buf()
if vim.bo[bufnr].filetype ~= 'yaml' then
  fail(('%s has filetype %q, not yaml'):format(file, vim.bo[bufnr].filetype))
end

local client
local ok = vim.wait(timeout, function()
  client = vim.lsp.get_clients({ name = 'usher', bufnr = bufnr })[1]
  return client ~= nil and client.initialized == true
end, 50)
if not ok then
  fail(('no initialized usher client after %d ms (cmd: %s)'):format(
    timeout,
    table.concat(vim.lsp.config.usher.cmd or {}, ' ')
  ))
end

local info = client.server_info or {}
print(('usher smoke: attached to %s %s, root %s'):format(
  info.name or '?', info.version or '?', tostring(client.root_dir)))

local expect = vim.env.USHER_EXPECT_DIAGNOSTICS == '1'
vim.wait(expect and timeout or 1000, function()
  return #vim.diagnostic.get(bufnr) > 0
end, 50)
local diagnostics = vim.diagnostic.get(bufnr)
for _, d in ipairs(diagnostics) do
  print(('usher smoke: %d:%d %s'):format(d.lnum + 1, d.col + 1, d.message))
end
print(('usher smoke: %d diagnostics'):format(#diagnostics))

client:stop()
vim.wait(2000, function() return client:is_stopped() end, 50)
if expect and #diagnostics == 0 then
  fail('the server published no diagnostics')
end
os.exit(0)
