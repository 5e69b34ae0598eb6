//! CEL layer: the Common Expression Language as Kubernetes and Kyverno evaluate it, on the
//! `cel` crate. One environment (standard library, optional types, the strings, lists and
//! encoders extensions, the Kubernetes libraries in [`k8s`] and Kyverno's in [`kyverno`]);
//! expressions compiled once and cached; variables converted from JSON once per resource and
//! lent to every evaluation; a cost estimate checked before each evaluation, so a runaway
//! expression is refused with a clear error as the API server's cost budget would.
//! Knows CEL and Kubernetes values, not policies or LSP.

pub mod cost;
pub mod k8s;
pub mod kyverno;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::common::ast::{Expr, IdedExpr};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::objects::{Key, Map};
pub use cel::{ExecutionError, Value};
use serde_json::Value as Json;

/// The cost budget of one evaluation: Kubernetes' per-expression runtime limit for admission
/// policies and CRD validation rules.
pub const COST_LIMIT: f64 = 1_000_000.0;

/// Wraps a function over [`Value`]s (receiver first, for member functions) as an overload of
/// the `cel` environment, which calls plain function pointers over its own value types.
#[macro_export]
macro_rules! cel_value_fn {
    ($name:ident => $body:expr) => {
        fn $name<'b, 'v>(
            args: Vec<::cel::common::value::CowVal<'b, 'v>>,
        ) -> Result<::cel::common::value::CowVal<'b, 'v>, ::cel::ExecutionError> {
            let vals = args
                .iter()
                .map(|a| ::cel::Value::try_from(a.as_ref()))
                .collect::<Result<Vec<::cel::Value>, ::cel::ExecutionError>>()?;
            let f: fn(&[::cel::Value]) -> Result<::cel::Value, ::cel::ExecutionError> = $body;
            let out = f(&vals)?;
            let boxed: Box<dyn ::cel::common::value::Val> = out.try_into()?;
            Ok(::cel::common::value::CowVal::from(boxed))
        }
    };
}

/// A function error with the function's name, as the `cel` crate words it.
pub fn fn_error(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// A library registered on the environment.
type Library = fn(&mut cel::Env) -> Result<(), cel::DeclarationError>;

/// Compilation results by source text.
type CompileCache = Mutex<HashMap<String, Result<Arc<Compiled>, CelError>>>;

/// The shared environment.
pub fn env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        // The extensions and libraries are registered once, on a fresh environment: a failure
        // is a programming error (a name declared twice), caught by the tests below.
        let steps: [(&str, Library); 5] = [
            ("strings", cel::extensions::strings),
            ("lists", cel::extensions::lists),
            ("encoders", cel::extensions::encoders),
            ("kubernetes", k8s::register),
            ("kyverno", kyverno::register),
        ];
        for (name, step) in steps {
            if let Err(e) = step(&mut env) {
                eprintln!("usher: the CEL {name} library could not be registered: {e}");
            }
        }
        Arc::new(env)
    })
}

/// Why an expression could not give a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CelError {
    /// The expression does not parse.
    Compile(String),
    /// Evaluation failed (no such key, no such overload, a function's error, …).
    Eval(String),
    /// The estimated cost exceeds [`COST_LIMIT`].
    Cost(String),
    /// The expression needs data only a cluster or a registry has.
    Unsupported(String),
}

impl std::fmt::Display for CelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CelError::Compile(m) => write!(f, "compilation failed: {m}"),
            CelError::Eval(m) | CelError::Cost(m) | CelError::Unsupported(m) => f.write_str(m),
        }
    }
}

/// A compiled expression.
#[derive(Debug)]
pub struct Compiled {
    pub source: String,
    /// The program's expression, with `orValue` calls routed to usher's overload (the crate
    /// dispatches `orValue` on any receiver to its optional-only overload, which fails on plain
    /// values; Kyverno's evaluation gives the plain value back).
    expr: IdedExpr,
}

impl Compiled {
    pub fn expression(&self) -> &IdedExpr {
        &self.expr
    }
}

/// The name `orValue` calls are routed to (see [`Compiled`]).
pub const OR_VALUE: &str = "usherOrValue";

fn reroute(e: &mut IdedExpr) {
    match &mut e.expr {
        Expr::Call(c) => {
            if c.func_name == "orValue" && c.target.is_some() && c.args.len() == 1 {
                c.func_name = OR_VALUE.to_string();
            }
            if let Some(t) = c.target.as_deref_mut() {
                reroute(t);
            }
            c.args.iter_mut().for_each(reroute);
        }
        Expr::Comprehension(comp) => {
            for x in [
                &mut comp.iter_range,
                &mut comp.accu_init,
                &mut comp.loop_cond,
                &mut comp.loop_step,
                &mut comp.result,
            ] {
                reroute(x);
            }
        }
        Expr::List(l) => l.elements.iter_mut().for_each(reroute),
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &mut entry.expr {
                    reroute(&mut me.key);
                    reroute(&mut me.value);
                }
            }
        }
        Expr::Select(s) => reroute(&mut s.operand),
        Expr::Struct(st) => {
            for entry in &mut st.entries {
                if let cel::common::ast::EntryExpr::StructField(f) = &mut entry.expr {
                    reroute(&mut f.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Compiles an expression, or returns it from the cache (expressions are compiled once).
pub fn compile(source: &str) -> Result<Arc<Compiled>, CelError> {
    static CACHE: OnceLock<CompileCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(source) {
        return hit.clone();
    }
    let result = env()
        .compile(source)
        .map(|program| {
            let mut expr = program.expression().clone();
            reroute(&mut expr);
            Arc::new(Compiled {
                source: source.to_string(),
                expr,
            })
        })
        .map_err(|e| CelError::Compile(one_line(&e.to_string())));
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    // Bounded: edited policies compile new expressions; old ones are dropped wholesale.
    if map.len() >= 8192 {
        map.clear();
    }
    map.insert(source.to_string(), result.clone());
    result
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A variable's JSON, with its largest length once worked out.
#[derive(Debug)]
struct Bound {
    json: Json,
    largest: std::sync::OnceLock<f64>,
}

/// The variables of an evaluation: converted once, lent to every expression evaluated with them.
/// Values are shared: a clone costs a few reference counts, and policies evaluated on the same
/// resource start from one converted set ([`Vars::layered`]) with their own few on top.
#[derive(Default, Clone)]
pub struct Vars {
    /// The shared set under this one (looked up when a name is not bound here).
    under: Option<Arc<Vars>>,
    /// `None`: removed here (hides the name of the shared set).
    vals: HashMap<String, Option<Arc<dyn Val>>>,
    /// The JSON of each variable given as JSON, for the cost estimate's sizes.
    json: HashMap<String, Option<Arc<Bound>>>,
}

/// A map of CEL values built one entry at a time, with its JSON (a policy's `variables`):
/// binding it converts nothing.
#[derive(Default)]
pub struct VarMap {
    values: HashMap<Key, Value>,
    json: serde_json::Map<String, Json>,
}

impl VarMap {
    pub fn insert(&mut self, name: &str, value: Value) {
        self.json.insert(name.to_string(), to_json(&value));
        self.values
            .insert(Key::String(Arc::new(name.to_string())), value);
    }
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vars")
            .field("names", &self.vals.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set on top of `under`: what is bound here hides the name there.
    pub fn layered(under: Arc<Vars>) -> Self {
        Vars {
            under: Some(under),
            ..Self::default()
        }
    }

    fn val(&self, name: &str) -> Option<&Arc<dyn Val>> {
        match self.vals.get(name) {
            Some(v) => v.as_ref(),
            None => self.under.as_deref()?.val(name),
        }
    }

    fn bound(&self, name: &str) -> Option<&Arc<Bound>> {
        match self.json.get(name) {
            Some(b) => b.as_ref(),
            None => self.under.as_deref()?.bound(name),
        }
    }

    /// Binds `name` to a JSON value.
    pub fn set_json(&mut self, name: &str, value: &Json) {
        self.bind(name, to_value(value), value.clone());
    }

    /// Binds `name` to a CEL value.
    pub fn set_value(&mut self, name: &str, value: Value) {
        let json = to_json(&value);
        self.bind(name, value, json);
    }

    /// Binds `name` to the map of `vars` (a policy's `variables`, built one at a time).
    pub fn set_map(&mut self, name: &str, vars: &VarMap) {
        let value = Value::Map(Map {
            map: Arc::new(vars.values.clone()),
        });
        self.bind(name, value, Json::Object(vars.json.clone()));
    }

    /// The largest list, map or string length in any variable (the cost estimate's size of
    /// data it cannot name); worked out once per variable, shared by clones.
    pub fn largest(&self) -> f64 {
        let here = self
            .json
            .values()
            .flatten()
            .map(|b| *b.largest.get_or_init(|| cost::largest(&b.json)))
            .fold(1.0, f64::max);
        match &self.under {
            // Names bound here hide those below: only the visible ones count.
            Some(u) if self.json.keys().any(|k| u.bound(k).is_some()) => u
                .names()
                .filter(|k| !self.json.contains_key(*k))
                .filter_map(|k| u.bound(k))
                .map(|b| *b.largest.get_or_init(|| cost::largest(&b.json)))
                .fold(here, f64::max),
            Some(u) => here.max(u.largest()),
            None => here,
        }
    }

    /// Every name bound at any level (removed ones included).
    fn names(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        let here = self.json.keys();
        match &self.under {
            Some(u) => Box::new(here.chain(u.names())),
            None => Box::new(here),
        }
    }

    fn bind(&mut self, name: &str, value: Value, json: Json) {
        match Box::<dyn Val>::try_from(value) {
            Ok(v) => {
                self.vals.insert(name.to_string(), Some(Arc::from(v)));
                self.json.insert(
                    name.to_string(),
                    Some(Arc::new(Bound {
                        json,
                        largest: std::sync::OnceLock::new(),
                    })),
                );
            }
            Err(_) => self.remove(name),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.val(name).is_some()
    }

    /// The JSON a variable was given as, when it was.
    pub fn json(&self, name: &str) -> Option<&Json> {
        self.bound(name).map(|b| &b.json)
    }

    pub fn remove(&mut self, name: &str) {
        if self.under.as_deref().is_some_and(|u| u.has(name)) {
            self.vals.insert(name.to_string(), None);
            self.json.insert(name.to_string(), None);
        } else {
            self.vals.remove(name);
            self.json.remove(name);
        }
    }
}

impl VariableResolver for Vars {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        self.val(variable)
            .map(|v| CowVal::from(v.as_ref() as &dyn Val))
    }
}

/// Expressions evaluated since the process started (for benchmarks and status output).
static EVALUATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many expressions [`eval`] has evaluated (or refused on cost) in this process.
pub fn evaluations() -> u64 {
    EVALUATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Evaluates a compiled expression with the variables, after checking its estimated cost.
pub fn eval(compiled: &Compiled, vars: &Vars) -> Result<Value, CelError> {
    EVALUATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let estimate = cost::estimate(compiled.expression(), vars);
    if estimate > COST_LIMIT {
        return Err(CelError::Cost(format!(
            "operation cancelled: the estimated cost of this expression ({}) exceeds the \
             budget of {} (as the API server would stop it)",
            estimate.round() as u64,
            COST_LIMIT as u64
        )));
    }
    let mut ctx = cel::Context::with_env(env().clone());
    ctx.set_variable_resolver(vars);
    Value::resolve(&compiled.expr, &ctx).map_err(|e| match e {
        ExecutionError::FunctionError { function, message }
            if message.starts_with(kyverno::UNSUPPORTED) =>
        {
            CelError::Unsupported(format!(
                "{function}: {}",
                message.trim_start_matches(kyverno::UNSUPPORTED).trim()
            ))
        }
        other => CelError::Eval(describe(&other)),
    })
}

/// Compiles and evaluates in one step.
pub fn eval_str(source: &str, vars: &Vars) -> Result<Value, CelError> {
    eval(&*compile(source)?, vars)
}

/// An evaluation error worded for a person.
fn describe(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::UndeclaredReference(r) => format!("undeclared reference to '{r}'"),
        ExecutionError::FunctionError { function, message } => format!("{function}: {message}"),
        other => one_line(&other.to_string()).replace(OR_VALUE, "orValue"),
    }
}

/// JSON → CEL: integers stay `int` (as Kubernetes' int64 fields), other numbers `double`.
pub fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(to_value).collect())),
        Json::Object(m) => Value::Map(Map {
            map: Arc::new(
                m.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_value(v)))
                    .collect(),
            ),
        }),
    }
}

/// CEL → JSON (for messages, variables shown to people and values handed back to policies).
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.to_string()),
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => {
            let mut entries: Vec<(String, Json)> = m
                .map
                .iter()
                .map(|(k, v)| (key_string(k), to_json(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().collect())
        }
        Value::Duration(d) => Json::String(format!("{}s", d.num_milliseconds() as f64 / 1000.0)),
        Value::Timestamp(t) => Json::String(t.to_rfc3339()),
        Value::Opaque(o) => match o.downcast_ref::<cel::objects::OptionalValue>() {
            Some(opt) => opt.value().map(to_json).unwrap_or(Json::Null),
            None => Json::String(o.runtime_type_name().to_string()),
        },
        other => Json::String(format!("{other:?}")),
    }
}

fn key_string(k: &Key) -> String {
    match k {
        Key::String(s) => s.to_string(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}

/// A value as text, as CEL's `string()` would give it (for messages).
pub fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => match to_json(other) {
            Json::String(s) => s,
            j => j.to_string(),
        },
    }
}

/// The path (below the variable `root`) that an expression reads first, in evaluation order:
/// where a finding is best placed. A comprehension's variable stands for the list it ranges
/// over (`object.spec.containers.all(c, c.image…)` reads `spec.containers` first).
pub fn first_read(compiled: &Compiled, root: &str) -> Option<Vec<String>> {
    let mut scopes: Vec<(String, Vec<String>)> = Vec::new();
    first_read_in(compiled.expression(), root, &mut scopes)
}

fn chain(e: &IdedExpr) -> Option<(String, Vec<String>)> {
    match &e.expr {
        Expr::Ident(name) => Some((name.clone(), Vec::new())),
        Expr::Select(s) => {
            let (root, mut path) = chain(&s.operand)?;
            path.push(s.field.clone());
            Some((root, path))
        }
        // `a.?b` is a call of `_?._`, `a[k]` of `_[_]` with a literal key.
        Expr::Call(c)
            if c.func_name == "_?._" || c.func_name == "_[?_]" || c.func_name == "_[_]" =>
        {
            let (root, mut path) = chain(c.args.first()?)?;
            match &c.args.get(1)?.expr {
                Expr::Literal(cel::common::ast::LiteralValue::String(s)) => {
                    path.push(s.to_string())
                }
                Expr::Literal(cel::common::ast::LiteralValue::Int(i)) => path.push(i.to_string()),
                _ => return Some((root, path)),
            }
            Some((root, path))
        }
        _ => None,
    }
}

fn resolve_root(
    name: &str,
    path: Vec<String>,
    root: &str,
    scopes: &[(String, Vec<String>)],
) -> Option<Vec<String>> {
    if let Some((_, base)) = scopes.iter().rev().find(|(v, _)| v == name) {
        let mut full = base.clone();
        full.extend(path);
        return Some(full);
    }
    (name == root).then_some(path)
}

fn first_read_in(
    e: &IdedExpr,
    root: &str,
    scopes: &mut Vec<(String, Vec<String>)>,
) -> Option<Vec<String>> {
    if let Some((name, path)) = chain(e) {
        return resolve_root(&name, path, root, scopes);
    }
    match &e.expr {
        Expr::Call(c) => {
            if matches!(c.func_name.as_str(), "_?._" | "_[?_]" | "_[_]")
                && let Some(p) = c.args.first().and_then(|a| first_read_in(a, root, scopes))
            {
                return Some(p);
            }
            if let Some(t) = &c.target
                && let Some(p) = first_read_in(t, root, scopes)
            {
                return Some(p);
            }
            c.args.iter().find_map(|a| first_read_in(a, root, scopes))
        }
        Expr::Comprehension(comp) => {
            let range = first_read_in(&comp.iter_range, root, scopes);
            if let Some(r) = &range {
                // The loop variable stands for the list (an item's own fields lie below it).
                scopes.push((comp.iter_var.clone(), r.clone()));
                if let Some(v2) = &comp.iter_var2 {
                    scopes.push((v2.clone(), r.clone()));
                }
            }
            let inner = first_read_in(&comp.loop_step, root, scopes)
                .or_else(|| first_read_in(&comp.loop_cond, root, scopes));
            if range.is_some() {
                scopes.pop();
                if comp.iter_var2.is_some() {
                    scopes.pop();
                }
            }
            // Deeper is more specific when it lies below the range; else the range itself.
            match (range, inner) {
                (Some(r), Some(i)) if i.starts_with(&r) => Some(i),
                (Some(r), _) => Some(r),
                (None, i) => i.or_else(|| first_read_in(&comp.result, root, scopes)),
            }
        }
        Expr::List(l) => l
            .elements
            .iter()
            .find_map(|x| first_read_in(x, root, scopes)),
        Expr::Map(m) => m.entries.iter().find_map(|entry| match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(me) => first_read_in(&me.key, root, scopes)
                .or_else(|| first_read_in(&me.value, root, scopes)),
            _ => None,
        }),
        _ => None,
    }
}

/// A JSON pointer (`/spec/containers/0`) from path segments.
pub fn pointer(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layered_variables_hide_and_remove_what_is_below() {
        let mut base = Vars::new();
        base.set_json("object", &json!({"items": [1, 2, 3, 4, 5]}));
        base.set_json("params", &json!({"max": 2}));
        let base = Arc::new(base);
        let mut top = Vars::layered(base.clone());
        top.set_json("params", &json!({"max": 9}));
        let int = |e: &str, v: &Vars| eval_str(e, v).map(|x| to_json(&x));
        assert_eq!(int("size(object.items)", &top).unwrap(), json!(5));
        assert_eq!(int("params.max", &top).unwrap(), json!(9));
        assert_eq!(
            int("params.max", &base).unwrap(),
            json!(2),
            "the shared set is unchanged"
        );
        assert_eq!(top.json("object"), base.json("object"));
        // The cost estimate's largest size sees the visible values only.
        assert_eq!(top.largest(), 5.0);
        top.remove("object");
        assert!(!top.has("object") && base.has("object"));
        assert!(int("object", &top).is_err());
        assert_eq!(top.largest(), 1.0);
        top.remove("params");
        assert!(!top.has("params"));
    }

    fn vars(object: Json) -> Vars {
        let mut v = Vars::new();
        v.set_json("object", &object);
        v
    }

    #[test]
    fn evaluates_with_json_variables_and_optionals() {
        let v = vars(json!({"spec": {"containers": [{"name": "a", "image": "nginx:1"}], "n": 3}}));
        let t = |e: &str| eval_str(e, &v).unwrap();
        assert_eq!(
            t("object.spec.containers.all(c, c.image.contains(':'))"),
            Value::Bool(true)
        );
        assert_eq!(
            t("object.spec.?hostNetwork.orValue(false)"),
            Value::Bool(false)
        );
        assert_eq!(t("object.spec.n + 1"), Value::Int(4));
        assert_eq!(t("has(object.spec.hostPID)"), Value::Bool(false));
        assert!(matches!(
            eval_str("object.spec.missing", &v),
            Err(CelError::Eval(m)) if m.contains("missing")
        ));
        assert!(matches!(
            eval_str("object.(", &v),
            Err(CelError::Compile(_))
        ));
    }

    #[test]
    fn compiled_once() {
        let a = compile("1 + 1 == 2").unwrap();
        let b = compile("1 + 1 == 2").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn json_round_trip() {
        let j = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
        assert_eq!(to_json(&to_value(&j)), j);
    }

    #[test]
    fn runaway_expression_is_refused() {
        let v = vars(json!({"spec": {}}));
        let e = "lists.range(1000).all(a, lists.range(1000).all(b, lists.range(1000).all(c, a + b + c >= 0)))";
        assert!(
            matches!(eval_str(e, &v), Err(CelError::Cost(_))),
            "{:?}",
            eval_str(e, &v)
        );
        // The same shape over small lists is fine.
        let e = "lists.range(10).all(a, lists.range(10).all(b, a + b >= 0))";
        assert_eq!(eval_str(e, &v), Ok(Value::Bool(true)));
    }

    #[test]
    fn first_read_follows_comprehension_variables() {
        let c = compile("object.spec.containers.all(c, c.image.endsWith(':latest'))").unwrap();
        assert_eq!(
            first_read(&c, "object"),
            Some(vec!["spec".into(), "containers".into(), "image".into()])
        );
        let c = compile("has(object.metadata.labels) && 'app' in object.metadata.labels").unwrap();
        assert_eq!(
            first_read(&c, "object"),
            Some(vec!["metadata".into(), "labels".into()])
        );
        let c = compile("object.spec.?hostNetwork.orValue(false) == false").unwrap();
        assert_eq!(
            first_read(&c, "object"),
            Some(vec!["spec".into(), "hostNetwork".into()])
        );
        let c = compile("self.replicas <= self.maxReplicas").unwrap();
        assert_eq!(first_read(&c, "self"), Some(vec!["replicas".into()]));
    }
}
