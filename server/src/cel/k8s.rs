//! The Kubernetes CEL libraries (k8s.io/apiserver/pkg/cel/library and cel-go's `sets`), as the
//! API server's environment has them: regex (`find`, `findAll`), lists (`isSorted`, `sum`,
//! `min`, `max`, `indexOf`, `lastIndexOf`), sets, URLs, IPs and CIDRs, quantities and semantic
//! versions. Values of the library types are opaque values (`kubernetes.URL`, `net.IP`,
//! `net.CIDR`, `kubernetes.Quantity`, `kubernetes.Semver`); parsing follows the Go code the
//! API server runs (`net/url`, `net/netip`, `resource.ParseQuantity`, `blang/semver`), error
//! messages included where practical.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, OnceLock};

use cel::common::types::{BOOL_TYPE, DYN_TYPE, INT_TYPE, LIST_TYPE, STRING_TYPE, Type};
use cel::objects::{Key, Map, Opaque};
use cel::{ExecutionError, Value};

use crate::cel::fn_error;
use crate::cel_value_fn;

type Res = Result<Value, ExecutionError>;

const URL_TYPE: &str = "kubernetes.URL";
const IP_TYPE: &str = "net.IP";
const CIDR_TYPE: &str = "net.CIDR";
const QUANTITY_TYPE: &str = "kubernetes.Quantity";
const SEMVER_TYPE: &str = "kubernetes.Semver";

fn opaque_type(name: &'static str) -> Type {
    Type::new_opaque_type(name)
}

// ---------------------------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------------------------

fn no_overload(function: &str, v: &Value) -> ExecutionError {
    fn_error(
        function,
        format!("no such overload for argument of type {}", type_name(v)),
    )
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Opaque(o) => o.runtime_type_name().to_string(),
        other => other.type_of().to_string(),
    }
}

fn str_arg<'a>(function: &str, v: &'a Value) -> Result<&'a str, ExecutionError> {
    match v {
        Value::String(s) => Ok(s.as_str()),
        other => Err(no_overload(function, other)),
    }
}

fn int_arg(function: &str, v: &Value) -> Result<i64, ExecutionError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(no_overload(function, other)),
    }
}

fn bool_arg(function: &str, v: &Value) -> Result<bool, ExecutionError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(no_overload(function, other)),
    }
}

fn list_arg<'a>(function: &str, v: &'a Value) -> Result<&'a [Value], ExecutionError> {
    match v {
        Value::List(l) => Ok(l.as_slice()),
        other => Err(no_overload(function, other)),
    }
}

fn opaque_arg<'a, T: 'static>(function: &str, v: &'a Value) -> Result<&'a T, ExecutionError> {
    match v {
        Value::Opaque(o) => o
            .downcast_ref::<T>()
            .ok_or_else(|| no_overload(function, v)),
        other => Err(no_overload(function, other)),
    }
}

fn string(s: impl Into<String>) -> Value {
    Value::String(Arc::new(s.into()))
}

fn opaque<T: Opaque>(v: T) -> Value {
    Value::Opaque(Arc::new(v))
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

/// Registers the Kubernetes libraries on a fresh environment (after the standard library and
/// the crate's strings, lists and encoders extensions).
pub fn register(env: &mut cel::Env) -> Result<(), cel::DeclarationError> {
    let url = || opaque_type(URL_TYPE);
    let ip = || opaque_type(IP_TYPE);
    let cidr = || opaque_type(CIDR_TYPE);
    let qty = || opaque_type(QUANTITY_TYPE);
    let semver = || opaque_type(SEMVER_TYPE);

    // regex
    cel_value_fn!(find_fn => find);
    cel_value_fn!(find_all_fn => find_all);
    env.add_member_overload(
        "find",
        "k8s_string_find_string",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_fn,
    )?;
    env.add_member_overload(
        "findAll",
        "k8s_string_find_all_string",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all_fn,
    )?;
    env.add_member_overload(
        "findAll",
        "k8s_string_find_all_string_int",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all_fn,
    )?;

    // lists
    cel_value_fn!(is_sorted_fn => is_sorted);
    cel_value_fn!(sum_fn => sum);
    cel_value_fn!(min_fn => list_min);
    cel_value_fn!(max_fn => list_max);
    cel_value_fn!(index_of_fn => index_of);
    cel_value_fn!(last_index_of_fn => last_index_of);
    env.add_member_overload(
        "isSorted",
        "k8s_list_is_sorted",
        LIST_TYPE,
        vec![],
        is_sorted_fn,
    )?;
    env.add_member_overload("sum", "k8s_list_sum", LIST_TYPE, vec![], sum_fn)?;
    env.add_member_overload("min", "k8s_list_min", LIST_TYPE, vec![], min_fn)?;
    env.add_member_overload("max", "k8s_list_max", LIST_TYPE, vec![], max_fn)?;
    env.add_member_overload(
        "indexOf",
        "k8s_list_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of_fn,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "k8s_list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of_fn,
    )?;

    // sets
    cel_value_fn!(sets_contains_fn => sets_contains);
    cel_value_fn!(sets_equivalent_fn => sets_equivalent);
    cel_value_fn!(sets_intersects_fn => sets_intersects);
    env.add_overload(
        "sets.contains",
        "k8s_sets_contains",
        vec![LIST_TYPE, LIST_TYPE],
        sets_contains_fn,
    )?;
    env.add_overload(
        "sets.equivalent",
        "k8s_sets_equivalent",
        vec![LIST_TYPE, LIST_TYPE],
        sets_equivalent_fn,
    )?;
    env.add_overload(
        "sets.intersects",
        "k8s_sets_intersects",
        vec![LIST_TYPE, LIST_TYPE],
        sets_intersects_fn,
    )?;

    // URLs
    cel_value_fn!(url_fn => url_of);
    cel_value_fn!(is_url_fn => is_url);
    cel_value_fn!(get_scheme_fn => url_scheme);
    cel_value_fn!(get_host_fn => url_host);
    cel_value_fn!(get_hostname_fn => url_hostname);
    cel_value_fn!(get_port_fn => url_port);
    cel_value_fn!(get_escaped_path_fn => url_escaped_path);
    cel_value_fn!(get_query_fn => url_query);
    env.add_overload("url", "k8s_string_to_url", vec![STRING_TYPE], url_fn)?;
    env.add_overload("isURL", "k8s_is_url_string", vec![STRING_TYPE], is_url_fn)?;
    env.add_member_overload(
        "getScheme",
        "k8s_url_get_scheme",
        url(),
        vec![],
        get_scheme_fn,
    )?;
    env.add_member_overload("getHost", "k8s_url_get_host", url(), vec![], get_host_fn)?;
    env.add_member_overload(
        "getHostname",
        "k8s_url_get_hostname",
        url(),
        vec![],
        get_hostname_fn,
    )?;
    env.add_member_overload("getPort", "k8s_url_get_port", url(), vec![], get_port_fn)?;
    env.add_member_overload(
        "getEscapedPath",
        "k8s_url_get_escaped_path",
        url(),
        vec![],
        get_escaped_path_fn,
    )?;
    env.add_member_overload("getQuery", "k8s_url_get_query", url(), vec![], get_query_fn)?;

    // IPs
    cel_value_fn!(ip_fn => ip_of);
    cel_value_fn!(is_ip_fn => is_ip);
    cel_value_fn!(ip_is_canonical_fn => ip_is_canonical);
    cel_value_fn!(family_fn => ip_family);
    cel_value_fn!(is_unspecified_fn => ip_is_unspecified);
    cel_value_fn!(is_loopback_fn => ip_is_loopback);
    cel_value_fn!(is_ll_multicast_fn => ip_is_link_local_multicast);
    cel_value_fn!(is_ll_unicast_fn => ip_is_link_local_unicast);
    cel_value_fn!(is_global_unicast_fn => ip_is_global_unicast);
    cel_value_fn!(ip_to_string_fn => ip_to_string);
    env.add_overload("ip", "k8s_string_to_ip", vec![STRING_TYPE], ip_fn)?;
    env.add_overload("isIP", "k8s_is_ip", vec![STRING_TYPE], is_ip_fn)?;
    env.add_overload(
        "ip.isCanonical",
        "k8s_ip_is_canonical",
        vec![STRING_TYPE],
        ip_is_canonical_fn,
    )?;
    env.add_member_overload("family", "k8s_ip_family", ip(), vec![], family_fn)?;
    env.add_member_overload(
        "isUnspecified",
        "k8s_ip_is_unspecified",
        ip(),
        vec![],
        is_unspecified_fn,
    )?;
    env.add_member_overload(
        "isLoopback",
        "k8s_ip_is_loopback",
        ip(),
        vec![],
        is_loopback_fn,
    )?;
    env.add_member_overload(
        "isLinkLocalMulticast",
        "k8s_ip_is_link_local_multicast",
        ip(),
        vec![],
        is_ll_multicast_fn,
    )?;
    env.add_member_overload(
        "isLinkLocalUnicast",
        "k8s_ip_is_link_local_unicast",
        ip(),
        vec![],
        is_ll_unicast_fn,
    )?;
    env.add_member_overload(
        "isGlobalUnicast",
        "k8s_ip_is_global_unicast",
        ip(),
        vec![],
        is_global_unicast_fn,
    )?;
    env.add_overload("string", "k8s_ip_to_string", vec![ip()], ip_to_string_fn)?;

    // CIDRs
    cel_value_fn!(cidr_fn => cidr_of);
    cel_value_fn!(is_cidr_fn => is_cidr);
    cel_value_fn!(contains_ip_fn => cidr_contains_ip);
    cel_value_fn!(contains_cidr_fn => cidr_contains_cidr);
    cel_value_fn!(cidr_ip_fn => cidr_ip);
    cel_value_fn!(masked_fn => cidr_masked);
    cel_value_fn!(prefix_length_fn => cidr_prefix_length);
    cel_value_fn!(cidr_to_string_fn => cidr_to_string);
    env.add_overload("cidr", "k8s_string_to_cidr", vec![STRING_TYPE], cidr_fn)?;
    env.add_overload("isCIDR", "k8s_is_cidr", vec![STRING_TYPE], is_cidr_fn)?;
    env.add_member_overload(
        "containsIP",
        "k8s_cidr_contains_ip_string",
        cidr(),
        vec![STRING_TYPE],
        contains_ip_fn,
    )?;
    env.add_member_overload(
        "containsIP",
        "k8s_cidr_contains_ip_ip",
        cidr(),
        vec![ip()],
        contains_ip_fn,
    )?;
    env.add_member_overload(
        "containsCIDR",
        "k8s_cidr_contains_cidr_string",
        cidr(),
        vec![STRING_TYPE],
        contains_cidr_fn,
    )?;
    env.add_member_overload(
        "containsCIDR",
        "k8s_cidr_contains_cidr",
        cidr(),
        vec![cidr()],
        contains_cidr_fn,
    )?;
    env.add_member_overload("ip", "k8s_cidr_ip", cidr(), vec![], cidr_ip_fn)?;
    env.add_member_overload("masked", "k8s_cidr_masked", cidr(), vec![], masked_fn)?;
    env.add_member_overload(
        "prefixLength",
        "k8s_cidr_prefix_length",
        cidr(),
        vec![],
        prefix_length_fn,
    )?;
    env.add_overload(
        "string",
        "k8s_cidr_to_string",
        vec![cidr()],
        cidr_to_string_fn,
    )?;

    // quantities
    cel_value_fn!(quantity_fn => quantity_of);
    cel_value_fn!(is_quantity_fn => is_quantity);
    cel_value_fn!(q_sign_fn => q_sign);
    cel_value_fn!(q_is_integer_fn => q_is_integer);
    cel_value_fn!(q_as_integer_fn => q_as_integer);
    cel_value_fn!(q_as_float_fn => q_as_float);
    cel_value_fn!(q_add_fn => q_add);
    cel_value_fn!(q_sub_fn => q_sub);
    cel_value_fn!(q_compare_fn => q_compare_to);
    cel_value_fn!(q_less_fn => q_is_less_than);
    cel_value_fn!(q_greater_fn => q_is_greater_than);
    env.add_overload(
        "quantity",
        "k8s_string_to_quantity",
        vec![STRING_TYPE],
        quantity_fn,
    )?;
    env.add_overload(
        "isQuantity",
        "k8s_is_quantity_string",
        vec![STRING_TYPE],
        is_quantity_fn,
    )?;
    // Kubernetes declares `sign` as a global function; `q.sign()` is how it is documented.
    env.add_overload("sign", "k8s_quantity_sign", vec![qty()], q_sign_fn)?;
    env.add_member_overload("sign", "k8s_quantity_sign_member", qty(), vec![], q_sign_fn)?;
    env.add_member_overload(
        "isInteger",
        "k8s_quantity_is_integer",
        qty(),
        vec![],
        q_is_integer_fn,
    )?;
    env.add_member_overload(
        "asInteger",
        "k8s_quantity_get_int",
        qty(),
        vec![],
        q_as_integer_fn,
    )?;
    env.add_member_overload(
        "asApproximateFloat",
        "k8s_quantity_get_float",
        qty(),
        vec![],
        q_as_float_fn,
    )?;
    env.add_member_overload("add", "k8s_quantity_add", qty(), vec![qty()], q_add_fn)?;
    env.add_member_overload(
        "add",
        "k8s_quantity_add_int",
        qty(),
        vec![INT_TYPE],
        q_add_fn,
    )?;
    env.add_member_overload("sub", "k8s_quantity_sub", qty(), vec![qty()], q_sub_fn)?;
    env.add_member_overload(
        "sub",
        "k8s_quantity_sub_int",
        qty(),
        vec![INT_TYPE],
        q_sub_fn,
    )?;
    env.add_member_overload(
        "compareTo",
        "k8s_quantity_compare_to",
        qty(),
        vec![qty()],
        q_compare_fn,
    )?;
    env.add_member_overload(
        "isLessThan",
        "k8s_quantity_is_less_than",
        qty(),
        vec![qty()],
        q_less_fn,
    )?;
    env.add_member_overload(
        "isGreaterThan",
        "k8s_quantity_is_greater_than",
        qty(),
        vec![qty()],
        q_greater_fn,
    )?;

    // semver
    cel_value_fn!(semver_fn => semver_of);
    cel_value_fn!(is_semver_fn => is_semver);
    cel_value_fn!(major_fn => semver_major);
    cel_value_fn!(minor_fn => semver_minor);
    cel_value_fn!(patch_fn => semver_patch);
    cel_value_fn!(v_compare_fn => semver_compare_to);
    cel_value_fn!(v_less_fn => semver_is_less_than);
    cel_value_fn!(v_greater_fn => semver_is_greater_than);
    env.add_overload(
        "semver",
        "k8s_string_to_semver",
        vec![STRING_TYPE],
        semver_fn,
    )?;
    env.add_overload(
        "semver",
        "k8s_string_bool_to_semver",
        vec![STRING_TYPE, BOOL_TYPE],
        semver_fn,
    )?;
    env.add_overload(
        "isSemver",
        "k8s_is_semver_string",
        vec![STRING_TYPE],
        is_semver_fn,
    )?;
    env.add_overload(
        "isSemver",
        "k8s_is_semver_string_bool",
        vec![STRING_TYPE, BOOL_TYPE],
        is_semver_fn,
    )?;
    env.add_member_overload("major", "k8s_semver_major", semver(), vec![], major_fn)?;
    env.add_member_overload("minor", "k8s_semver_minor", semver(), vec![], minor_fn)?;
    env.add_member_overload("patch", "k8s_semver_patch", semver(), vec![], patch_fn)?;
    env.add_member_overload(
        "compareTo",
        "k8s_semver_compare_to",
        semver(),
        vec![semver()],
        v_compare_fn,
    )?;
    env.add_member_overload(
        "isLessThan",
        "k8s_semver_is_less_than",
        semver(),
        vec![semver()],
        v_less_fn,
    )?;
    env.add_member_overload(
        "isGreaterThan",
        "k8s_semver_is_greater_than",
        semver(),
        vec![semver()],
        v_greater_fn,
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Regex
// ---------------------------------------------------------------------------------------------

/// A compiled regex, from a small bounded cache.
fn regex(function: &str, pattern: &str) -> Result<regex::Regex, ExecutionError> {
    static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(pattern) {
        return Ok(re.clone());
    }
    let re = regex::Regex::new(pattern).map_err(|e| {
        fn_error(
            function,
            format!("Illegal regex: {}", one_line(&e.to_string())),
        )
    })?;
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= 256 {
        map.clear();
    }
    map.insert(pattern.to_string(), re.clone());
    Ok(re)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn find(args: &[Value]) -> Res {
    let s = str_arg("find", &args[0])?;
    let re = regex("find", str_arg("find", &args[1])?)?;
    Ok(string(re.find(s).map(|m| m.as_str()).unwrap_or("")))
}

fn find_all(args: &[Value]) -> Res {
    let s = str_arg("findAll", &args[0])?;
    let re = regex("findAll", str_arg("findAll", &args[1])?)?;
    let limit = match args.get(2) {
        Some(n) => int_arg("findAll", n)?,
        None => -1,
    };
    // Go's FindAllString: a negative limit means all matches, zero none.
    let take = if limit < 0 {
        usize::MAX
    } else {
        limit as usize
    };
    let found: Vec<Value> = re
        .find_iter(s)
        .take(take)
        .map(|m| string(m.as_str()))
        .collect();
    Ok(Value::List(Arc::new(found)))
}

// ---------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// CEL's ordering (cel-go's `Compare`): numbers across types, strings, bytes, bools,
/// durations and timestamps; NaN and other types cannot be ordered.
fn compare(function: &str, a: &Value, b: &Value) -> Result<Ordering, ExecutionError> {
    let unordered = || {
        fn_error(
            function,
            format!(
                "no such overload: {} cannot be compared with {}",
                type_name(a),
                type_name(b)
            ),
        )
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::UInt(x), Value::UInt(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::UInt(y)) => Ok((*x as i128).cmp(&(*y as i128))),
        (Value::UInt(x), Value::Int(y)) => Ok((*x as i128).cmp(&(*y as i128))),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Ok(x.cmp(y)),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| fn_error(function, "NaN values cannot be ordered")),
            _ => Err(unordered()),
        },
    }
}

fn comparable(function: &str, v: &Value) -> Result<(), ExecutionError> {
    match v {
        Value::Int(_)
        | Value::UInt(_)
        | Value::Float(_)
        | Value::String(_)
        | Value::Bytes(_)
        | Value::Bool(_)
        | Value::Duration(_)
        | Value::Timestamp(_) => Ok(()),
        other => Err(no_overload(function, other)),
    }
}

fn is_sorted(args: &[Value]) -> Res {
    let list = list_arg("isSorted", &args[0])?;
    for (i, item) in list.iter().enumerate() {
        comparable("isSorted", item)?;
        if i > 0 && compare("isSorted", &list[i - 1], item)? == Ordering::Greater {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn sum(args: &[Value]) -> Res {
    let list = list_arg("sum", &args[0])?;
    let overflow = |what: &str| fn_error("sum", format!("{what} overflow"));
    if list.is_empty() {
        return Ok(Value::Int(0));
    }
    if list.iter().all(|v| matches!(v, Value::Int(_))) {
        let mut acc: i64 = 0;
        for v in list {
            if let Value::Int(i) = v {
                acc = acc.checked_add(*i).ok_or_else(|| overflow("integer"))?;
            }
        }
        return Ok(Value::Int(acc));
    }
    if list.iter().all(|v| matches!(v, Value::UInt(_))) {
        let mut acc: u64 = 0;
        for v in list {
            if let Value::UInt(u) = v {
                acc = acc
                    .checked_add(*u)
                    .ok_or_else(|| overflow("unsigned integer"))?;
            }
        }
        return Ok(Value::UInt(acc));
    }
    if list.iter().all(|v| matches!(v, Value::Duration(_))) {
        let mut acc = chrono::Duration::zero();
        for v in list {
            if let Value::Duration(d) = v {
                acc = acc.checked_add(d).ok_or_else(|| overflow("duration"))?;
            }
        }
        return Ok(Value::Duration(acc));
    }
    // Integers among doubles are what a schema's `type: number` makes doubles of.
    if list.iter().any(|v| matches!(v, Value::Float(_))) {
        let mut acc = 0.0;
        for v in list {
            acc += as_f64(v).ok_or_else(|| no_overload("sum", v))?;
        }
        return Ok(Value::Float(acc));
    }
    // Signed and unsigned integers together.
    let mut acc: i128 = 0;
    for v in list {
        acc += match v {
            Value::Int(i) => *i as i128,
            Value::UInt(u) => *u as i128,
            other => return Err(no_overload("sum", other)),
        };
    }
    i64::try_from(acc)
        .map(Value::Int)
        .map_err(|_| overflow("integer"))
}

fn extreme(function: &str, list: &[Value], replace_when: Ordering) -> Res {
    let mut best: Option<&Value> = None;
    for item in list {
        comparable(function, item)?;
        best = match best {
            None => Some(item),
            Some(b) if compare(function, b, item)? == replace_when => Some(item),
            keep => keep,
        };
    }
    best.cloned()
        .ok_or_else(|| fn_error(function, format!("{function} called on empty list")))
}

fn list_min(args: &[Value]) -> Res {
    extreme("min", list_arg("min", &args[0])?, Ordering::Greater)
}

fn list_max(args: &[Value]) -> Res {
    extreme("max", list_arg("max", &args[0])?, Ordering::Less)
}

fn index_of(args: &[Value]) -> Res {
    let list = list_arg("indexOf", &args[0])?;
    Ok(Value::Int(
        list.iter()
            .position(|v| *v == args[1])
            .map(|i| i as i64)
            .unwrap_or(-1),
    ))
}

fn last_index_of(args: &[Value]) -> Res {
    let list = list_arg("lastIndexOf", &args[0])?;
    Ok(Value::Int(
        list.iter()
            .rposition(|v| *v == args[1])
            .map(|i| i as i64)
            .unwrap_or(-1),
    ))
}

// ---------------------------------------------------------------------------------------------
// Sets (cel-go's ext.Sets)
// ---------------------------------------------------------------------------------------------

fn contains_all(list: &[Value], sub: &[Value]) -> bool {
    sub.iter().all(|x| list.contains(x))
}

fn sets_contains(args: &[Value]) -> Res {
    let a = list_arg("sets.contains", &args[0])?;
    let b = list_arg("sets.contains", &args[1])?;
    Ok(Value::Bool(contains_all(a, b)))
}

fn sets_equivalent(args: &[Value]) -> Res {
    let a = list_arg("sets.equivalent", &args[0])?;
    let b = list_arg("sets.equivalent", &args[1])?;
    Ok(Value::Bool(contains_all(a, b) && contains_all(b, a)))
}

fn sets_intersects(args: &[Value]) -> Res {
    let a = list_arg("sets.intersects", &args[0])?;
    let b = list_arg("sets.intersects", &args[1])?;
    Ok(Value::Bool(a.iter().any(|x| b.contains(x))))
}

// ---------------------------------------------------------------------------------------------
// URLs: Go's net/url, as `url()` (ParseRequestURI, then Parse) and `isURL()` use it
// ---------------------------------------------------------------------------------------------

/// A parsed URL (Go's `url.URL`, the parts the library reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    scheme: String,
    opaque: String,
    host: String,
    /// The decoded path.
    path: String,
    /// The path as written.
    raw_path: String,
    raw_query: String,
    fragment: String,
}

impl Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        URL_TYPE
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Enc {
    Path,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

fn should_escape(c: u8, mode: Enc) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Enc::Host | Enc::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Enc::Path => return c == b'?',
            Enc::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Enc::QueryComponent => return true,
            Enc::Fragment => return false,
            _ => {}
        },
        _ => {}
    }
    if mode == Enc::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Go's `url.unescape`.
fn unescape(s: &str, mode: Enc) -> Result<String, String> {
    let b = s.as_bytes();
    let escape_error = |i: usize| {
        let end = (i + 3).min(b.len());
        format!(
            "invalid URL escape {}",
            go_quote(&String::from_utf8_lossy(&b[i..end]))
        )
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    return Err(escape_error(i));
                }
                let is25 = &b[i..i + 3] == b"%25";
                if mode == Enc::Host && unhex(b[i + 1]) < 8 && !is25 {
                    return Err(escape_error(i));
                }
                if mode == Enc::Zone {
                    let v = (unhex(b[i + 1]) << 4) | unhex(b[i + 2]);
                    if !is25 && v != b' ' && should_escape(v, Enc::Host) {
                        return Err(escape_error(i));
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Enc::Host | Enc::Zone)
                    && c < 0x80
                    && c != b'+'
                    && should_escape(c, mode)
                {
                    return Err(format!(
                        "invalid character {} in host name",
                        go_quote(&(c as char).to_string())
                    ));
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push((unhex(b[i + 1]) << 4) | unhex(b[i + 2]));
                i += 3;
            }
            b'+' if mode == Enc::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `url.escape` (never called for query components here).
fn escape(s: &str, mode: Enc) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

fn valid_encoded(s: &str, mode: Enc) -> bool {
    s.bytes().all(|c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Go's `getScheme`: (scheme, rest).
fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseHost`.
fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
        // Only an IPv6 address may stand in brackets (Go ≥ 1.25 checks it).
        let literal = &host[1..i];
        let addr = literal.split("%25").next().unwrap_or_default();
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!("invalid IP-literal {}", go_quote(&host[..=i])));
        }
        if let Some(zone) = host[..i].find("%25") {
            let h1 = unescape(&host[..zone], Enc::Host)?;
            let h2 = unescape(&host[zone..i], Enc::Zone)?;
            let h3 = unescape(&host[i..], Enc::Host)?;
            return Ok(h1 + &h2 + &h3);
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
    }
    unescape(host, Enc::Host)
}

fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|r| {
        r.is_ascii_alphanumeric()
            || matches!(
                r,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

/// Go's `parseAuthority`: the host (user info is checked, not kept).
fn parse_authority(authority: &str) -> Result<String, String> {
    let at = authority.rfind('@');
    let host = parse_host(match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    })?;
    if let Some(i) = at {
        let userinfo = &authority[..i];
        if !valid_userinfo(userinfo) {
            return Err("net/url: invalid userinfo".into());
        }
        match userinfo.split_once(':') {
            Some((user, password)) => {
                unescape(user, Enc::UserPassword)?;
                unescape(password, Enc::UserPassword)?;
            }
            None => {
                unescape(userinfo, Enc::UserPassword)?;
            }
        }
    }
    Ok(host)
}

/// Go's `url.parse`.
fn go_parse(raw: &str, via_request: bool) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut url = Url {
        scheme: String::new(),
        opaque: String::new(),
        host: String::new(),
        path: String::new(),
        raw_path: String::new(),
        raw_query: String::new(),
        fragment: String::new(),
    };
    if raw == "*" {
        url.path = "*".into();
        url.raw_path = "*".into();
        return Ok(url);
    }
    let (scheme, rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest;
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        url.raw_query = q.to_string();
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
        let segment = rest.split('/').next().unwrap_or_default();
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///"))
        && rest.starts_with("//")
    {
        let mut authority = &rest[2..];
        rest = "";
        if let Some(i) = authority.find('/') {
            rest = &authority[i..];
            authority = &authority[..i];
        }
        url.host = parse_authority(authority)?;
    }
    url.path = unescape(rest, Enc::Path)?;
    url.raw_path = rest.to_string();
    Ok(url)
}

/// Go's `url.ParseRequestURI`.
fn parse_request_uri(raw: &str) -> Result<Url, String> {
    go_parse(raw, true).map_err(|e| format!("parse {}: {e}", go_quote(raw)))
}

/// Go's `url.Parse`.
fn parse_url(raw: &str) -> Result<Url, String> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let mut url = go_parse(u, false).map_err(|e| format!("parse {}: {e}", go_quote(u)))?;
    if !frag.is_empty() {
        url.fragment =
            unescape(frag, Enc::Fragment).map_err(|e| format!("parse {}: {e}", go_quote(raw)))?;
    }
    Ok(url)
}

impl Url {
    fn escaped_path(&self) -> String {
        if valid_encoded(&self.raw_path, Enc::Path) {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".into();
        }
        escape(&self.path, Enc::Path)
    }

    /// Go's `splitHostPort`.
    fn host_port(&self) -> (&str, &str) {
        let mut host = self.host.as_str();
        let mut port = "";
        if let Some(colon) = host.rfind(':')
            && valid_optional_port(&host[colon..])
        {
            port = &host[colon + 1..];
            host = &host[..colon];
        }
        if host.len() >= 2 && host.starts_with('[') && host.ends_with(']') {
            host = &host[1..host.len() - 1];
        }
        (host, port)
    }

    /// Go's `url.ParseQuery`, malformed pairs skipped as `URL.Query()` does.
    fn query(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for pair in self.raw_query.split('&') {
            if pair.is_empty() || pair.contains(';') {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Ok(k), Ok(v)) = (
                unescape(k, Enc::QueryComponent),
                unescape(v, Enc::QueryComponent),
            ) else {
                continue;
            };
            match out.iter_mut().find(|(key, _)| *key == k) {
                Some((_, values)) => values.push(v),
                None => out.push((k, vec![v])),
            }
        }
        out
    }
}

fn url_of(args: &[Value]) -> Res {
    let s = str_arg("url", &args[0])?;
    let fail = |e: String| {
        fn_error(
            "url",
            format!("URL parse error during conversion from string: {e}"),
        )
    };
    parse_request_uri(s).map_err(fail)?;
    Ok(opaque(parse_url(s).map_err(fail)?))
}

fn is_url(args: &[Value]) -> Res {
    Ok(Value::Bool(
        parse_request_uri(str_arg("isURL", &args[0])?).is_ok(),
    ))
}

fn url_scheme(args: &[Value]) -> Res {
    Ok(string(
        opaque_arg::<Url>("getScheme", &args[0])?.scheme.clone(),
    ))
}

fn url_host(args: &[Value]) -> Res {
    Ok(string(opaque_arg::<Url>("getHost", &args[0])?.host.clone()))
}

fn url_hostname(args: &[Value]) -> Res {
    Ok(string(
        opaque_arg::<Url>("getHostname", &args[0])?.host_port().0,
    ))
}

fn url_port(args: &[Value]) -> Res {
    Ok(string(
        opaque_arg::<Url>("getPort", &args[0])?.host_port().1,
    ))
}

fn url_escaped_path(args: &[Value]) -> Res {
    Ok(string(
        opaque_arg::<Url>("getEscapedPath", &args[0])?.escaped_path(),
    ))
}

fn url_query(args: &[Value]) -> Res {
    let url = opaque_arg::<Url>("getQuery", &args[0])?;
    let map: HashMap<Key, Value> = url
        .query()
        .into_iter()
        .map(|(k, vs)| {
            (
                Key::String(Arc::new(k)),
                Value::List(Arc::new(vs.into_iter().map(string).collect())),
            )
        })
        .collect();
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

// ---------------------------------------------------------------------------------------------
// IPs and CIDRs: Go's net/netip, with Kubernetes' refusals (zones, IPv4-mapped IPv6)
// ---------------------------------------------------------------------------------------------

/// An IP address (`net.IP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip(IpAddr);

impl Opaque for Ip {
    fn runtime_type_name(&self) -> &str {
        IP_TYPE
    }
}

/// A CIDR (`net.CIDR`): the address as written and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Opaque for Cidr {
    fn runtime_type_name(&self) -> &str {
        CIDR_TYPE
    }
}

/// Go's `netip.ParseAddr`: the address, or whether it has a zone.
fn netip_parse_addr(s: &str) -> Result<(IpAddr, bool), String> {
    let bad = || format!("ParseAddr({}): unable to parse IP", go_quote(s));
    if s.contains(':') {
        let (addr, zone) = match s.split_once('%') {
            Some((a, z)) => {
                if z.is_empty() {
                    return Err(format!(
                        "ParseAddr({}): zone must be a non-empty string",
                        go_quote(s)
                    ));
                }
                (a, true)
            }
            None => (s, false),
        };
        addr.parse::<Ipv6Addr>()
            .map(|a| (IpAddr::V6(a), zone))
            .map_err(|_| bad())
    } else {
        s.parse::<Ipv4Addr>()
            .map(|a| (IpAddr::V4(a), false))
            .map_err(|_| bad())
    }
}

fn is_4in6(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// Kubernetes' `parseIPAddr`.
fn parse_ip(raw: &str) -> Result<IpAddr, String> {
    let (addr, zone) = netip_parse_addr(raw).map_err(|e| {
        format!(
            "IP Address {} parse error during conversion from string: {e}",
            go_quote(raw)
        )
    })?;
    if zone {
        return Err(format!(
            "IP address {} with zone value is not allowed",
            go_quote(raw)
        ));
    }
    if is_4in6(&addr) {
        return Err(format!(
            "IPv4-mapped IPv6 address {} is not allowed",
            go_quote(raw)
        ));
    }
    Ok(addr)
}

/// Kubernetes' `parseCIDR` (on Go's `netip.ParsePrefix`).
fn parse_cidr(raw: &str) -> Result<Cidr, String> {
    let prefix_error = |msg: String| {
        format!(
            "network address parse error during conversion from string: netip.ParsePrefix({}): {msg}",
            go_quote(raw)
        )
    };
    let Some(slash) = raw.rfind('/') else {
        return Err(prefix_error("no '/'".into()));
    };
    let (addr, zone) = netip_parse_addr(&raw[..slash]).map_err(prefix_error)?;
    if zone {
        return Err(prefix_error(
            "IPv6 zones cannot be present in a prefix".into(),
        ));
    }
    let bits_str = &raw[slash + 1..];
    let bad_bits = || prefix_error(format!("bad bits after slash: {}", go_quote(bits_str)));
    if bits_str.len() > 1 && !(b'1'..=b'9').contains(&bits_str.as_bytes()[0]) {
        return Err(bad_bits());
    }
    if bits_str.is_empty() || !bits_str.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_bits());
    }
    let bits: u32 = bits_str.parse().map_err(|_| bad_bits())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(prefix_error("prefix length out of range".into()));
    }
    if is_4in6(&addr) {
        return Err(format!(
            "IPv4-mapped IPv6 address {} is not allowed",
            go_quote(raw)
        ));
    }
    Ok(Cidr {
        addr,
        bits: bits as u8,
    })
}

fn mask(addr: IpAddr, bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits as u32)
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits as u32)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl Cidr {
    fn masked(self) -> Cidr {
        Cidr {
            addr: mask(self.addr, self.bits),
            bits: self.bits,
        }
    }

    /// `netip.Prefix.Contains`: same family, same network bits.
    fn contains(self, ip: IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && mask(ip, self.bits) == mask(self.addr, self.bits)
    }
}

fn ip_of(args: &[Value]) -> Res {
    let s = str_arg("ip", &args[0])?;
    parse_ip(s)
        .map(|a| opaque(Ip(a)))
        .map_err(|e| fn_error("ip", e))
}

fn is_ip(args: &[Value]) -> Res {
    Ok(Value::Bool(parse_ip(str_arg("isIP", &args[0])?).is_ok()))
}

fn ip_is_canonical(args: &[Value]) -> Res {
    let s = str_arg("ip.isCanonical", &args[0])?;
    let addr = parse_ip(s).map_err(|e| fn_error("ip.isCanonical", e))?;
    Ok(Value::Bool(addr.to_string() == s))
}

fn ip_arg(function: &str, v: &Value) -> Result<IpAddr, ExecutionError> {
    Ok(opaque_arg::<Ip>(function, v)?.0)
}

fn ip_family(args: &[Value]) -> Res {
    Ok(Value::Int(match ip_arg("family", &args[0])? {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 6,
    }))
}

fn ip_is_unspecified(args: &[Value]) -> Res {
    Ok(Value::Bool(
        ip_arg("isUnspecified", &args[0])?.is_unspecified(),
    ))
}

fn ip_is_loopback(args: &[Value]) -> Res {
    Ok(Value::Bool(ip_arg("isLoopback", &args[0])?.is_loopback()))
}

fn is_link_local_multicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[..3] == [224, 0, 0],
        IpAddr::V6(a) => a.segments()[0] & 0xff0f == 0xff02,
    }
}

fn is_link_local_unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[..2] == [169, 254],
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Go's `netip.Addr.IsGlobalUnicast`: private and ULA addresses count.
fn is_global_unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            !(a.is_unspecified()
                || a.is_broadcast()
                || a.is_loopback()
                || a.is_multicast()
                || is_link_local_unicast(addr))
        }
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || is_link_local_unicast(addr))
        }
    }
}

fn ip_is_link_local_multicast(args: &[Value]) -> Res {
    Ok(Value::Bool(is_link_local_multicast(ip_arg(
        "isLinkLocalMulticast",
        &args[0],
    )?)))
}

fn ip_is_link_local_unicast(args: &[Value]) -> Res {
    Ok(Value::Bool(is_link_local_unicast(ip_arg(
        "isLinkLocalUnicast",
        &args[0],
    )?)))
}

fn ip_is_global_unicast(args: &[Value]) -> Res {
    Ok(Value::Bool(is_global_unicast(ip_arg(
        "isGlobalUnicast",
        &args[0],
    )?)))
}

fn ip_to_string(args: &[Value]) -> Res {
    Ok(string(ip_arg("string", &args[0])?.to_string()))
}

fn cidr_from_string(function: &str, s: &str) -> Result<Cidr, ExecutionError> {
    parse_cidr(s).map_err(|e| {
        fn_error(
            function,
            format!("network address parse error during conversion from string: {e}"),
        )
    })
}

fn cidr_of(args: &[Value]) -> Res {
    Ok(opaque(cidr_from_string(
        "cidr",
        str_arg("cidr", &args[0])?,
    )?))
}

fn is_cidr(args: &[Value]) -> Res {
    Ok(Value::Bool(
        parse_cidr(str_arg("isCIDR", &args[0])?).is_ok(),
    ))
}

fn cidr_contains_ip(args: &[Value]) -> Res {
    let cidr = opaque_arg::<Cidr>("containsIP", &args[0])?;
    let ip = match &args[1] {
        Value::String(s) => parse_ip(s).map_err(|e| fn_error("containsIP", e))?,
        other => ip_arg("containsIP", other)?,
    };
    Ok(Value::Bool(cidr.contains(ip)))
}

fn cidr_contains_cidr(args: &[Value]) -> Res {
    let cidr = *opaque_arg::<Cidr>("containsCIDR", &args[0])?;
    let other = match &args[1] {
        Value::String(s) => cidr_from_string("containsCIDR", s)?,
        other => *opaque_arg::<Cidr>("containsCIDR", other)?,
    };
    // As Kubernetes words it: `cidr.Masked() == netip.PrefixFrom(other.Addr(), cidr.Bits())`
    // (the other CIDR's address as written, not masked) and a prefix no shorter.
    let equal_masked = cidr.masked().addr == other.addr;
    Ok(Value::Bool(equal_masked && cidr.bits <= other.bits))
}

fn cidr_ip(args: &[Value]) -> Res {
    Ok(opaque(Ip(opaque_arg::<Cidr>("ip", &args[0])?.addr)))
}

fn cidr_masked(args: &[Value]) -> Res {
    Ok(opaque(opaque_arg::<Cidr>("masked", &args[0])?.masked()))
}

fn cidr_prefix_length(args: &[Value]) -> Res {
    Ok(Value::Int(
        opaque_arg::<Cidr>("prefixLength", &args[0])?.bits as i64,
    ))
}

fn cidr_to_string(args: &[Value]) -> Res {
    let c = opaque_arg::<Cidr>("string", &args[0])?;
    Ok(string(format!("{}/{}", c.addr, c.bits)))
}

// ---------------------------------------------------------------------------------------------
// Quantities: resource.ParseQuantity and the arithmetic of resource.Quantity
// ---------------------------------------------------------------------------------------------

const ERR_FORMAT: &str = "quantities must match the regular expression \
     '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const ERR_NUMERIC: &str = "unable to parse quantity's numeric part";
const ERR_SUFFIX: &str = "unable to parse quantity's suffix";

/// An exact decimal: `unscaled × 10^exp`, trailing zeros stripped (so equal values are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dec {
    unscaled: i128,
    exp: i32,
}

impl Dec {
    fn new(mut unscaled: i128, mut exp: i32) -> Dec {
        if unscaled == 0 {
            return Dec {
                unscaled: 0,
                exp: 0,
            };
        }
        while unscaled % 10 == 0 && exp < i32::MAX {
            unscaled /= 10;
            exp += 1;
        }
        Dec { unscaled, exp }
    }

    fn cmp(self, other: Dec) -> Ordering {
        let (sa, sb) = (self.unscaled.signum(), other.unscaled.signum());
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let magnitude_greater = if sa > 0 {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        match self.exp.cmp(&other.exp) {
            Ordering::Equal => self.unscaled.cmp(&other.unscaled),
            Ordering::Greater => {
                match mul_pow10(self.unscaled, self.exp as i64 - other.exp as i64) {
                    Some(a) => a.cmp(&other.unscaled),
                    None => magnitude_greater,
                }
            }
            Ordering::Less => match mul_pow10(other.unscaled, other.exp as i64 - self.exp as i64) {
                Some(b) => self.unscaled.cmp(&b),
                None => magnitude_greater.reverse(),
            },
        }
    }

    fn checked_add(self, other: Dec) -> Option<Dec> {
        if self.unscaled == 0 {
            return Some(other);
        }
        if other.unscaled == 0 {
            return Some(self);
        }
        let exp = self.exp.min(other.exp);
        let a = mul_pow10(self.unscaled, self.exp as i64 - exp as i64)?;
        let b = mul_pow10(other.unscaled, other.exp as i64 - exp as i64)?;
        Some(Dec::new(a.checked_add(b)?, exp))
    }

    fn to_f64(self) -> f64 {
        self.unscaled as f64 * 10f64.powi(self.exp)
    }
}

fn mul_pow10(mut v: i128, d: i64) -> Option<i128> {
    if v == 0 {
        return Some(0);
    }
    if d > 38 {
        return None;
    }
    for _ in 0..d {
        v = v.checked_mul(10)?;
    }
    Some(v)
}

/// A `kubernetes.Quantity`: its exact value, and Go's int64 form (`int64Amount`: value and
/// decimal scale) while it has one: `isInteger`/`asInteger` read that form as Go does
/// (`quantity('1000m').isInteger()` is false, `quantity('1k').isInteger()` true).
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    value: Dec,
    int: Option<(i64, i32)>,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Quantity {}

impl Opaque for Quantity {
    fn runtime_type_name(&self) -> &str {
        QUANTITY_TYPE
    }
}

impl Quantity {
    fn from_int(value: i64, scale: i32) -> Quantity {
        Quantity {
            value: Dec::new(value as i128, scale),
            int: Some((value, scale)),
        }
    }

    fn as_int64(&self) -> Option<i64> {
        let (value, scale) = self.int?;
        match scale.cmp(&0) {
            Ordering::Equal => Some(value),
            Ordering::Less => None,
            Ordering::Greater => positive_scale_i64(value, scale),
        }
    }

    fn as_approximate_f64(&self) -> f64 {
        match self.int {
            Some((v, 0)) => v as f64,
            Some((v, s)) => v as f64 * 10f64.powi(s),
            None => self.value.to_f64(),
        }
    }

    /// Go's `Quantity.Add`: in int64 form while both are and it fits, else exact.
    fn add(&self, y: &Quantity) -> Option<Quantity> {
        if let (Some(a), Some(b)) = (self.int, y.int)
            && let Some(r) = int64_amount_add(a, b)
        {
            return Some(Quantity::from_int(r.0, r.1));
        }
        Some(Quantity {
            value: self.value.checked_add(y.value)?,
            int: None,
        })
    }

    /// Go's `Quantity.Sub`.
    fn sub(&self, y: &Quantity) -> Option<Quantity> {
        if let (Some(a), Some(b)) = (self.int, y.int)
            && let Some(r) = int64_amount_add(a, (b.0.wrapping_neg(), b.1))
        {
            return Some(Quantity::from_int(r.0, r.1));
        }
        let neg = Dec::new(y.value.unscaled.checked_neg()?, y.value.exp);
        Some(Quantity {
            value: self.value.checked_add(neg)?,
            int: None,
        })
    }
}

fn positive_scale_i64(mut value: i64, scale: i32) -> Option<i64> {
    for _ in 0..scale {
        value = value.checked_mul(10)?;
    }
    Some(value)
}

/// Go's `int64Amount.Add`.
fn int64_amount_add(a: (i64, i32), b: (i64, i32)) -> Option<(i64, i32)> {
    if b.0 == 0 {
        return Some(a);
    }
    if a.0 == 0 {
        return Some(b);
    }
    match a.1.cmp(&b.1) {
        Ordering::Equal => Some((a.0.checked_add(b.0)?, a.1)),
        Ordering::Greater => {
            let c = positive_scale_i64(a.0, a.1 - b.1)?;
            Some((c.checked_add(b.0)?, b.1))
        }
        Ordering::Less => {
            let c = positive_scale_i64(b.0, b.1 - a.1)?;
            Some((a.0.checked_add(c)?, a.1))
        }
    }
}

struct Scanned<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Go's `parseQuantityString`.
fn scan_quantity(s: &str) -> Result<Scanned<'_>, &'static str> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    if pos < end {
        match b[0] {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    let done = |positive, num, denom, suffix| {
        Ok(Scanned {
            positive,
            num,
            denom,
            suffix,
        })
    };
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return done(positive, "0", "", "");
    }
    let start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let mut num = &s[start..pos];
    if pos >= end {
        return done(positive, num, "", "");
    }
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[start..pos];
        if pos >= end {
            return done(positive, num, denom, "");
        }
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos >= end {
        return done(positive, num, denom, &s[suffix_start..]);
    }
    if b[pos] == b'-' || b[pos] == b'+' {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return done(positive, num, denom, &s[suffix_start..]);
    }
    Err(ERR_FORMAT)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QFormat {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// Go's `suffixHandler.interpret`: (base, exponent, format).
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, QFormat)> {
    let dec = |e| Some((10, e, QFormat::DecimalSi));
    let bin = |e| Some((2, e, QFormat::BinarySi));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) => {
            let parsed: i64 = suffix[1..].parse().ok()?;
            Some((10, parsed as i32, QFormat::DecimalExponent))
        }
        _ => None,
    }
}

/// A natural number in base-10⁹ limbs (little end first), for the exact slow path.
struct BigNat(Vec<u64>);

const LIMB: u64 = 1_000_000_000;

impl BigNat {
    fn from_digits(digits: &str) -> BigNat {
        let mut limbs = Vec::new();
        let bytes = digits.as_bytes();
        let mut end = bytes.len();
        while end > 0 {
            let start = end.saturating_sub(9);
            let chunk = std::str::from_utf8(&bytes[start..end]).unwrap_or("0");
            limbs.push(chunk.parse::<u64>().unwrap_or(0));
            end = start;
        }
        BigNat(limbs)
    }

    fn mul_small(&mut self, m: u64) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = *limb * m + carry;
            *limb = v % LIMB;
            carry = v / LIMB;
        }
        while carry > 0 {
            self.0.push(carry % LIMB);
            carry /= LIMB;
        }
    }

    /// Divides in place, returning the remainder.
    fn div_small(&mut self, d: u64) -> u64 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = rem * LIMB + *limb;
            *limb = v / d;
            rem = v % d;
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        rem
    }

    fn to_i128(&self) -> Option<i128> {
        let mut v: i128 = 0;
        for limb in self.0.iter().rev() {
            v = v.checked_mul(LIMB as i128)?.checked_add(*limb as i128)?;
        }
        Some(v)
    }
}

/// Go's `resource.ParseQuantity`.
fn parse_quantity(s: &str) -> Result<Quantity, &'static str> {
    if s.is_empty() {
        return Err(ERR_FORMAT);
    }
    if s == "0" {
        return Ok(Quantity::from_int(0, 0));
    }
    let Scanned {
        positive,
        num,
        denom,
        suffix,
    } = scan_quantity(s)?;
    let (base, exponent, format) = interpret_suffix(suffix).ok_or(ERR_SUFFIX)?;

    // The fast path: an int64 value and a decimal scale.
    let digits_len = (num.len() + denom.len()) as i64;
    let (precision, mut scale, mantissa): (i64, i64, i64) = match format {
        QFormat::DecimalSi | QFormat::DecimalExponent => (18 - digits_len, exponent as i64, 1),
        QFormat::BinarySi if exponent >= 0 && denom.is_empty() => (
            15 - num.len() as i64 - ((exponent as f32) * 3.0 / 10.0) as i64 - 1,
            0,
            1i64 << exponent,
        ),
        QFormat::BinarySi => (-1, 0, 1),
    };
    if precision >= 0 {
        scale -= denom.len() as i64;
        if scale >= -9 {
            let shifted = format!("{num}{denom}");
            let value: i64 = shifted.parse().map_err(|_| ERR_NUMERIC)?;
            if let Some(result) = value.checked_mul(mantissa) {
                let result = if positive { result } else { -result };
                return Ok(Quantity::from_int(result, scale as i32));
            }
        }
    }

    // The exact path: rounded up to nano units, capped at the largest int64.
    let cap: i128 = i64::MAX as i128 * 1_000_000_000;
    let digits = format!("{num}{denom}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(Quantity {
            value: Dec::new(0, 0),
            int: None,
        });
    }
    let (e10, b2) = if base == 10 {
        (exponent as i64 - denom.len() as i64, 0u32)
    } else {
        (-(denom.len() as i64), exponent as u32)
    };
    let e = e10 + 9; // nano units
    let n = digits.len() as i64;
    let nanos: i128 = if n - 1 + e >= 28 {
        cap
    } else {
        let mut big = BigNat::from_digits(digits);
        let mut left = b2;
        while left > 0 {
            let step = left.min(30);
            big.mul_small(1u64 << step);
            left -= step;
        }
        if e >= 0 {
            for _ in 0..e {
                big.mul_small(10);
            }
            big.to_i128().map_or(cap, |v| v.min(cap))
        } else {
            let k = -e;
            if k > big.0.len() as i64 * 9 + 1 {
                1
            } else {
                let mut inexact = false;
                for _ in 0..k {
                    inexact |= big.div_small(10) != 0;
                }
                big.to_i128()
                    .map_or(cap, |v| (v + inexact as i128).min(cap))
            }
        }
    };
    Ok(Quantity {
        value: Dec::new(if positive { nanos } else { -nanos }, -9),
        int: None,
    })
}

fn quantity_of(args: &[Value]) -> Res {
    parse_quantity(str_arg("quantity", &args[0])?)
        .map(opaque)
        .map_err(|e| fn_error("quantity", e))
}

fn is_quantity(args: &[Value]) -> Res {
    Ok(Value::Bool(
        parse_quantity(str_arg("isQuantity", &args[0])?).is_ok(),
    ))
}

fn q_arg(function: &str, v: &Value) -> Result<Quantity, ExecutionError> {
    opaque_arg::<Quantity>(function, v).copied()
}

/// The second operand of `add`/`sub`: a quantity, or an int as `resource.NewQuantity(n)`.
fn q_operand(function: &str, v: &Value) -> Result<Quantity, ExecutionError> {
    match v {
        Value::Int(i) => Ok(Quantity::from_int(*i, 0)),
        other => q_arg(function, other),
    }
}

fn q_sign(args: &[Value]) -> Res {
    Ok(Value::Int(
        q_arg("sign", &args[0])?.value.unscaled.signum() as i64
    ))
}

fn q_is_integer(args: &[Value]) -> Res {
    Ok(Value::Bool(
        q_arg("isInteger", &args[0])?.as_int64().is_some(),
    ))
}

fn q_as_integer(args: &[Value]) -> Res {
    q_arg("asInteger", &args[0])?
        .as_int64()
        .map(Value::Int)
        .ok_or_else(|| fn_error("asInteger", "cannot convert value to integer"))
}

fn q_as_float(args: &[Value]) -> Res {
    Ok(Value::Float(
        q_arg("asApproximateFloat", &args[0])?.as_approximate_f64(),
    ))
}

fn q_add(args: &[Value]) -> Res {
    let q = q_arg("add", &args[0])?;
    let y = q_operand("add", &args[1])?;
    q.add(&y)
        .map(opaque)
        .ok_or_else(|| fn_error("add", "quantity out of range"))
}

fn q_sub(args: &[Value]) -> Res {
    let q = q_arg("sub", &args[0])?;
    let y = q_operand("sub", &args[1])?;
    q.sub(&y)
        .map(opaque)
        .ok_or_else(|| fn_error("sub", "quantity out of range"))
}

fn q_cmp(function: &str, args: &[Value]) -> Result<Ordering, ExecutionError> {
    Ok(q_arg(function, &args[0])?
        .value
        .cmp(q_arg(function, &args[1])?.value))
}

fn ordering_int(o: Ordering) -> Value {
    Value::Int(match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
}

fn q_compare_to(args: &[Value]) -> Res {
    Ok(ordering_int(q_cmp("compareTo", args)?))
}

fn q_is_less_than(args: &[Value]) -> Res {
    Ok(Value::Bool(q_cmp("isLessThan", args)? == Ordering::Less))
}

fn q_is_greater_than(args: &[Value]) -> Res {
    Ok(Value::Bool(
        q_cmp("isGreaterThan", args)? == Ordering::Greater,
    ))
}

// ---------------------------------------------------------------------------------------------
// Semantic versions: blang/semver v4, as the Kubernetes library uses it
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum PreRelease {
    Num(u64),
    Str(String),
}

/// A `kubernetes.Semver`. Equal when `compareTo` says so (build metadata is ignored).
#[derive(Debug, Clone)]
pub struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<PreRelease>,
}

impl PartialEq for Semver {
    fn eq(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

impl Eq for Semver {}

impl Opaque for Semver {
    fn runtime_type_name(&self) -> &str {
        SEMVER_TYPE
    }
}

impl Semver {
    /// blang/semver's `Version.Compare`.
    fn compare(&self, o: &Semver) -> Ordering {
        let core = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        if core != Ordering::Equal {
            return core;
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        for (a, b) in self.pre.iter().zip(&o.pre) {
            let c = match (a, b) {
                (PreRelease::Num(x), PreRelease::Num(y)) => x.cmp(y),
                (PreRelease::Num(_), PreRelease::Str(_)) => Ordering::Less,
                (PreRelease::Str(_), PreRelease::Num(_)) => Ordering::Greater,
                (PreRelease::Str(x), PreRelease::Str(y)) => x.cmp(y),
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        self.pre.len().cmp(&o.pre.len())
    }
}

fn only(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    s.chars().all(allowed)
}

fn is_alnum_dash(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn parse_uint(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| {
        let why = if s.is_empty() || !only(s, |c| c.is_ascii_digit()) {
            "invalid syntax"
        } else {
            "value out of range"
        };
        format!("strconv.ParseUint: parsing {}: {why}", go_quote(s))
    })
}

fn numeric_part(s: &str, what: &str) -> Result<u64, String> {
    if !only(s, |c| c.is_ascii_digit()) {
        return Err(format!(
            "Invalid character(s) found in {} number {}",
            what.to_lowercase(),
            go_quote(s)
        ));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!(
            "{what} number must not contain leading zeroes {}",
            go_quote(s)
        ));
    }
    parse_uint(s)
}

/// blang/semver's `Parse`.
fn parse_semver(s: &str) -> Result<Semver, String> {
    if s.is_empty() {
        return Err("Version string empty".into());
    }
    let parts: Vec<&str> = s.splitn(3, '.').collect();
    if parts.len() != 3 {
        return Err("No Major.Minor.Patch elements found".into());
    }
    let major = numeric_part(parts[0], "Major")?;
    let minor = numeric_part(parts[1], "Minor")?;
    let mut patch_str = parts[2];
    let mut build: Vec<String> = Vec::new();
    let mut pre_strs: Vec<&str> = Vec::new();
    if let Some(i) = patch_str.find('+') {
        build = patch_str[i + 1..].split('.').map(str::to_string).collect();
        patch_str = &patch_str[..i];
    }
    if let Some(i) = patch_str.find('-') {
        pre_strs = patch_str[i + 1..].split('.').collect();
        patch_str = &patch_str[..i];
    }
    let patch = numeric_part(patch_str, "Patch")?;
    let mut pre = Vec::new();
    for p in pre_strs {
        if p.is_empty() {
            return Err("Prerelease is empty".into());
        }
        if only(p, |c| c.is_ascii_digit()) {
            if p.len() > 1 && p.starts_with('0') {
                return Err(format!(
                    "Numeric PreRelease version must not contain leading zeroes {}",
                    go_quote(p)
                ));
            }
            pre.push(PreRelease::Num(parse_uint(p)?));
        } else if only(p, is_alnum_dash) {
            pre.push(PreRelease::Str(p.to_string()));
        } else {
            return Err(format!(
                "Invalid character(s) found in prerelease {}",
                go_quote(p)
            ));
        }
    }
    for b in &build {
        if b.is_empty() {
            return Err("Build meta data is empty".into());
        }
        if !only(b, is_alnum_dash) {
            return Err(format!(
                "Invalid character(s) found in build meta data {}",
                go_quote(b)
            ));
        }
    }
    Ok(Semver {
        major,
        minor,
        patch,
        pre,
    })
}

/// Kubernetes' `normalizeAndParse`: no `v` prefix, missing minor/patch filled with 0, leading
/// zeros removed.
fn normalize_and_parse(s: &str) -> Result<Semver, String> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts: Vec<String> = s.splitn(3, '.').map(str::to_string).collect();
    for p in parts.iter_mut() {
        if p.len() > 1 {
            let mut t = p.trim_start_matches('0').to_string();
            if t.is_empty() || !t.as_bytes()[0].is_ascii_digit() {
                t.insert(0, '0');
            }
            *p = t;
        }
    }
    if parts.len() < 3 {
        if parts.last().is_some_and(|last| last.contains(['+', '-'])) {
            return Err("short version cannot contain PreRelease/Build meta data".into());
        }
        while parts.len() < 3 {
            parts.push("0".into());
        }
    }
    parse_semver(&parts.join("."))
}

fn semver_parse_args(
    function: &str,
    args: &[Value],
) -> Result<Result<Semver, String>, ExecutionError> {
    let s = str_arg(function, &args[0])?;
    let normalize = match args.get(1) {
        Some(b) => bool_arg(function, b)?,
        None => false,
    };
    Ok(if normalize {
        normalize_and_parse(s)
    } else {
        parse_semver(s)
    })
}

fn semver_of(args: &[Value]) -> Res {
    semver_parse_args("semver", args)?
        .map(opaque)
        .map_err(|e| fn_error("semver", e))
}

fn is_semver(args: &[Value]) -> Res {
    Ok(Value::Bool(semver_parse_args("isSemver", args)?.is_ok()))
}

fn v_arg<'a>(function: &str, v: &'a Value) -> Result<&'a Semver, ExecutionError> {
    opaque_arg::<Semver>(function, v)
}

fn semver_major(args: &[Value]) -> Res {
    Ok(Value::Int(v_arg("major", &args[0])?.major as i64))
}

fn semver_minor(args: &[Value]) -> Res {
    Ok(Value::Int(v_arg("minor", &args[0])?.minor as i64))
}

fn semver_patch(args: &[Value]) -> Res {
    Ok(Value::Int(v_arg("patch", &args[0])?.patch as i64))
}

fn v_cmp(function: &str, args: &[Value]) -> Result<Ordering, ExecutionError> {
    Ok(v_arg(function, &args[0])?.compare(v_arg(function, &args[1])?))
}

fn semver_compare_to(args: &[Value]) -> Res {
    Ok(ordering_int(v_cmp("compareTo", args)?))
}

fn semver_is_less_than(args: &[Value]) -> Res {
    Ok(Value::Bool(v_cmp("isLessThan", args)? == Ordering::Less))
}

fn semver_is_greater_than(args: &[Value]) -> Res {
    Ok(Value::Bool(
        v_cmp("isGreaterThan", args)? == Ordering::Greater,
    ))
}

#[cfg(test)]
mod tests {
    use crate::cel::{CelError, Value, Vars, eval_str};
    use std::sync::Arc;

    fn eval(e: &str) -> Result<Value, CelError> {
        eval_str(e, &Vars::new())
    }

    /// Asserts that each expression evaluates to `true`.
    fn all_true(exprs: &[&str]) {
        for e in exprs {
            assert_eq!(eval(e), Ok(Value::Bool(true)), "{e}");
        }
    }

    /// Asserts that each expression fails with an error containing the text.
    fn all_err(cases: &[(&str, &str)]) {
        for (e, want) in cases {
            match eval(e) {
                Err(CelError::Eval(m)) => assert!(m.contains(want), "{e}: {m}"),
                other => panic!("{e}: expected an error containing {want:?}, got {other:?}"),
            }
        }
    }

    fn s(v: &str) -> Value {
        Value::String(Arc::new(v.to_string()))
    }

    #[test]
    fn registration_succeeds_on_a_fresh_environment() {
        let mut env = cel::Env::stdlib();
        cel::extensions::strings(&mut env).unwrap();
        cel::extensions::lists(&mut env).unwrap();
        cel::extensions::encoders(&mut env).unwrap();
        assert_eq!(super::register(&mut env), Ok(()));
    }

    #[test]
    fn regex_find_and_find_all() {
        assert_eq!(eval("'abc 123'.find('[0-9]+')"), Ok(s("123")));
        assert_eq!(eval("'abc'.find('[0-9]+')"), Ok(s("")));
        all_true(&[
            "'123 abc 456'.findAll('[0-9]+') == ['123', '456']",
            "'123 abc 456'.findAll('[0-9]+', 1) == ['123']",
            "'123 abc 456'.findAll('[0-9]+', 0) == []",
            "'123 abc 456'.findAll('[0-9]+', -1) == ['123', '456']",
            "'abc'.findAll('[0-9]+') == []",
            // `matches` (stdlib) still works alongside.
            "'abc'.matches('^a')",
        ]);
        all_err(&[
            ("'abc'.find('[')", "Illegal regex"),
            ("'abc'.findAll('(')", "Illegal regex"),
        ]);
    }

    #[test]
    fn lists_is_sorted_sum_min_max() {
        all_true(&[
            "[1, 2, 3].isSorted()",
            "['a', 'b', 'b', 'c'].isSorted()",
            "![2.0, 1.0].isSorted()",
            "[1].isSorted()",
            "[].isSorted()",
            "[1, 3].sum() == 4",
            "[1.0, 3.0].sum() == 4.0",
            "[].sum() == 0",
            "[1, 2.5].sum() == 3.5",
            "[duration('1m'), duration('1s')].sum() == duration('61s')",
            "[1, 3].min() == 1",
            "[1, 3].max() == 3",
            "[1].min() == 1",
            "([0] + []).min() == 0",
            "['b', 'a', 'c'].max() == 'c'",
            "[3, 1.5, 2].min() == 1.5",
        ]);
        all_err(&[
            ("[].min()", "min called on empty list"),
            ("[].max()", "max called on empty list"),
            ("[9223372036854775807, 1].sum()", "overflow"),
            ("[1, 'a'].isSorted()", "compared"),
            ("[{}].min()", "no such overload"),
        ]);
    }

    #[test]
    fn lists_index_of_alongside_the_strings_extension() {
        all_true(&[
            "[1, 2, 2, 3].indexOf(2) == 1",
            "['a', 'b', 'b', 'c'].lastIndexOf('b') == 2",
            "[1.0].indexOf(1.1) == -1",
            "[].indexOf('string') == -1",
            "[1, 2].lastIndexOf(3) == -1",
            // The strings extension's overloads still answer for strings.
            "'abc'.indexOf('b') == 1",
            "'abcb'.lastIndexOf('b') == 3",
            "'abcabc'.indexOf('b', 2) == 4",
        ]);
    }

    #[test]
    fn sets() {
        all_true(&[
            "sets.contains([], [])",
            "sets.contains([1, 2, 3, 4], [2, 3])",
            "!sets.contains([1, 2, 3], [4])",
            "sets.contains([1, 2], [1.0])",
            "sets.equivalent([], [])",
            "sets.equivalent([1], [1, 1])",
            "sets.equivalent([1, 2, 3], [3u, 2.0, 1])",
            "!sets.equivalent([1, 2], [2, 2, 2, 3])",
            "sets.intersects([1], [1, 2])",
            "sets.intersects([[1], [2, 3]], [[1, 2], [2, 3.0]])",
            "!sets.intersects([], [])",
            "!sets.intersects([1], [2])",
        ]);
    }

    #[test]
    fn urls() {
        all_true(&[
            "url('https://example.com:80/').getHost() == 'example.com:80'",
            "url('https://example.com/').getHost() == 'example.com'",
            "url('https://[::1]:80/').getHost() == '[::1]:80'",
            "url('https://[::1]/').getHost() == '[::1]'",
            "url('/path').getHost() == ''",
            "url('https://example.com:80/').getHostname() == 'example.com'",
            "url('https://127.0.0.1:80/').getHostname() == '127.0.0.1'",
            "url('https://[::1]:80/').getHostname() == '::1'",
            "url('/path').getHostname() == ''",
            "url('https://example.com:80/').getPort() == '80'",
            "url('https://example.com/').getPort() == ''",
            "url('/path').getPort() == ''",
            "url('https://example.com/path').getScheme() == 'https'",
            "url('HTTP://example.com/').getScheme() == 'http'",
            "url('/path').getScheme() == ''",
            "url('https://example.com/path').getEscapedPath() == '/path'",
            "url('https://example.com/path with spaces/').getEscapedPath() == '/path%20with%20spaces/'",
            "url('https://example.com/a%2Fb').getEscapedPath() == '/a%2Fb'",
            "url('https://example.com/').getEscapedPath() == '/'",
            "url('https://example.com').getEscapedPath() == ''",
            "url('https://example.com/path?k1=a&k2=b&k2=c').getQuery() == {'k1': ['a'], 'k2': ['b', 'c']}",
            "url('https://example.com/path?key with spaces=value with spaces').getQuery() == {'key with spaces': ['value with spaces']}",
            "url('https://example.com/path?a=1+2&b=%41').getQuery() == {'a': ['1 2'], 'b': ['A']}",
            "url('https://example.com/path?').getQuery() == {}",
            "url('https://example.com/path').getQuery() == {}",
            "url('https://example.com/p?q=1#frag').getQuery() == {'q': ['1']}",
            "url('https://user:pw@example.com/').getHost() == 'example.com'",
            "url('https://example.com/') == url('https://example.com/')",
            "isURL('https://example.com:80/path?query=val#fragment')",
            "isURL('/path')",
            "!isURL('example.com')",
            "!isURL('')",
            "!isURL('https://example.com:8a/')",
            "!isURL('https://[::1/')",
            "!isURL('https://exa mple.com/')",
            "!isURL('/a%zz')",
            "isURL('mailto:someone@example.com')",
        ]);
        all_err(&[
            (
                "url('example.com')",
                "URL parse error during conversion from string",
            ),
            ("url('example.com')", "invalid URI for request"),
            ("url(':foo')", "missing protocol scheme"),
            ("url('https://example.com:8a/')", "invalid port"),
            ("url('https://[1.2.3.4]/')", "invalid IP-literal"),
        ]);
    }

    #[test]
    fn ips() {
        all_true(&[
            "isIP('127.0.0.1')",
            "isIP('::1')",
            "!isIP('127.0.0.256')",
            "!isIP(':::1')",
            "!isIP('010.0.0.1')",
            "!isIP('::ffff:1.2.3.4')",
            "!isIP('fe80::1%eth0')",
            "ip('127.0.0.1').family() == 4",
            "ip('::1').family() == 6",
            "ip('0.0.0.0').isUnspecified()",
            "!ip('127.0.0.1').isUnspecified()",
            "ip('::').isUnspecified()",
            "ip('127.0.0.1').isLoopback()",
            "!ip('192.168.0.1').isLoopback()",
            "ip('::1').isLoopback()",
            "!ip('2001:db8::abcd').isLoopback()",
            "ip('224.0.0.1').isLinkLocalMulticast()",
            "!ip('224.0.1.1').isLinkLocalMulticast()",
            "ip('ff02::1').isLinkLocalMulticast()",
            "!ip('fd00::1').isLinkLocalMulticast()",
            "ip('169.254.169.254').isLinkLocalUnicast()",
            "!ip('192.168.0.1').isLinkLocalUnicast()",
            "ip('fe80::1').isLinkLocalUnicast()",
            "!ip('fd80::1').isLinkLocalUnicast()",
            "ip('192.168.0.1').isGlobalUnicast()",
            "!ip('255.255.255.255').isGlobalUnicast()",
            "ip('2001:db8::abcd').isGlobalUnicast()",
            "!ip('ff00::1').isGlobalUnicast()",
            "ip('fd00::1').isGlobalUnicast()",
            "string(ip('127.0.0.1')) == '127.0.0.1'",
            "string(ip('2001:DB8:0:0:0:0:0:1')) == '2001:db8::1'",
            "ip('::1') == ip('0:0::1')",
            "ip('127.0.0.1') != ip('127.0.0.2')",
            "ip.isCanonical('127.0.0.1')",
            "ip.isCanonical('2001:db8::abcd')",
            "!ip.isCanonical('2001:DB8::ABCD')",
            "!ip.isCanonical('2001:db8:0:0:0:0:2:1')",
            // `string` keeps its standard overloads.
            "string(1) == '1'",
            "string(true) == 'true'",
        ]);
        all_err(&[
            (
                "ip('127.0.0.256')",
                "IP Address \"127.0.0.256\" parse error",
            ),
            ("ip('::ffff:1.2.3.4')", "IPv4-mapped IPv6 address"),
            ("ip('fe80::1%eth0')", "with zone value is not allowed"),
            ("ip.isCanonical('nope')", "parse error"),
        ]);
    }

    #[test]
    fn cidrs() {
        all_true(&[
            "isCIDR('192.168.0.0/24')",
            "isCIDR('2001:db8::/32')",
            "!isCIDR('192.168.0.0')",
            "!isCIDR('192.168.0.0/33')",
            "!isCIDR('192.168.0.0/024')",
            "!isCIDR('::ffff:1.2.3.4/120')",
            "cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))",
            "!cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))",
            "cidr('192.168.0.0/24').containsIP('192.168.0.1')",
            "!cidr('192.168.0.0/24').containsIP('192.168.1.1')",
            "!cidr('0.0.0.0/0').containsIP('::1')",
            "cidr('192.168.0.0/24').containsCIDR(cidr('192.168.0.0/25'))",
            "!cidr('192.168.0.0/24').containsCIDR(cidr('192.168.0.0/23'))",
            "cidr('192.168.0.0/24').containsCIDR('192.168.0.0/25')",
            "!cidr('192.168.0.0/24').containsCIDR('192.168.0.0/23')",
            // Kubernetes compares the other CIDR's address as written with the masked network.
            "!cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')",
            "cidr('2001:db8::/32').containsIP(ip('2001:db8::1'))",
            "!cidr('2001:db8::/32').containsIP('2001:dc8::1')",
            "cidr('2001:db8::/32').containsCIDR(cidr('2001:db8::/33'))",
            "!cidr('2001:db8::/32').containsCIDR('2001:db8::/31')",
            "cidr('192.168.0.1/24').ip() == ip('192.168.0.1')",
            "cidr('192.168.0.1/24').ip().family() == 4",
            "cidr('::1/128').ip() == ip('::1')",
            "cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')",
            "cidr('192.168.0.0/24') == cidr('192.168.0.0/24').masked()",
            "cidr('192.168.0.1/24') != cidr('192.168.0.1/24').masked()",
            "cidr('2001:db8:1::/32').masked() == cidr('2001:db8::/32')",
            "cidr('192.168.0.0/16').prefixLength() == 16",
            "cidr('::1/128').prefixLength() == 128",
            "string(cidr('192.168.0.0/24')) == '192.168.0.0/24'",
            "string(cidr('192.168.0.1/24').masked()) == '192.168.0.0/24'",
        ]);
        all_err(&[
            (
                "cidr('192.168.0.0/')",
                "network address parse error during conversion from string: network address \
                 parse error during conversion from string: netip.ParsePrefix(\"192.168.0.0/\"): \
                 bad bits after slash: \"\"",
            ),
            ("cidr('10.0.0.0')", "no '/'"),
            ("cidr('10.0.0.0/40')", "prefix length out of range"),
            ("cidr('::ffff:1.2.3.4/120')", "IPv4-mapped IPv6 address"),
            ("cidr('10.0.0.0/8').containsIP('nope')", "parse error"),
            ("cidr('10.0.0.0/8').containsCIDR('nope')", "no '/'"),
        ]);
    }

    #[test]
    fn quantities_parse() {
        all_true(&[
            "isQuantity('1.3G')",
            "isQuantity('1.3Gi')",
            "!isQuantity('1,3G')",
            "isQuantity('10000k')",
            "!isQuantity('200K')",
            "!isQuantity('Three')",
            "isQuantity('20')",
            "isQuantity('20M')",
            "isQuantity('20Mi')",
            "!isQuantity('20Mo')",
            "!isQuantity('10Mm')",
            "!isQuantity('')",
            "isQuantity('1e3')",
            "isQuantity('1E-3')",
            "isQuantity('-1.5')",
            "isQuantity('.5')",
            "!isQuantity(' 1')",
            "quantity('200M') == quantity('200M')",
            "quantity('200M') == quantity('0.2G') && quantity('0.2G') == quantity('200M')",
            "quantity('2M') == quantity('0.002G') && quantity('2000k') == quantity('2M')",
            "quantity('200M') != quantity('0.3G')",
            "quantity('1') == quantity('1000m')",
            "quantity('1Ki') == quantity('1024')",
            "quantity('1e3') == quantity('1k')",
            "quantity('1.5Gi') == quantity('1536Mi')",
            // Beyond int64 precision: rounded up to nano units, capped at the largest int64.
            "quantity('0.0000000001') == quantity('1n')",
            "quantity('9999999999999999999999999999999999999G') == quantity('9223372036854775807')",
        ]);
        all_err(&[
            (
                "quantity('10Mo')",
                "quantities must match the regular expression",
            ),
            ("quantity('10Mm')", "unable to parse quantity's suffix"),
            ("quantity('200K')", "unable to parse quantity's suffix"),
            ("quantity('Three')", "quantities must match"),
        ]);
    }

    #[test]
    fn quantities_scalars_and_arithmetic() {
        all_true(&[
            "quantity('50000000G').isInteger()",
            "quantity('50k').isInteger()",
            "quantity('50').isInteger()",
            "!quantity('9999999999999999999999999999999999999G').isInteger()",
            "!quantity('1.5').isInteger()",
            // Go keeps 1000m as 1000 × 10⁻³, which AsInt64 refuses.
            "!quantity('1000m').isInteger()",
            "quantity('50k').asInteger() == 50000",
            "quantity('50.703k').asApproximateFloat() == 50703.0",
            "quantity('1536Mi').asInteger() == 1610612736",
            // A binary suffix on a fraction takes Go's exact (inf.Dec) path: not an int64 form.
            "!quantity('1.5Gi').isInteger()",
            "quantity('50k').sub(20000).asApproximateFloat() == 30000.0",
            "quantity('-5').sign() == -1",
            "quantity('0').sign() == 0",
            "quantity('3m').sign() == 1",
            "sign(quantity('-1Ki')) == -1",
            "quantity('50k').add(quantity('20k')) == quantity('70k')",
            "quantity('50k').add(20) == quantity('50020')",
            "quantity('50k').sub(quantity('20k')) == quantity('30k')",
            "quantity('50k').sub(20000) == quantity('30k')",
            "quantity('50k').add(20).sub(quantity('100k')).sub(-50000) == quantity('20')",
            "quantity('50k').add(quantity('20')) == quantity('50.02k')",
            "!quantity('50k').add(20).isLessThan(quantity('50020'))",
            "quantity('50k').sub(quantity('20')) == quantity('49.98k')",
            "quantity('50k').add(20).sub(quantity('100k')).asInteger() == -49980",
            "quantity('1').add(quantity('500m')) == quantity('1.5')",
            "quantity('9223372036854775807').add(1).asApproximateFloat() > 9.2e18",
            "!quantity('9223372036854775807').add(1).isInteger()",
            "quantity('200M').compareTo(quantity('0.2G')) == 0",
            "quantity('50M').compareTo(quantity('50Mi')) == -1",
            "quantity('50Mi').compareTo(quantity('50M')) == 1",
            "quantity('150Mi').isGreaterThan(quantity('100Mi'))",
            "!quantity('50Mi').isGreaterThan(quantity('100Mi'))",
            "quantity('50M').isLessThan(quantity('100M'))",
            "!quantity('100M').isLessThan(quantity('50M'))",
            "quantity('50M').isLessThan(quantity('50Mi'))",
            "quantity('-1').isLessThan(quantity('1n'))",
            "quantity('1e100').isGreaterThan(quantity('9223372036854775807'))",
        ]);
        all_err(&[
            (
                "quantity('9999999999999999999999999999999999999G').asInteger()",
                "cannot convert value to integer",
            ),
            (
                "quantity('50.5').asInteger()",
                "cannot convert value to integer",
            ),
            (
                "quantity('1000m').asInteger()",
                "cannot convert value to integer",
            ),
            (
                "quantity('1.5Gi').asInteger()",
                "cannot convert value to integer",
            ),
        ]);
    }

    #[test]
    fn semvers() {
        all_true(&[
            "isSemver('1.0.0')",
            "isSemver('0.1.0-alpha.1')",
            "isSemver('1.0.0-rc.1+build.5')",
            "!isSemver('hello')",
            "!isSemver('v1.0')",
            "!isSemver('1.0')",
            "!isSemver('01.0.0')",
            "!isSemver('1.0.0-01')",
            "!isSemver('1.0.0+')",
            "isSemver('v1.0', true)",
            "isSemver('1.0', true)",
            "isSemver('01.01.01', true)",
            "!isSemver('1.0-alpha', true)",
            "!isSemver('v1.0.0', false)",
            "semver('v1.0.0', true) == semver('1.0.0')",
            "semver('1.0', true) == semver('1.0.0')",
            "semver('01.01.01', true) == semver('1.1.1')",
            "semver('1', true) == semver('1.0.0')",
            "semver('1.2.3').major() == 1",
            "semver('1.2.3').minor() == 2",
            "semver('1.2.3').patch() == 3",
            "semver('1.2.3').compareTo(semver('1.2.3')) == 0",
            "semver('1.2.3').compareTo(semver('2.0.0')) == -1",
            "semver('1.2.3').compareTo(semver('0.1.2')) == 1",
            "semver('1.0.0-alpha').isLessThan(semver('1.0.0'))",
            "semver('1.0.0-alpha').isLessThan(semver('1.0.0-alpha.1'))",
            "semver('1.0.0-alpha.1').isLessThan(semver('1.0.0-alpha.beta'))",
            "semver('1.0.0-beta.2').isLessThan(semver('1.0.0-beta.11'))",
            "semver('1.0.0-rc.1').isLessThan(semver('1.0.0'))",
            "semver('2.0.0').isGreaterThan(semver('1.10.0'))",
            "!semver('1.0.0').isGreaterThan(semver('1.0.0'))",
            "semver('1.0.0+a') == semver('1.0.0+b')",
        ]);
        all_err(&[
            ("semver('200K')", "No Major.Minor.Patch elements found"),
            ("semver('Three')", "No Major.Minor.Patch elements found"),
            (
                "semver('1.0.x')",
                "Invalid character(s) found in patch number",
            ),
            (
                "semver('01.0.0')",
                "Major number must not contain leading zeroes",
            ),
            (
                "semver('1.0-rc', true)",
                "short version cannot contain PreRelease/Build meta data",
            ),
        ]);
    }

    #[test]
    fn library_values_through_variables_and_types() {
        let mut v = Vars::new();
        v.set_json(
            "object",
            &serde_json::json!({"spec": {"cpu": "500m", "cidr": "10.0.0.0/8", "ports": [443, 80]}}),
        );
        let t = |e: &str| eval_str(e, &v);
        assert_eq!(
            t("quantity(object.spec.cpu).isLessThan(quantity('1'))"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t("cidr(object.spec.cidr).containsIP('10.1.2.3')"),
            Ok(Value::Bool(true))
        );
        assert_eq!(t("object.spec.ports.min()"), Ok(Value::Int(80)));
        assert_eq!(t("object.spec.ports.indexOf(80)"), Ok(Value::Int(1)));
        // A library function on the wrong type is an overload error, not a panic.
        assert!(matches!(t("quantity(1)"), Err(CelError::Eval(_))));
        assert!(matches!(
            t("ip('1.2.3.4').getHost()"),
            Err(CelError::Eval(_))
        ));
        assert!(matches!(
            t("semver('1.0.0').isLessThan(quantity('1'))"),
            Err(CelError::Eval(_))
        ));
    }
}
