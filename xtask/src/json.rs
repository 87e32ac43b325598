//! Just enough JSON for benchmark records, std only: a value type with a
//! pretty printer, and a string-field lookup for `cargo metadata` output.

/// A JSON value. Objects keep their insertion order (records read top-down).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Written with Rust's shortest round-trip formatting; NaN/inf become null.
    Num(f64),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj() -> Json {
        Json::Obj(Vec::new())
    }

    /// Add `key: value` to an object (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        self.push(key, value);
        self
    }

    /// Add `key: value` to an object.
    pub fn push(&mut self, key: &str, value: impl Into<Json>) {
        match self {
            Json::Obj(fields) => fields.push((key.to_string(), value.into())),
            _ => panic!("Json::push on a non-object"),
        }
    }

    /// Pretty-printed, two-space indentation; arrays of scalars on one line.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Json::Arr(_) | Json::Obj(_))
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(v) => {
                if v.is_finite() {
                    if v.fract() == 0.0 && v.abs() < 1e15 {
                        out.push_str(&format!("{}", *v as i64));
                    } else {
                        out.push_str(&format!("{v}"));
                    }
                } else {
                    out.push_str("null");
                }
            }
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                } else if items.iter().all(Json::is_scalar) {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        item.write(out, indent);
                    }
                    out.push(']');
                } else {
                    out.push_str("[\n");
                    for (i, item) in items.iter().enumerate() {
                        pad(out, indent + 1);
                        item.write(out, indent + 1);
                        out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                    }
                    pad(out, indent);
                    out.push(']');
                }
            }
            Json::Obj(fields) => {
                if fields.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    pad(out, indent + 1);
                    write_str(out, k);
                    out.push_str(": ");
                    v.write(out, indent + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}
impl From<&String> for Json {
    fn from(s: &String) -> Json {
        Json::Str(s.clone())
    }
}
impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<f64> for Json {
    fn from(v: f64) -> Json {
        Json::Num(v)
    }
}
impl From<usize> for Json {
    fn from(v: usize) -> Json {
        Json::Int(v as i64)
    }
}
impl From<u64> for Json {
    fn from(v: u64) -> Json {
        Json::Int(v as i64)
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Json {
        v.map_or(Json::Null, Into::into)
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Json {
        Json::Arr(v.into_iter().map(Into::into).collect())
    }
}

/// In compact JSON such as `cargo metadata` prints: the value of the first
/// string field `"field":"..."` at or after byte `from`, unescaped.
pub fn string_field_after(json: &str, from: usize, field: &str) -> Option<String> {
    let pat = format!("\"{field}\":\"");
    let start = json.get(from..)?.find(&pat)? + from + pat.len();
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other), // \" \\ \/
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_printing() {
        let j = Json::obj()
            .with("name", "a \"q\"\n\\")
            .with("n", 3.0)
            .with("x", 2.5)
            .with("nan", f64::NAN)
            .with("list", vec![1.0, 2.0])
            .with("none", Option::<String>::None)
            .with("objs", vec![Json::obj().with("k", true)])
            .with("empty", Json::Arr(vec![]));
        assert_eq!(
            j.pretty(),
            "{\n  \"name\": \"a \\\"q\\\"\\n\\\\\",\n  \"n\": 3,\n  \"x\": 2.5,\n  \"nan\": null,\n  \
             \"list\": [1, 2],\n  \"none\": null,\n  \"objs\": [\n    {\n      \"k\": true\n    }\n  ],\n  \
             \"empty\": []\n}\n"
        );
    }

    #[test]
    fn string_fields() {
        let meta = r#"{"packages":[{"name":"mimalloc","version":"0.1.52","dependencies":[{"name":"libmimalloc-sys","req":"^0.1"}],"manifest_path":"/r/mimalloc-0.1.52/Cargo.toml"},{"name":"libmimalloc-sys","version":"0.1.49","manifest_path":"/r/a\"b\\c\/libmimalloc-sys-0.1.49/Cargo.toml"}]}"#;
        let at = meta.find(r#""name":"libmimalloc-sys","version":""#).unwrap();
        assert_eq!(string_field_after(meta, at, "version").unwrap(), "0.1.49");
        assert_eq!(
            string_field_after(meta, at, "manifest_path").unwrap(),
            "/r/a\"b\\c/libmimalloc-sys-0.1.49/Cargo.toml"
        );
        assert_eq!(string_field_after(meta, at, "nothing"), None);
    }
}
