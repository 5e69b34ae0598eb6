; Highlight queries for Kubernetes manifests, for the tree-sitter-yaml grammar
; (the grammar of the tree-sitter-yaml 0.7 crate that usher parses with).
;
; Ordering: Helix uses the first pattern that matches a node, Neovim the one
; with the highest priority (later patterns win between equal priorities). The
; specific patterns therefore come first *and* carry a higher priority, so both
; editors agree.

; --- Kubernetes: the resource identity of every document --------------------

; `apiVersion:` and `kind:` at the top level of a document.
((document
  (block_node
    (block_mapping
      (block_mapping_pair
        key: (flow_node
          (plain_scalar
            (string_scalar) @keyword.kubernetes))))))
  (#any-of? @keyword.kubernetes "apiVersion" "kind")
  (#set! priority 110))

; The value of `kind:` names a resource type (Deployment, Service, ...).
((document
  (block_node
    (block_mapping
      (block_mapping_pair
        key: (flow_node
          (plain_scalar
            (string_scalar) @_key))
        value: (flow_node
          (plain_scalar
            (string_scalar) @type.kubernetes))))))
  (#eq? @_key "kind")
  (#set! priority 110))

; The value of `apiVersion:` is a group/version (apps/v1, v1, ...).
((document
  (block_node
    (block_mapping
      (block_mapping_pair
        key: (flow_node
          (plain_scalar
            (string_scalar) @_key))
        value: (flow_node
          (plain_scalar
            (string_scalar) @module.kubernetes))))))
  (#eq? @_key "apiVersion")
  (#set! priority 110))

; --- Mapping keys ------------------------------------------------------------

((block_mapping_pair
  key: (flow_node
    (plain_scalar
      (string_scalar) @property)))
  (#set! priority 105))

((block_mapping_pair
  key: (flow_node
    [
      (double_quote_scalar)
      (single_quote_scalar)
    ] @property))
  (#set! priority 105))

((flow_pair
  key: (flow_node
    (plain_scalar
      (string_scalar) @property)))
  (#set! priority 105))

((flow_pair
  key: (flow_node
    [
      (double_quote_scalar)
      (single_quote_scalar)
    ] @property))
  (#set! priority 105))

; --- Scalars -----------------------------------------------------------------

(comment) @comment

[
  (double_quote_scalar)
  (single_quote_scalar)
  (block_scalar)
  (string_scalar)
] @string

(escape_sequence) @string.escape

[
  (integer_scalar)
  (float_scalar)
] @number

(boolean_scalar) @boolean

(null_scalar) @constant.builtin

; --- Anchors, aliases, tags, directives --------------------------------------

[
  (anchor_name)
  (alias_name)
] @label

(tag) @type.builtin

[
  (yaml_directive)
  (tag_directive)
  (reserved_directive)
] @keyword.directive

; --- Punctuation -------------------------------------------------------------

[
  ":"
  "-"
  ","
  "?"
  "|"
  ">"
] @punctuation.delimiter

[
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  "---"
  "..."
  "*"
  "&"
] @punctuation.special
