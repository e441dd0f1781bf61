//! Just enough of Prometheus to check the chart's queries against what the operator exports: the
//! text exposition parsed into series, the metric names a parsed PromQL expression reads, and an
//! evaluator for the subset of PromQL the alert rules use, driven by `promql-parser`'s AST.
//!
//! The evaluator supports number literals, parentheses, instant vector selectors (with the
//! usual 5-minute lookback), `rate` and `increase` over range selectors, the aggregations `sum`,
//! `max`, `min` and `count` with `by`/`without`, arithmetic and comparison operators between a
//! vector and a scalar (comparisons filter, as without `bool`) and between scalars. Anything else
//! is an error, never a silent wrong answer. Unlike Prometheus, `rate`/`increase` do not
//! extrapolate to the window's edges: they take the change between the window's first and last
//! samples (with counter resets), which is what a test with a handful of scrapes can check.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::{METRIC_NAME, MatchOp, Matchers};
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, VectorSelector,
};

/// A series' labels, `__name__` included.
pub type Labels = BTreeMap<String, String>;

/// A series' samples: (time in seconds, value), oldest first.
type Samples = Vec<(f64, f64)>;

/// How far back an instant selector looks for a sample (Prometheus's default lookback delta).
const LOOKBACK_SECONDS: f64 = 300.0;

/// Samples by series, from one or more scrapes.
#[derive(Debug, Default)]
pub struct Store {
    series: BTreeMap<Labels, Samples>,
    /// Metric names the scrapes declared with `# TYPE`, expanded to the names their samples take.
    declared: BTreeSet<String>,
}

impl Store {
    /// Adds a scrape taken at `at` (seconds) of a text exposition (Prometheus or OpenMetrics).
    pub fn add_scrape(&mut self, at: f64, text: &str) -> Result<(), String> {
        for line in text.lines() {
            if let Some(declaration) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declaration
                    .split_once(' ')
                    .ok_or_else(|| format!("malformed TYPE line {line:?}"))?;
                let suffixes: &[&str] = match kind {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_count", "_sum"],
                    "summary" => &["", "_count", "_sum"],
                    _ => &[""],
                };
                for suffix in suffixes {
                    self.declared.insert(format!("{name}{suffix}"));
                }
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (labels, value) = parse_sample(line)?;
            self.series.entry(labels).or_default().push((at, value));
        }
        Ok(())
    }

    /// Every metric name the scrapes showed: declared families and sampled series.
    pub fn metric_names(&self) -> BTreeSet<String> {
        let sampled = self.series.keys().map(|l| l[METRIC_NAME].clone());
        self.declared.iter().cloned().chain(sampled).collect()
    }

    /// The newest value of the series with exactly these labels.
    pub fn latest(&self, labels: &Labels) -> Option<f64> {
        self.series.get(labels)?.last().map(|(_, v)| *v)
    }

    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
    ) -> Result<impl Iterator<Item = (&'a Labels, &'a Samples)> + 'a, String> {
        if selector.offset.is_some() || selector.at.is_some() {
            return Err(format!("{selector}: offset and @ are not supported"));
        }
        if !selector.matchers.or_matchers.is_empty() {
            return Err(format!("{selector}: `or` matchers are not supported"));
        }
        Ok(self
            .series
            .iter()
            .filter(move |(labels, _)| selects(selector, labels)))
    }
}

fn selects(selector: &VectorSelector, labels: &Labels) -> bool {
    let name = &labels[METRIC_NAME];
    selector.name.as_ref().is_none_or(|n| n == name)
        && selector.matchers.matchers.iter().all(|m| {
            let value = labels.get(&m.name).map(String::as_str).unwrap_or("");
            // The parser anchors regular expressions as Prometheus does.
            m.is_match(value)
        })
}

/// One sample line: `name{label="value",…} value [timestamp]`.
fn parse_sample(line: &str) -> Result<(Labels, f64), String> {
    let bad = || format!("malformed sample line {line:?}");
    let name_end = line.find(['{', ' ']).ok_or_else(bad)?;
    let mut labels = Labels::new();
    labels.insert(METRIC_NAME.to_owned(), line[..name_end].to_owned());
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        rest = parse_labels(inner, &mut labels).ok_or_else(bad)?;
    }
    let value = rest.split_whitespace().next().ok_or_else(bad)?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| bad())?,
    };
    Ok((labels, value))
}

/// Parses `label="value",…}` into `labels`; returns what follows the closing brace.
fn parse_labels<'a>(mut text: &'a str, labels: &mut Labels) -> Option<&'a str> {
    loop {
        text = text.trim_start_matches(',');
        if let Some(rest) = text.strip_prefix('}') {
            return Some(rest);
        }
        let (name, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        text = &rest[end + 1..];
    }
}

/// The metric names an expression reads (every vector and range selector).
pub fn metric_names(expr: &Expr) -> Result<BTreeSet<String>, String> {
    let mut names = BTreeSet::new();
    collect_names(expr, &mut names)?;
    Ok(names)
}

fn collect_names(expr: &Expr, out: &mut BTreeSet<String>) -> Result<(), String> {
    match expr {
        Expr::VectorSelector(vs) => out.insert(selector_name(vs)?),
        Expr::MatrixSelector(ms) => out.insert(selector_name(&ms.vs)?),
        Expr::Aggregate(a) => {
            if let Some(param) = &a.param {
                collect_names(param, out)?;
            }
            return collect_names(&a.expr, out);
        }
        Expr::Binary(b) => {
            collect_names(&b.lhs, out)?;
            return collect_names(&b.rhs, out);
        }
        Expr::Unary(u) => return collect_names(&u.expr, out),
        Expr::Paren(p) => return collect_names(&p.expr, out),
        Expr::Subquery(s) => return collect_names(&s.expr, out),
        Expr::Call(c) => {
            for arg in &c.args.args {
                collect_names(arg, out)?;
            }
            return Ok(());
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => return Ok(()),
        Expr::Extension(_) => return Err("extension expressions are not PromQL".into()),
    };
    Ok(())
}

/// A selector's metric name, from its name or an equality matcher on `__name__`.
fn selector_name(vs: &VectorSelector) -> Result<String, String> {
    if let Some(name) = &vs.name {
        return Ok(name.clone());
    }
    find_name_matcher(&vs.matchers).ok_or_else(|| format!("{vs}: no metric name"))
}

fn find_name_matcher(matchers: &Matchers) -> Option<String> {
    matchers
        .matchers
        .iter()
        .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
        .map(|m| m.value.clone())
}

/// The value of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

impl Value {
    pub fn vector(self) -> Result<Vec<(Labels, f64)>, String> {
        match self {
            Value::Vector(v) => Ok(v),
            Value::Scalar(s) => Err(format!("a scalar ({s}) where a vector was expected")),
        }
    }
}

/// Evaluates `expr` at time `at` (seconds, on the clock of the scrapes' `at`).
pub fn eval(expr: &Expr, store: &Store, at: f64) -> Result<Value, String> {
    match expr {
        Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
        Expr::Paren(p) => eval(&p.expr, store, at),
        Expr::VectorSelector(vs) => Ok(Value::Vector(
            store
                .select(vs)?
                .filter_map(|(labels, samples)| {
                    let (t, v) = samples.iter().rev().find(|(t, _)| *t <= at)?;
                    (at - t <= LOOKBACK_SECONDS).then(|| (labels.clone(), *v))
                })
                .collect(),
        )),
        Expr::Call(call) => eval_call(call, store, at),
        Expr::Aggregate(aggregate) => eval_aggregate(aggregate, store, at),
        Expr::Binary(binary) => eval_binary(binary, store, at),
        other => Err(format!("{other}: not supported by this evaluator")),
    }
}

fn eval_call(call: &Call, store: &Store, at: f64) -> Result<Value, String> {
    let name = call.func.name;
    let [arg] = call.args.args.as_slice() else {
        return Err(format!("{name}: one argument expected"));
    };
    let Expr::MatrixSelector(MatrixSelector { vs, range }) = arg.as_ref() else {
        return Err(format!("{name}({arg}): not supported by this evaluator"));
    };
    let window = range.as_secs_f64();
    let per_second = match name {
        "rate" => true,
        "increase" => false,
        _ => {
            return Err(format!(
                "function {name} is not supported by this evaluator"
            ));
        }
    };
    let mut out = Vec::new();
    for (labels, samples) in store.select(vs)? {
        let inside: Vec<&(f64, f64)> = samples
            .iter()
            .filter(|(t, _)| *t <= at && *t > at - window)
            .collect();
        let [first, .., last] = inside.as_slice() else {
            continue;
        };
        // A counter that went down was reset: count what it had before.
        let increase: f64 = inside
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0].1, w[1].1);
                if b < a { b } else { b - a }
            })
            .sum();
        let value = if per_second {
            increase / (last.0 - first.0)
        } else {
            increase
        };
        out.push((without_name(labels), value));
    }
    Ok(Value::Vector(out))
}

fn without_name(labels: &Labels) -> Labels {
    let mut labels = labels.clone();
    labels.remove(METRIC_NAME);
    labels
}

fn eval_aggregate(aggregate: &AggregateExpr, store: &Store, at: f64) -> Result<Value, String> {
    if aggregate.param.is_some() {
        return Err(format!("{}: parameters are not supported", aggregate.op));
    }
    let input = eval(&aggregate.expr, store, at)?.vector()?;
    let grouping = |labels: &Labels| -> Labels {
        match &aggregate.modifier {
            Some(LabelModifier::Include(keep)) => labels
                .iter()
                .filter(|(k, _)| keep.labels.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Some(LabelModifier::Exclude(drop)) => labels
                .iter()
                .filter(|(k, _)| !drop.labels.contains(k) && k.as_str() != METRIC_NAME)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => Labels::new(),
        }
    };
    let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
    for (labels, value) in input {
        groups.entry(grouping(&labels)).or_default().push(value);
    }
    let op = aggregate.op.to_string();
    let fold = |values: &[f64]| -> Result<f64, String> {
        Ok(match op.as_str() {
            "sum" => values.iter().sum(),
            "max" => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "min" => values.iter().copied().fold(f64::INFINITY, f64::min),
            "count" => values.len() as f64,
            other => return Err(format!("aggregation {other} is not supported")),
        })
    };
    let mut out = Vec::new();
    for (labels, values) in groups {
        out.push((labels, fold(&values)?));
    }
    Ok(Value::Vector(out))
}

fn eval_binary(binary: &BinaryExpr, store: &Store, at: f64) -> Result<Value, String> {
    if binary.modifier.as_ref().is_some_and(|m| m.return_bool) {
        return Err(format!("{binary}: `bool` is not supported"));
    }
    let op = binary.op.to_string();
    let comparison = binary.op.is_comparison_operator();
    let apply = |a: f64, b: f64| -> Result<f64, String> {
        Ok(match op.as_str() {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            "==" => f64::from(a == b),
            "!=" => f64::from(a != b),
            ">" => f64::from(a > b),
            "<" => f64::from(a < b),
            ">=" => f64::from(a >= b),
            "<=" => f64::from(a <= b),
            other => return Err(format!("operator {other} is not supported")),
        })
    };
    let lhs = eval(&binary.lhs, store, at)?;
    let rhs = eval(&binary.rhs, store, at)?;
    // With a scalar on either side, each element of the vector meets the scalar; a comparison
    // keeps the element as it was where it holds, arithmetic drops the metric name.
    let each = |v: Vec<(Labels, f64)>, op: &dyn Fn(f64) -> Result<f64, String>| {
        let mut out = Vec::new();
        for (labels, value) in v {
            let result = op(value)?;
            if !comparison {
                out.push((without_name(&labels), result));
            } else if result == 1.0 {
                out.push((labels, value));
            }
        }
        Ok(Value::Vector(out))
    };
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) if !comparison => Ok(Value::Scalar(apply(a, b)?)),
        (Value::Scalar(_), Value::Scalar(_)) => {
            Err(format!("{binary}: scalar comparison needs `bool`"))
        }
        (Value::Vector(v), Value::Scalar(s)) => each(v, &|value| apply(value, s)),
        (Value::Scalar(s), Value::Vector(v)) => each(v, &|value| apply(s, value)),
        (Value::Vector(_), Value::Vector(_)) => Err(format!(
            "{binary}: operators between two vectors are not supported"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::parse;

    const SCRAPE_1: &str = r#"# HELP x_requests Requests.
# TYPE x_requests counter
x_requests_total{endpoint="list",status="200"} 10
x_requests_total{endpoint="list",status="500"} 1
x_requests_total{endpoint="token",status="error"} 0
# TYPE x_state gauge
x_state{name="a",state="ACTIVE"} 1
x_state{name="b",state="ACTIVE"} 0
x_state{name="c \"quoted\"",state="ACTIVE"} 0
# TYPE x_latency histogram
x_latency_bucket{le="+Inf"} 3
# EOF
"#;
    const SCRAPE_2: &str = r#"x_requests_total{endpoint="list",status="200"} 40
x_requests_total{endpoint="list",status="500"} 7
x_requests_total{endpoint="token",status="error"} 2
x_state{name="a",state="ACTIVE"} 1
x_state{name="b",state="ACTIVE"} 1
x_state{name="c \"quoted\"",state="ACTIVE"} 0
"#;

    fn store() -> Store {
        let mut store = Store::default();
        store.add_scrape(100.0, SCRAPE_1).unwrap();
        store.add_scrape(110.0, SCRAPE_2).unwrap();
        store
    }

    fn run(query: &str) -> Result<Vec<(Labels, f64)>, String> {
        let expr = parse(query).map_err(|e| format!("{query}: {e}"))?;
        eval(&expr, &store(), 110.0)?.vector()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn exposition_names_come_from_declarations_and_samples() {
        let names = store().metric_names();
        for name in [
            "x_requests_total",
            "x_state",
            "x_latency_bucket",
            "x_latency_count",
        ] {
            assert!(names.contains(name), "{name} in {names:?}");
        }
        assert!(!names.contains("x_requests"));
        let quoted = labels(&[
            ("__name__", "x_state"),
            ("name", "c \"quoted\""),
            ("state", "ACTIVE"),
        ]);
        assert_eq!(store().latest(&quoted), Some(0.0));
        assert!(
            Store::default()
                .add_scrape(0.0, "x_state{name=\"a\" 1")
                .is_err()
        );
    }

    #[test]
    fn names_of_an_expression_are_every_selector_it_reads() {
        let expr = parse(
            "histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) / on() group_left b{x=\"1\"} + time() - {__name__=\"c\"}",
        )
        .unwrap();
        let names: Vec<String> = metric_names(&expr).unwrap().into_iter().collect();
        assert_eq!(names, ["a_bucket", "b", "c"]);
    }

    #[test]
    fn selectors_and_comparisons_filter_with_the_latest_sample() {
        let found = run(r#"x_state{state="ACTIVE"} == 0"#).unwrap();
        assert_eq!(
            found,
            [(
                labels(&[
                    ("__name__", "x_state"),
                    ("name", "c \"quoted\""),
                    ("state", "ACTIVE")
                ]),
                0.0
            )]
        );
        assert_eq!(run(r#"x_state{name=~"a|b"} == 1"#).unwrap().len(), 2);
        assert_eq!(run(r#"x_state{name!~"a|b"} > 0"#).unwrap(), []);
        // A sample older than the lookback is not seen.
        let expr = parse("x_state").unwrap();
        assert_eq!(
            eval(&expr, &store(), 110.0 + 301.0).unwrap(),
            Value::Vector(vec![])
        );
    }

    #[test]
    fn rate_and_aggregations_group_as_prometheus_does() {
        let found = run(r#"sum without (endpoint, status) (rate(x_requests_total{status=~"error|5.."}[5m])) > 0.5"#)
            .unwrap();
        // (6 + 2) failed requests in 10 s: 0.8/s, one group without the dropped labels.
        assert_eq!(found, [(Labels::new(), 0.8)]);
        let by = run(r#"max by (endpoint) (increase(x_requests_total[1m]))"#).unwrap();
        assert_eq!(
            by,
            [
                (labels(&[("endpoint", "list")]), 30.0),
                (labels(&[("endpoint", "token")]), 2.0)
            ]
        );
        assert_eq!(run("count(x_state) * 2").unwrap(), [(Labels::new(), 6.0)]);
        // One sample in the window: no rate.
        assert_eq!(run("rate(x_requests_total[5s])").unwrap(), []);
    }

    #[test]
    fn a_counter_reset_counts_what_came_after_it() {
        let mut store = Store::default();
        store.add_scrape(0.0, "c_total 5\n").unwrap();
        store.add_scrape(10.0, "c_total 2\n").unwrap();
        store.add_scrape(20.0, "c_total 4\n").unwrap();
        let expr = parse("increase(c_total[1m])").unwrap();
        assert_eq!(
            eval(&expr, &store, 20.0).unwrap(),
            Value::Vector(vec![(Labels::new(), 4.0)])
        );
    }

    #[test]
    fn what_it_does_not_support_is_an_error() {
        for query in [
            "x_state offset 5m",
            "topk(1, x_state)",
            "x_state == bool 1",
            "x_state / x_state",
            "absent(x_state)",
            "x_state[5m]",
        ] {
            assert!(run(query).is_err(), "{query} evaluated");
        }
    }
}
