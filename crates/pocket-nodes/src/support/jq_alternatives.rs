//! jq's destructuring alternatives, `SOURCE as P1 ?// P2 ?// … | BODY`, which jaq does not
//! parse, written out in what it does parse:
//!
//! ```text
//! SOURCE as $__pocket_alt | . as $__pocket_dot | null as $v1 | … |
//!   (try ($__pocket_alt as P1 | BODY) catch ($__pocket_dot | … ($__pocket_alt as Pn | BODY)))
//! ```
//!
//! jq's meaning: every variable of every pattern is bound (null where the pattern that matched
//! has none); an error in destructuring, or in the body, with one pattern tries the next; the
//! last one's errors are the expression's. The body is what follows the `|` up to the end of
//! the enclosing group (a closing bracket, a `;`, or `then`/`elif`/`else`/`end`/`catch` of an
//! enclosing expression).

/// Rewrites at most this many alternatives (each copies its body once per pattern).
const MAX_REWRITES: usize = 64;
/// The rewritten code is at most this long.
const MAX_LEN: usize = 1 << 20;

/// `code` with every destructuring alternative written out.
///
/// # Errors
///
/// A `?//` that is not between patterns of an `as`, or a rewrite past the limits.
pub(crate) fn desugar(code: &str) -> Result<String, String> {
    let mut code = code.to_string();
    for _ in 0..MAX_REWRITES {
        let chars: Vec<char> = code.chars().collect();
        let is_code = code_mask(&chars);
        let Some(at) = find(&chars, &is_code, "?//") else { return Ok(code) };
        code = rewrite(&chars, &is_code, at).ok_or("`?//` must separate the patterns of `… as P1 ?// P2 | …`")?;
        if code.len() > MAX_LEN {
            return Err("the expression's destructuring alternatives are too large".into());
        }
    }
    if code.contains("?//") {
        return Err(format!("more than {MAX_REWRITES} destructuring alternatives (`?//`)"));
    }
    Ok(code)
}

/// For each character, whether it is code (not inside a string or a comment).
fn code_mask(chars: &[char]) -> Vec<bool> {
    let mut mask = vec![true; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                for m in &mut mask[start..(i + 1).min(chars.len())] {
                    *m = false;
                }
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    mask[i] = false;
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    mask
}

fn find(chars: &[char], is_code: &[bool], what: &str) -> Option<usize> {
    let what: Vec<char> = what.chars().collect();
    (0..chars.len().saturating_sub(what.len() - 1))
        .find(|&i| chars[i..i + what.len()] == what[..] && is_code[i..i + what.len()].iter().all(|c| *c))
}

fn ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn skip_back(chars: &[char], mut i: usize) -> Option<usize> {
    loop {
        if !chars.get(i)?.is_whitespace() {
            return Some(i);
        }
        i = i.checked_sub(1)?;
    }
}

fn skip_forward(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The pattern that ends at `end` (inclusive): its first character.
fn pattern_before(chars: &[char], is_code: &[bool], end: usize) -> Option<usize> {
    match chars[end] {
        ']' | '}' => {
            let mut depth = 0i32;
            let mut i = end;
            loop {
                if is_code[i] {
                    match chars[i] {
                        ']' | '}' | ')' => depth += 1,
                        '[' | '{' | '(' => depth -= 1,
                        _ => {}
                    }
                }
                if depth == 0 {
                    return Some(i);
                }
                i = i.checked_sub(1)?;
            }
        }
        c if ident(c) => {
            let mut i = end;
            while i > 0 && ident(chars[i - 1]) {
                i -= 1;
            }
            (i > 0 && chars[i - 1] == '$').then(|| i - 1)
        }
        _ => None,
    }
}

/// The pattern that starts at `start`: one past its last character.
fn pattern_after(chars: &[char], is_code: &[bool], start: usize) -> Option<usize> {
    match chars.get(start)? {
        '[' | '{' => {
            let mut depth = 0i32;
            for (i, c) in chars.iter().enumerate().skip(start) {
                if is_code[i] {
                    match c {
                        '[' | '{' | '(' => depth += 1,
                        ']' | '}' | ')' => depth -= 1,
                        _ => {}
                    }
                }
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            None
        }
        '$' => {
            let mut i = start + 1;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            (i > start + 1).then_some(i)
        }
        _ => None,
    }
}

/// Where the body that starts at `start` ends (exclusive).
fn body_end(chars: &[char], is_code: &[bool], start: usize) -> usize {
    let (mut brackets, mut ifs) = (0i32, 0i32);
    let mut i = start;
    while i < chars.len() {
        if !is_code[i] {
            i += 1;
            continue;
        }
        match chars[i] {
            '(' | '[' | '{' => brackets += 1,
            ')' | ']' | '}' => {
                if brackets == 0 {
                    return i;
                }
                brackets -= 1;
            }
            ';' if brackets == 0 && ifs == 0 => return i,
            c if ident(c) && (i == 0 || !ident(chars[i - 1]) && chars[i - 1] != '$' && chars[i - 1] != '.') => {
                let mut j = i;
                while j < chars.len() && ident(chars[j]) {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                if brackets == 0 {
                    match word.as_str() {
                        "if" => ifs += 1,
                        "end" if ifs > 0 => ifs -= 1,
                        "then" | "elif" | "else" | "end" | "catch" if ifs == 0 => return i,
                        _ => {}
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// The code with the alternatives whose first `?//` is at `at` written out.
fn rewrite(chars: &[char], is_code: &[bool], at: usize) -> Option<String> {
    let first_end = skip_back(chars, at.checked_sub(1)?)?;
    let first_start = pattern_before(chars, is_code, first_end)?;
    let as_end = skip_back(chars, first_start.checked_sub(1)?)?;
    if as_end < 1 || chars[as_end - 1..=as_end] != ['a', 's'] || as_end >= 2 && ident(chars[as_end - 2]) {
        return None;
    }
    let as_start = as_end - 1;
    let mut patterns: Vec<String> = vec![chars[first_start..=first_end].iter().collect()];
    let mut i = at;
    loop {
        // At a `?//`: the next pattern.
        let start = skip_forward(chars, i + 3);
        let end = pattern_after(chars, is_code, start)?;
        patterns.push(chars[start..end].iter().collect());
        i = skip_forward(chars, end);
        if chars.get(i..i + 3) == Some(&['?', '/', '/']) {
            continue;
        }
        if chars.get(i) != Some(&'|') {
            return None;
        }
        break;
    }
    let body_start = i + 1;
    let body_stop = body_end(chars, is_code, body_start);
    let body: String = chars[body_start..body_stop].iter().collect();
    // Every variable any pattern binds.
    let mut vars: Vec<String> = Vec::new();
    for pattern in &patterns {
        let p: Vec<char> = pattern.chars().collect();
        let mask = code_mask(&p);
        let mut k = 0;
        while k < p.len() {
            if p[k] == '$' && mask[k] {
                let mut e = k + 1;
                while e < p.len() && ident(p[e]) {
                    e += 1;
                }
                let name: String = p[k..e].iter().collect();
                if name.len() > 1 && name != "$__loc__" && !vars.contains(&name) {
                    vars.push(name);
                }
                k = e;
            } else {
                k += 1;
            }
        }
    }
    let mut chain = format!("$__pocket_alt as {} | {body}", patterns[patterns.len() - 1]);
    for pattern in patterns[..patterns.len() - 1].iter().rev() {
        chain = format!("try ($__pocket_alt as {pattern} | {body}) catch ($__pocket_dot | {chain})");
    }
    let nulls: String = vars.iter().map(|v| format!("null as {v} | ")).collect();
    let before: String = chars[..as_start].iter().collect();
    let after: String = chars[body_stop..].iter().collect();
    Some(format!("{before}as $__pocket_alt | . as $__pocket_dot | {nulls}({chain}){after}"))
}

#[cfg(test)]
mod tests {
    use super::desugar;

    #[test]
    fn alternatives_are_written_out() {
        assert_eq!(
            desugar(".[] as [$a] ?// $a | $a").unwrap(),
            ".[] as $__pocket_alt | . as $__pocket_dot | null as $a | (try ($__pocket_alt as [$a] |  $a) catch \
             ($__pocket_dot | $__pocket_alt as $a |  $a))"
        );
        // The body ends with its group; strings and code without `?//` are left alone.
        let code = "[.[] | (. as {a: $x} ?// [$x] | $x + 1)] | \"?//\"";
        let out = desugar(code).unwrap();
        assert!(out.ends_with(")] | \"?//\""), "{out}");
        assert_eq!(desugar(". as [$a] | $a").unwrap(), ". as [$a] | $a");
        assert!(desugar("1 ?// 2").is_err());
    }
}
