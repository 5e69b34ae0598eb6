-- usher for nvim-lspconfig's `require('lspconfig').usher.setup{}` interface.
--
-- nvim-lspconfig looks servers up as `lspconfig.configs.<name>`, so with this
-- directory on 'runtimepath' `require('lspconfig').usher` finds this module.
-- On Neovim >= 0.11 prefer lsp/usher.lua with vim.lsp.enable('usher').

local util = require('lspconfig.util')

return {
  default_config = {
    cmd = { 'usher', 'lsp' },
    filetypes = { 'yaml' },
    root_dir = util.root_pattern('.usher.yaml', '.git'),
    single_file_support = true,
    -- Settings sent here override the project's .usher.yaml key by key, so none
    -- are set by default (see the docs below for the keys).
    settings = {
      usher = vim.empty_dict(),
    },
    init_options = vim.empty_dict(),
    -- Send `settings.usher` as initializationOptions as well.
    before_init = function(params, config)
      local usher = vim.tbl_get(config, 'settings', 'usher') or {}
      local init = vim.tbl_deep_extend('force', params.initializationOptions or {}, usher)
      params.initializationOptions = next(init) == nil and vim.empty_dict() or init
    end,
  },
  docs = {
    description = [[
usher: a Kubernetes YAML language server (schema and CRD validation, deprecated
and removed API versions).

Install the binary with `cargo install --path server` from the usher
repository. Settings go under `settings.usher`:

```lua
require('lspconfig').usher.setup {
  settings = {
    usher = {
      kubernetesVersion = '1.37',
      crds = { 'deploy/crds' },
      unknownFields = 'warning',
      missingSchemas = 'ignore',
    },
  },
}
```

A `.usher.yaml` file at the project root takes the same keys; settings given
here override it key by key.
]],
  },
}
