//! `{{ }}` variables: JMESPath over the admission context, with Kyverno's own functions.
//! Substitution is innermost-first (Kyverno allows `{{ }}` inside `{{ }}`); a string that is
//! exactly one `{{ expr }}` becomes the expression's value (any JSON type).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jmespath::functions::{ArgumentType, CustomFunction, Signature};
use jmespath::{Expression, Rcvar, Runtime, Variable};
use serde_json::Value as Json;

use super::functions;

#[derive(Debug, Clone, PartialEq)]
pub struct VarError(pub String);

impl std::fmt::Display for VarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut rt = Runtime::new();
        rt.register_builtin_functions();
        functions::register_all(&mut rt);
        rt
    })
}

/// Registers a Kyverno function.
pub fn register(
    rt: &mut Runtime,
    name: &str,
    inputs: Vec<ArgumentType>,
    variadic: Option<ArgumentType>,
    f: fn(&[Rcvar]) -> Result<Json, String>,
) {
    let name_owned = name.to_string();
    rt.register_function(
        name,
        Box::new(CustomFunction::new(
            Signature::new(inputs, variadic),
            Box::new(move |args: &[Rcvar], ctx: &mut jmespath::Context<'_>| {
                let out = f(args).map_err(|e| {
                    jmespath::JmespathError::new(
                        ctx.expression,
                        ctx.offset,
                        jmespath::ErrorReason::Parse(format!("{name_owned}: {e}")),
                    )
                })?;
                Ok(to_var(&out))
            }),
        )),
    );
}

pub fn to_var(v: &Json) -> Rcvar {
    Rcvar::new(Variable::from_serializable(v).unwrap_or(Variable::Null))
}

pub fn from_var(v: &Variable) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Compiled expressions, shared by every evaluation.
fn compile(expr: &str) -> Result<std::sync::Arc<Expression<'static>>, VarError> {
    static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<Expression<'static>>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(e) = cache.lock().unwrap().get(expr) {
        return Ok(e.clone());
    }
    let compiled = runtime()
        .compile(expr)
        .map_err(|e| VarError(format!("invalid JMESPath `{expr}`: {}", e.reason)))?;
    let compiled = std::sync::Arc::new(compiled);
    let mut c = cache.lock().unwrap();
    if c.len() > 20_000 {
        c.clear();
    }
    c.insert(expr.to_string(), compiled.clone());
    Ok(compiled)
}

/// The data variables are evaluated against: a base (the admission request, shared by every
/// rule evaluated on a resource, converted for JMESPath once, on first use) plus top-level
/// entries set on top of it (`element`, `elementIndex`, context variables), so that a
/// `foreach` element costs the conversion of the element, not of the whole request.
#[derive(Clone)]
pub struct Context {
    data: Arc<Json>,
    base: Arc<OnceLock<Rcvar>>,
    top: Arc<Vec<(String, Json)>>,
    var: Arc<OnceLock<Rcvar>>,
    /// Values derived from the request once per resource and shared by every copy (the
    /// converted variables of CEL policies), by name.
    memo: Arc<Memo>,
}

type Memo = std::sync::Mutex<Vec<(String, Arc<dyn std::any::Any + Send + Sync>)>>;

impl Context {
    pub fn new(data: Json) -> Self {
        Context {
            data: Arc::new(data),
            base: Arc::new(OnceLock::new()),
            top: Arc::new(Vec::new()),
            var: Arc::new(OnceLock::new()),
            memo: Arc::new(Memo::default()),
        }
    }

    /// The value named `key`, made by `make` the first time it is asked for on this request
    /// (the request is the same for every copy of a context: it is set once per resource).
    pub fn memo<T: std::any::Any + Send + Sync>(
        &self,
        key: &str,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let found = self
            .memo
            .lock()
            .ok()
            .and_then(|m| m.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .and_then(|v| v.downcast::<T>().ok());
        if let Some(v) = found {
            return v;
        }
        let v = Arc::new(make());
        if let Ok(mut m) = self.memo.lock() {
            m.push((key.to_string(), v.clone()));
        }
        v
    }

    fn var(&self) -> Rcvar {
        let base = self.base.get_or_init(|| to_var(&self.data));
        if self.top.is_empty() {
            return base.clone();
        }
        self.var
            .get_or_init(|| {
                let mut map = match &**base {
                    Variable::Object(m) => m.clone(),
                    _ => Default::default(),
                };
                for (k, v) in self.top.iter() {
                    map.insert(k.clone(), to_var(v));
                }
                Rcvar::new(Variable::Object(map))
            })
            .clone()
    }

    /// A copy with `key` set at the top level.
    pub fn with(&self, key: &str, value: Json) -> Context {
        let mut c = self.clone();
        c.set_path(key, value);
        c
    }

    /// Sets a dotted key (`request.operation`) in the data.
    pub fn set_path(&mut self, dotted: &str, value: Json) {
        self.var = Arc::new(OnceLock::new());
        if !dotted.contains('.') {
            let top = Arc::make_mut(&mut self.top);
            top.retain(|(k, _)| k != dotted);
            top.push((dotted.to_string(), value));
            return;
        }
        // A nested key: fold the top-level entries into the base and change it there.
        let data = Arc::make_mut(&mut self.data);
        if !data.is_object() {
            *data = Json::Object(Default::default());
        }
        if let Json::Object(m) = data {
            for (k, v) in self.top.iter() {
                m.insert(k.clone(), v.clone());
            }
        }
        self.top = Arc::new(Vec::new());
        self.base = Arc::new(OnceLock::new());
        let mut node = data;
        let parts: Vec<&str> = dotted.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            if !node.is_object() {
                *node = Json::Object(Default::default());
            }
            let m = node.as_object_mut().unwrap();
            if i == parts.len() - 1 {
                m.insert(p.to_string(), value);
                break;
            }
            node = m
                .entry(p.to_string())
                .or_insert(Json::Object(Default::default()));
        }
    }

    /// Evaluates a JMESPath expression.
    pub fn query(&self, expr: &str) -> Result<Json, VarError> {
        let expr = expr.trim();
        let compiled = compile(expr)?;
        // Not `Expression::search`: on stable Rust it converts its input by serializing it,
        // which would copy the whole admission request on every query.
        let mut jctx = jmespath::Context::new(compiled.as_str(), runtime());
        let out = jmespath::interpret(&self.var(), compiled.as_ast(), &mut jctx)
            .map_err(|e| VarError(format!("`{expr}`: {}", e.reason)))?;
        Ok(from_var(&out))
    }
}

/// Where the innermost `{{ … }}` of `s` is: (start of `{{`, end after `}}`).
fn innermost(s: &str) -> Option<(usize, usize)> {
    let close = s.find("}}")?;
    let open = s[..close].rfind("{{")?;
    Some((open, close + 2))
}

/// Substitutes the variables of a string. A string that is exactly one `{{ }}` yields the
/// value itself.
pub fn substitute_str(s: &str, ctx: &Context) -> Result<Json, VarError> {
    if !s.contains("{{") {
        return Ok(Json::String(s.to_string()));
    }
    let mut text = s.to_string();
    let mut guard = 0;
    while let Some((a, b)) = innermost(&text) {
        guard += 1;
        if guard > 256 {
            return Err(VarError("too many nested variables".into()));
        }
        let expr = &text[a + 2..b - 2];
        let value = ctx.query(expr)?;
        if a == 0 && b == text.len() {
            return Ok(value);
        }
        let rendered = render(&value);
        text.replace_range(a..b, &rendered);
    }
    Ok(Json::String(text))
}

/// A value written into a string.
pub fn render(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "null".into(),
        Json::Number(n) => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 1e15
            {
                format!("{}", f as i64)
            } else {
                n.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// Whether a JSON value has `{{ }}` anywhere (strings or keys).
pub fn has_vars(v: &Json) -> bool {
    match v {
        Json::String(s) => s.contains("{{"),
        Json::Array(a) => a.iter().any(has_vars),
        Json::Object(m) => m.iter().any(|(k, v)| k.contains("{{") || has_vars(v)),
        _ => false,
    }
}

/// Substitutes variables only where there are some (borrowing the value otherwise).
pub fn substitute_cow<'a>(
    v: &'a Json,
    ctx: &Context,
) -> Result<std::borrow::Cow<'a, Json>, VarError> {
    if has_vars(v) {
        substitute(v, ctx).map(std::borrow::Cow::Owned)
    } else {
        Ok(std::borrow::Cow::Borrowed(v))
    }
}

/// Substitutes every string (and key) of a JSON value.
pub fn substitute(v: &Json, ctx: &Context) -> Result<Json, VarError> {
    Ok(match v {
        Json::String(s) => substitute_str(s, ctx)?,
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|i| substitute(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, val) in m {
                let key = match substitute_str(k, ctx)? {
                    Json::String(s) => s,
                    other => render(&other),
                };
                out.insert(key, substitute(val, ctx)?);
            }
            Json::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn substitution() {
        let ctx = Context::new(
            json!({"request": {"object": {"metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "x"}}, "spec": {"minAvailable": 2}}, "operation": "CREATE"}}),
        );
        assert_eq!(
            substitute_str("{{ request.object.metadata.name }}", &ctx).unwrap(),
            json!("web")
        );
        assert_eq!(
            substitute_str("name={{request.object.metadata.name}}!", &ctx).unwrap(),
            json!("name=web!")
        );
        assert_eq!(
            substitute_str("{{ request.object.spec }}", &ctx).unwrap(),
            json!({"minAvailable": 2})
        );
        assert_eq!(
            substitute_str(
                "{{ request.object.metadata.labels.\"app.kubernetes.io/name\" }}",
                &ctx
            )
            .unwrap(),
            json!("x")
        );
        assert_eq!(
            substitute_str(
                "{{ regex_match('^[0-9]+$', '{{ request.object.spec.minAvailable || ''}}') }}",
                &ctx
            )
            .unwrap(),
            json!(true)
        );
        assert_eq!(
            substitute_str("{{ request.operation || 'BACKGROUND' }}", &ctx).unwrap(),
            json!("CREATE")
        );
        assert!(substitute_str("{{ nope( }}", &ctx).is_err());
    }
}
