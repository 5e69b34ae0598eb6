//! A cost estimate of an expression, taken before it runs, with the sizes of the data it will
//! see: a comprehension costs its body once per element of the list it ranges over (the list's
//! real length when the expression names it, else the largest list or string in the variables),
//! string functions cost with the length of their strings. Like the API server's runtime cost,
//! it grows with nested comprehensions over big data, so a runaway expression is refused before
//! it starts (CEL always terminates, but `range(1000)` nested three deep is a billion steps).

use std::cell::OnceCell;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use serde_json::Value as Json;

use super::Vars;

struct Est {
    cost: f64,
    /// Length of the value (list items, map entries, string characters) when it matters.
    size: f64,
}

struct Estimator<'a> {
    vars: &'a Vars,
    /// Loop variables in scope (their items' sizes are not known before running).
    loop_vars: Vec<String>,
    largest: OnceCell<f64>,
}

/// The estimated cost of evaluating `e` with `vars`.
pub fn estimate(e: &IdedExpr, vars: &Vars) -> f64 {
    let mut est = Estimator {
        vars,
        loop_vars: Vec::new(),
        largest: OnceCell::new(),
    };
    est.walk(e).cost
}

fn json_size(j: &Json) -> f64 {
    match j {
        Json::Array(a) => a.len() as f64,
        Json::Object(m) => m.len() as f64,
        Json::String(s) => s.chars().count() as f64,
        _ => 1.0,
    }
}

/// The largest list, map or string length in `j`.
pub fn largest(j: &Json) -> f64 {
    let mut max = 1.0;
    largest_in(j, &mut max);
    max
}

fn largest_in(j: &Json, max: &mut f64) {
    *max = max.max(json_size(j));
    match j {
        Json::Array(a) => a.iter().for_each(|x| largest_in(x, max)),
        Json::Object(m) => m.values().for_each(|x| largest_in(x, max)),
        _ => {}
    }
}

/// Functions whose work grows with the length of their strings or lists.
const LINEAR: &[&str] = &[
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "split",
    "replace",
    "find",
    "findAll",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "format",
    "indexOf",
    "lastIndexOf",
    "substring",
    "charAt",
    "quote",
    "reverse",
    "sum",
    "min",
    "max",
    "isSorted",
    "distinct",
    "flatten",
    "slice",
    "@in",
    "_==_",
    "_!=_",
    "string",
    "url",
    "quantity",
    "semver",
    "ip",
    "cidr",
];

impl<'a> Estimator<'a> {
    fn unknown(&self) -> f64 {
        *self.largest.get_or_init(|| self.vars.largest())
    }

    /// For a select chain (`a.b[0].?c`): the data it names when that is known, and how many
    /// steps it takes. None when `e` is not a chain. Walks the expression and the data
    /// together, without allocating (it runs for every chain of every evaluation).
    fn chain_info(&self, e: &IdedExpr) -> Option<(Option<&'a Json>, usize)> {
        let step = |j: Option<&'a Json>, key: &str| {
            j.and_then(|j| match j {
                Json::Object(m) => m.get(key),
                Json::Array(a) => a.get(key.parse::<usize>().ok()?),
                _ => None,
            })
        };
        match &e.expr {
            Expr::Ident(name) => {
                if self.loop_vars.iter().any(|v| v == name) {
                    Some((None, 0))
                } else {
                    Some((self.vars.json(name), 0))
                }
            }
            Expr::Select(s) => {
                let (j, d) = self.chain_info(&s.operand)?;
                Some((step(j, &s.field), d + 1))
            }
            // `a.?b` is a call of `_?._`, `a[k]` of `_[_]` with a literal key.
            Expr::Call(c)
                if c.func_name == "_?._" || c.func_name == "_[?_]" || c.func_name == "_[_]" =>
            {
                let (j, d) = self.chain_info(c.args.first()?)?;
                match &c.args.get(1)?.expr {
                    Expr::Literal(LiteralValue::String(s)) => Some((step(j, s), d + 1)),
                    Expr::Literal(LiteralValue::Int(i)) => {
                        Some((step(j, &i.inner().to_string()), d + 1))
                    }
                    _ => Some((j, d)),
                }
            }
            _ => None,
        }
    }

    fn walk(&mut self, e: &IdedExpr) -> Est {
        match &e.expr {
            Expr::Ident(_) | Expr::Select(_) => {
                let (json, steps) = self.chain_info(e).unwrap_or((None, 0));
                let size = json.map(json_size).unwrap_or_else(|| self.unknown());
                Est {
                    cost: 1.0 + steps as f64,
                    size,
                }
            }
            Expr::Literal(LiteralValue::String(s)) => Est {
                cost: 0.0,
                size: s.chars().count() as f64,
            },
            Expr::Literal(_) | Expr::Unspecified => Est {
                cost: 0.0,
                size: 1.0,
            },
            Expr::List(l) => {
                let mut cost = 1.0;
                for x in &l.elements {
                    cost += self.walk(x).cost;
                }
                Est {
                    cost,
                    size: l.elements.len() as f64,
                }
            }
            Expr::Map(m) => {
                let mut cost = 1.0;
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        cost += self.walk(&me.key).cost + self.walk(&me.value).cost;
                    }
                }
                Est {
                    cost,
                    size: m.entries.len() as f64,
                }
            }
            Expr::Struct(s) => {
                let mut cost = 1.0;
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        cost += self.walk(&f.value).cost;
                    }
                }
                Est {
                    cost,
                    size: s.entries.len() as f64,
                }
            }
            Expr::Call(c) => {
                if let Some((Some(json), steps)) = self.chain_info(e) {
                    return Est {
                        cost: 1.0 + steps as f64,
                        size: json_size(json),
                    };
                }
                let mut cost = 1.0;
                let mut sizes = Vec::new();
                if let Some(t) = &c.target {
                    let x = self.walk(t);
                    cost += x.cost;
                    sizes.push(x.size);
                }
                for a in &c.args {
                    let x = self.walk(a);
                    cost += x.cost;
                    sizes.push(x.size);
                }
                let largest = sizes.iter().copied().fold(1.0, f64::max);
                // `lists.range(…)`: a function of a namespace, not a method of a variable.
                let qualified = match c.target.as_deref().map(|t| &t.expr) {
                    Some(Expr::Ident(ns)) if !self.vars.has(ns) && !self.loop_vars.contains(ns) => {
                        format!("{ns}.{}", c.func_name)
                    }
                    _ => c.func_name.clone(),
                };
                let name = qualified.as_str();
                if LINEAR.contains(&name) {
                    cost += 0.1 * sizes.iter().sum::<f64>();
                }
                let size = match name {
                    "_+_" => sizes.iter().sum(),
                    "lists.range" => match c.args.first().map(|a| &a.expr) {
                        Some(Expr::Literal(LiteralValue::Int(n))) => (*n.inner()).max(0) as f64,
                        _ => largest,
                    },
                    "sort" | "sortBy" => {
                        cost += largest * largest.max(2.0).log2();
                        largest
                    }
                    _ => largest,
                };
                Est { cost, size }
            }
            Expr::Comprehension(comp) => {
                let range = self.walk(&comp.iter_range);
                let init = self.walk(&comp.accu_init);
                self.loop_vars.push(comp.iter_var.clone());
                if let Some(v2) = &comp.iter_var2 {
                    self.loop_vars.push(v2.clone());
                }
                self.loop_vars.push(comp.accu_var.clone());
                let body = self.walk(&comp.loop_cond).cost + self.walk(&comp.loop_step).cost;
                let result = self.walk(&comp.result);
                self.loop_vars
                    .truncate(self.loop_vars.len() - 2 - usize::from(comp.iter_var2.is_some()));
                Est {
                    cost: range.cost + init.cost + range.size * (1.0 + body) + result.cost,
                    size: range.size,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cost(src: &str, object: Json) -> f64 {
        let mut v = Vars::new();
        v.set_json("object", &object);
        estimate(super::super::compile(src).unwrap().expression(), &v)
    }

    #[test]
    fn grows_with_the_data_the_expression_ranges_over() {
        let small = json!({"items": (0..10).collect::<Vec<_>>()});
        let big = json!({"items": (0..1000).collect::<Vec<_>>()});
        let e = "object.items.all(a, object.items.all(b, a != b || a == b))";
        let (s, b) = (cost(e, small), cost(e, big));
        assert!(s < 5_000.0, "{s}");
        assert!(b > 1_000_000.0, "{b}");
        // One level over the big list stays cheap.
        assert!(
            cost(
                "object.items.all(a, a >= 0)",
                json!({"items": (0..1000).collect::<Vec<_>>()})
            ) < 20_000.0
        );
    }

    #[test]
    fn literal_ranges_count() {
        let c = cost("lists.range(100).map(x, x * 2).size() > 0", json!({}));
        assert!((100.0..2_000.0).contains(&c), "{c}");
    }
}
