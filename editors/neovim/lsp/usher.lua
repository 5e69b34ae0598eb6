-- usher: Kubernetes YAML language server.
--
-- Neovim >= 0.11 picks this file up from 'runtimepath' (lsp/usher.lua), so
--
--   vim.lsp.enable('usher')
--
-- is all that is needed once this directory is on 'runtimepath'. Override any
-- field with vim.lsp.config('usher', { ... }); settings live under
-- `settings.usher` and are also sent as initializationOptions (see before_init).

---Copies `settings.usher` into the initialize request so the server sees the
---same options as `initializationOptions` and as the `usher` section of
---`workspace/configuration`.
---@param params lsp.InitializeParams
---@param config vim.lsp.ClientConfig
local function before_init(params, config)
  local usher = vim.tbl_get(config, 'settings', 'usher') or {}
  local init = vim.tbl_deep_extend('force', params.initializationOptions or {}, usher)
  -- An empty Lua table would be encoded as a JSON array.
  params.initializationOptions = next(init) == nil and vim.empty_dict() or init
end

---@type vim.lsp.Config
return {
  cmd = { 'usher', 'lsp' },
  filetypes = { 'yaml' },
  root_markers = { '.usher.yaml', '.git' },
  -- Settings sent here override the project's .usher.yaml key by key, so none
  -- are set by default: the server's defaults and .usher.yaml apply. Examples:
  settings = {
    usher = vim.empty_dict(),
    -- usher = {
    --   kubernetesVersion = '1.37',   -- default: newest version built into the server
    --   crds = { 'deploy/crds' },     -- CustomResourceDefinition files or folders
    --   unknownFields = 'warning',    -- 'error' (default) | 'warning' | 'ignore'
    --   missingSchemas = 'ignore',    -- 'warning' (default) | 'error' | 'ignore'
    --   policies = { paths = { 'policies/' }, bundled = true, categories = {} }, -- Kyverno policies
    --   -- Reserved for later versions of the server:
    --   knowledge = { sources = {}, diagnostics = true },
    --   cluster = { context = 'kind-dev', enabled = false },
    -- },
  },
  init_options = vim.empty_dict(),
  before_init = before_init,
}
