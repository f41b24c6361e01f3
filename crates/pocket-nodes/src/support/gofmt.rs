//! Go's `fmt` over template values: what `{{.x}}`, `print`, `println` and `printf` write in Go.
//!
//! Hand-written because it must match Go's output byte for byte (the template crate prints
//! with Rust's formatting: `1500000` where Go writes `1.5e+06`). Covered: `%v %+v %#v %T %d
//! %b %o %O %x %X %c %q %U %e %E %f %F %g %G %s %t %%`, the flags `+ - # 0` and space, width
//! and precision (also `*`), argument indexes (`%[2]d`), and Go's markers for what does not fit
//! (`%!d(string=hi)`, `%!d(MISSING)`, `%!(EXTRA int=1)`, `%!(NOVERB)`, `%!(BADWIDTH)`,
//! `%!(BADPREC)`, `%!d(BADINDEX)`). One deliberate difference: a JSON number is one type
//! in the Go original (`float64`), so the float verbs take integers too (`%.2f` of `5` is
//! `5.00`), as they do there.

use std::fmt::Write;

use gotmpl::Value as Tv;

/// Go's type name for a value (`%T`, and the markers).
pub(crate) fn type_name(value: &Tv) -> &'static str {
    match value {
        Tv::Nil => "<nil>",
        Tv::Bool(_) => "bool",
        Tv::Int(_) => "int",
        Tv::Uint(_) => "uint64",
        Tv::Float(_) => "float64",
        Tv::String(_) => "string",
        Tv::List(_) => "[]interface {}",
        Tv::Map(_) => "map[string]interface {}",
        Tv::Function(_) => "func",
        #[allow(unreachable_patterns)]
        _ => "string",
    }
}

/// What `{{pipeline}}` writes: `<no value>` for nil, otherwise `%v`.
pub(crate) fn action(value: &Tv) -> String {
    match value {
        Tv::Nil => "<no value>".into(),
        Tv::String(s) => s.to_string(),
        other => {
            let mut out = String::new();
            Spec::default().value(&mut out, other, 'v');
            out
        }
    }
}

/// `fmt.Sprint`: operands side by side, a space between two that are not strings.
pub(crate) fn sprint(args: &[Tv]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !matches!(arg, Tv::String(_)) && !matches!(args[i - 1], Tv::String(_)) {
            out.push(' ');
        }
        Spec::default().value(&mut out, arg, 'v');
    }
    out
}

/// `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn sprintln(args: &[Tv]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        Spec::default().value(&mut out, arg, 'v');
    }
    out.push('\n');
    out
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Tv]) -> String {
    let mut out = String::with_capacity(format.len() + 8 * args.len());
    let chars: Vec<char> = format.chars().collect();
    let mut next_arg = 0usize;
    let mut reordered = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        // Flags.
        while i < chars.len() {
            match chars[i] {
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            i += 1;
        }
        // An argument index, then the width.
        let mut bad_index = false;
        i = take_index(&chars, i, args.len(), &mut next_arg, &mut reordered, &mut bad_index);
        if chars.get(i) == Some(&'*') {
            i += 1;
            match args.get(next_arg) {
                Some(Tv::Int(n)) if !bad_index && n.unsigned_abs() <= 1_000_000 => {
                    spec.width = Some(n.unsigned_abs() as usize);
                    if *n < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            next_arg += 1;
        } else {
            let (n, after) = number(&chars, i);
            spec.width = n;
            i = after;
        }
        // The precision, which may have its own index.
        if chars.get(i) == Some(&'.') {
            i += 1;
            i = take_index(&chars, i, args.len(), &mut next_arg, &mut reordered, &mut bad_index);
            if chars.get(i) == Some(&'*') {
                i += 1;
                match args.get(next_arg) {
                    Some(Tv::Int(n)) if !bad_index && (0..=1_000_000).contains(n) => spec.precision = Some(*n as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
            } else {
                let (n, after) = number(&chars, i);
                spec.precision = Some(n.unwrap_or(0));
                i = after;
            }
        }
        i = take_index(&chars, i, args.len(), &mut next_arg, &mut reordered, &mut bad_index);
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        if bad_index {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        match args.get(next_arg) {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(arg) => {
                next_arg += 1;
                spec.value(&mut out, arg, verb);
            }
        }
    }
    if !reordered && next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, arg) in args[next_arg..].iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}=", type_name(arg));
            Spec::default().value(&mut out, arg, 'v');
        }
        out.push(')');
    }
    out
}

/// An argument index `[n]` at `at`, if there is one: it sets the next argument (or marks a bad
/// index). Where the text goes on.
fn take_index(
    chars: &[char],
    at: usize,
    count: usize,
    next_arg: &mut usize,
    reordered: &mut bool,
    bad_index: &mut bool,
) -> usize {
    let Some((index, after)) = arg_index(chars, at) else { return at };
    *reordered = true;
    match index {
        Some(n) if n >= 1 && n <= count => *next_arg = n - 1,
        _ => *bad_index = true,
    }
    after
}

/// `[n]` at `at`: the index (`None` when it is not a number) and where the text goes on.
fn arg_index(chars: &[char], at: usize) -> Option<(Option<usize>, usize)> {
    if chars.get(at) != Some(&'[') {
        return None;
    }
    let close = chars[at..].iter().position(|c| *c == ']')? + at;
    let text: String = chars[at + 1..close].iter().collect();
    Some((text.parse().ok(), close + 1))
}

/// Decimal digits at `at` (capped, as Go caps them): the number and where the text goes on.
fn number(chars: &[char], mut at: usize) -> (Option<usize>, usize) {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.get(at).and_then(|c| c.to_digit(10)) {
        n = Some((n.unwrap_or(0) * 10 + d as usize).min(1_000_000));
        at += 1;
    }
    (n, at)
}

/// One verb's flags, width and precision.
#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    /// Write `value` with `verb`: lists and maps element by element, as Go does.
    fn value(&self, out: &mut String, value: &Tv, verb: char) {
        match (value, verb) {
            (_, 'T') => self.pad(out, type_name(value)),
            (Tv::List(items), _) => {
                if verb == 'v' && self.sharp {
                    out.push_str("[]interface {}{");
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        self.value(out, item, verb);
                    }
                    out.push('}');
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    self.value(out, item, verb);
                }
                out.push(']');
            }
            (Tv::Map(map), _) => {
                if verb == 'v' && self.sharp {
                    out.push_str("map[string]interface {}{");
                    for (i, (key, item)) in map.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(&quote(key, false));
                        out.push(':');
                        self.value(out, item, verb);
                    }
                    out.push('}');
                    return;
                }
                out.push_str("map[");
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    self.value(out, &Tv::String(key.clone()), verb);
                    out.push(':');
                    self.value(out, item, verb);
                }
                out.push(']');
            }
            (Tv::Nil, 'v') => self.pad(out, "<nil>"),
            (Tv::Bool(b), 'v' | 't') => self.pad(out, if *b { "true" } else { "false" }),
            (Tv::String(s), 'v' | 's') if !self.sharp || verb == 's' => self.pad(out, &self.truncated(s)),
            (Tv::String(s), 'v') => self.pad(out, &quote(s, self.plus)),
            (Tv::String(s), 'q') => self.pad(out, &quote(&self.truncated(s), self.plus)),
            (Tv::String(s), 'x' | 'X') => {
                let text = self.hex_bytes(self.truncated(s).as_bytes(), verb == 'X');
                self.pad(out, &text);
            }
            (Tv::Int(n), _) if "vdboOxXcqU".contains(verb) => self.integer(out, i128::from(*n), verb),
            (Tv::Uint(n), _) if "vdboOxXcqU".contains(verb) => self.integer(out, i128::from(*n), verb),
            (Tv::Float(f), _) if "veEfFgG".contains(verb) => self.float(out, *f, verb),
            // The float verbs take integers: a JSON number is a float64 in the Go original.
            (Tv::Int(n), _) if "eEfFgG".contains(verb) => self.float(out, *n as f64, verb),
            (Tv::Uint(n), _) if "eEfFgG".contains(verb) => self.float(out, *n as f64, verb),
            _ => {
                // Go's marker: the verb, the type and the value as %v.
                let _ = write!(out, "%!{verb}(");
                if !matches!(value, Tv::Nil) {
                    let _ = write!(out, "{}=", type_name(value));
                }
                Spec::default().value(out, value, 'v');
                out.push(')');
            }
        }
    }

    /// A string cut to the precision (in characters), as `%.3s` does.
    fn truncated(&self, s: &str) -> String {
        match self.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }
    }

    fn hex_bytes(&self, bytes: &[u8], upper: bool) -> String {
        let mut text = String::new();
        for (i, b) in bytes.iter().enumerate() {
            if self.space && i > 0 {
                text.push(' ');
            }
            if self.sharp && (self.space || i == 0) {
                text.push_str(if upper { "0X" } else { "0x" });
            }
            let _ = if upper { write!(text, "{b:02X}") } else { write!(text, "{b:02x}") };
        }
        text
    }

    fn integer(&self, out: &mut String, n: i128, verb: char) {
        let negative = n < 0;
        let magnitude = n.unsigned_abs();
        let digits = match verb {
            'c' => {
                let c = u32::try_from(n).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                return self.pad(out, &c.to_string());
            }
            'q' => {
                let c = u32::try_from(n).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                return self.pad(out, &quote_char(c, self.plus));
            }
            'U' => {
                let mut text = format!("U+{magnitude:04X}");
                if self.sharp
                    && let Some(c) = u32::try_from(n).ok().and_then(char::from_u32)
                    && !c.is_control()
                {
                    text = format!("{text} '{c}'");
                }
                return self.pad(out, &text);
            }
            'b' => format!("{magnitude:b}"),
            'o' | 'O' => format!("{magnitude:o}"),
            'x' => format!("{magnitude:x}"),
            'X' => format!("{magnitude:X}"),
            _ => magnitude.to_string(),
        };
        // Precision: at least that many digits (and `%.0d` of 0 is empty).
        let digits = match self.precision {
            Some(0) if magnitude == 0 => String::new(),
            Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
            _ => digits,
        };
        let prefix = match verb {
            'b' if self.sharp => "0b",
            'o' if self.sharp && !digits.starts_with('0') => "0",
            'O' => "0o",
            'x' if self.sharp => "0x",
            'X' if self.sharp => "0X",
            _ => "",
        };
        let sign = if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        };
        self.pad_number(out, sign, &format!("{prefix}{digits}"), self.precision.is_none());
    }

    fn float(&self, out: &mut String, f: f64, verb: char) {
        if !f.is_finite() {
            let text = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                if self.plus { "+Inf" } else { "Inf" }
            } else {
                "-Inf"
            };
            return self.pad(out, text);
        }
        let negative = f.is_sign_negative();
        let magnitude = f.abs();
        let body = match verb {
            'e' | 'E' => exponent_form(&format!("{:.*e}", self.precision.unwrap_or(6), magnitude), verb == 'E'),
            'f' | 'F' => format!("{:.*}", self.precision.unwrap_or(6), magnitude),
            _ => general(magnitude, if verb == 'v' { None } else { self.precision }, verb == 'G', self.sharp),
        };
        let sign = if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        };
        self.pad_number(out, sign, &body, true);
    }

    /// Pad to the width: spaces (left or right), or zeros after the sign.
    fn pad_number(&self, out: &mut String, sign: &str, body: &str, zeros_allowed: bool) {
        let len = sign.chars().count() + body.chars().count();
        let width = self.width.unwrap_or(0);
        if len >= width {
            out.push_str(sign);
            out.push_str(body);
        } else if self.minus {
            out.push_str(sign);
            out.push_str(body);
            out.extend(std::iter::repeat_n(' ', width - len));
        } else if self.zero && zeros_allowed {
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', width - len));
            out.push_str(body);
        } else {
            out.extend(std::iter::repeat_n(' ', width - len));
            out.push_str(sign);
            out.push_str(body);
        }
    }

    fn pad(&self, out: &mut String, text: &str) {
        let len = text.chars().count();
        let width = self.width.unwrap_or(0);
        if len >= width {
            out.push_str(text);
        } else if self.minus {
            out.push_str(text);
            out.extend(std::iter::repeat_n(' ', width - len));
        } else {
            out.extend(std::iter::repeat_n(if self.zero { '0' } else { ' ' }, width - len));
            out.push_str(text);
        }
    }
}

/// Rust's `1.5e6` / `1.500000e-7` as Go writes it: `1.5e+06`, `1.500000e-07`.
fn exponent_form(rust: &str, upper: bool) -> String {
    let (mantissa, exp) = rust.split_once('e').unwrap_or((rust, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{}{sign}{:02}", if upper { 'E' } else { 'e' }, exp.unsigned_abs())
}

/// `%g` (`precision: None` is the shortest that reads back, `%v`): the exponent form when the
/// exponent is below -4 or at least the precision (6 for the shortest), else the plain form.
fn general(f: f64, precision: Option<usize>, upper: bool, sharp: bool) -> String {
    let rust = match precision {
        None => format!("{f:e}"),
        Some(p) => format!("{:.*e}", p.max(1) - 1, f),
    };
    let (mantissa, exp) = rust.split_once('e').unwrap_or((&rust, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !sharp {
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
    }
    let nd = digits.len() as i32;
    let eprec = match precision {
        None => 6,
        Some(p) => {
            let p = p.max(1) as i32;
            if p > nd && nd > exp { nd } else { p }
        }
    };
    if exp < -4 || exp >= eprec {
        let mantissa = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        return exponent_form(&format!("{mantissa}e{exp}"), upper);
    }
    if exp < 0 {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else if nd <= exp + 1 {
        format!("{digits}{}", "0".repeat((exp + 1 - nd) as usize))
    } else {
        format!("{}.{}", &digits[..(exp + 1) as usize], &digits[(exp + 1) as usize..])
    }
}

/// Go's `strconv.Quote` (`ascii`: `strconv.QuoteToASCII`, for `%+q`).
fn quote(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

fn quote_char(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    escape(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

fn escape(out: &mut String, c: char, quote: char, ascii: bool) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c == '\x7f' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() || (ascii && !c.is_ascii()) => {
            if (c as u32) > 0xFFFF {
                let _ = write!(out, "\\U{:08x}", c as u32);
            } else {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: Vec<Tv>) -> Tv {
        Tv::List(items.into())
    }

    #[test]
    fn floats_print_as_go_prints_them() {
        for (f, go) in [
            (1.5e6, "1.5e+06"),
            (123456789.5, "1.234567895e+08"),
            (0.1, "0.1"),
            (123456.7, "123456.7"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
        ] {
            assert_eq!(action(&Tv::Float(f)), go, "{f}");
        }
    }

    #[test]
    fn printf_verbs_flags_and_markers() {
        let s = |v: &str| Tv::String(v.into());
        for (format, args, go) in [
            (
                "%d|%5d|%-5d|%05d|%+d|%x|%X|%#x|%o|%O|%b",
                vec![Tv::Int(42); 11],
                "42|   42|42   |00042|+42|2a|2A|0x2a|52|0o52|101010",
            ),
            (
                "%.2f|%8.3f|%e|%E|%g|%.3g|%G",
                vec![Tv::Float(1.23456); 7],
                "1.23|   1.235|1.234560e+00|1.234560E+00|1.23456|1.23|1.23456",
            ),
            ("%.2f|%5.1f", vec![Tv::Int(5), Tv::Int(2)], "5.00|  2.0"),
            (
                "%s|%q|%10s|%-4s|%.2s|%x|% x",
                vec![s("hi"), s("a\"b\n"), s("right"), s("l"), s("abc"), s("hi"), s("hi")],
                "hi|\"a\\\"b\\n\"|     right|l   |ab|6869|68 69",
            ),
            (
                "%v|%T|%T|%T|%T|%T",
                vec![list(vec![Tv::Int(1), s("a")]), Tv::Int(1), Tv::Float(1.5), s("x"), list(vec![]), Tv::Nil],
                "[1 a]|int|float64|string|[]interface {}|<nil>",
            ),
            ("%q", vec![list(vec![s("a"), s("b")])], "[\"a\" \"b\"]"),
            ("%d|%s|%d", vec![Tv::Float(1.5), Tv::Int(3), s("x")], "%!d(float64=1.5)|%!s(int=3)|%!d(string=x)"),
            ("%d %d", vec![Tv::Int(1)], "1 %!d(MISSING)"),
            ("%d", vec![Tv::Int(1), s("x"), Tv::Float(2.5)], "1%!(EXTRA string=x, float64=2.5)"),
            ("%[2]d %[1]d|%[3]d", vec![Tv::Int(1), Tv::Int(2)], "2 1|%!d(BADINDEX)"),
            ("%*d|%.*f", vec![Tv::Int(4), Tv::Int(7), Tv::Int(1), Tv::Float(2.25)], "   7|2.2"),
            (
                "%c|%q|%U|%t|%v|100%%",
                vec![Tv::Int(65), Tv::Int(65), Tv::Int(65), Tv::Bool(true), Tv::Nil],
                "A|'A'|U+0041|true|<nil>|100%",
            ),
            ("%s", vec![Tv::Nil], "%!s(<nil>)"),
            ("trailing %", vec![], "trailing %!(NOVERB)"),
            ("%#v", vec![list(vec![Tv::Int(1), s("a")])], "[]interface {}{1, \"a\"}"),
        ] {
            assert_eq!(sprintf(format, &args), go, "{format}");
        }
    }

    #[test]
    fn print_spaces_operands_as_go_does() {
        let s = |v: &str| Tv::String(v.into());
        assert_eq!(sprint(&[s("a"), Tv::Int(1), Tv::Int(2), s("b"), Tv::Float(1.5e6)]), "a1 2b1.5e+06");
        assert_eq!(sprintln(&[s("a"), Tv::Int(1)]), "a 1\n");
    }
}
