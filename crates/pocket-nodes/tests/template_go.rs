//! Go `text/template` semantics over JSON data, and the documented helpers.

use pocket_nodes::Template;
use serde_json::{Value, json};

fn render(source: &str, data: Value) -> String {
    Template::parse("t", source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .render(&data)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn parse_error(source: &str) -> String {
    Template::parse("t", source).expect_err(source).to_string()
}

#[test]
fn go_constructs() {
    let data = json!({"name": "ada", "a": {"b": 2}, "list": ["x", "y"], "n": 3, "f": 0.25, "ok": true, "none": null});
    assert_eq!(render("{{.name}} {{.a.b}} {{index .list 1}} {{len .list}}", data.clone()), "ada 2 y 2");
    assert_eq!(render("{{if .ok}}yes{{else}}no{{end}}", data.clone()), "yes");
    assert_eq!(render("{{if .none}}yes{{else if .n}}n{{end}}", data.clone()), "n");
    assert_eq!(render("{{range $i, $v := .list}}{{$i}}={{$v}};{{end}}", data.clone()), "0=x;1=y;");
    assert_eq!(render("{{range .missing}}x{{else}}empty{{end}}", data.clone()), "empty");
    assert_eq!(render("{{with .a}}{{.b}}{{end}}", data.clone()), "2");
    assert_eq!(render("{{$x := .n}}{{printf \"%03d|%.1f|%s|%v\" $x .f .name .ok}}", data.clone()), "003|0.2|ada|true");
    assert_eq!(render("{{and .ok .n}} {{or .none \"d\"}} {{not .ok}}", data.clone()), "3 d false");
    assert_eq!(render("  {{- .name -}}  ", data.clone()), "ada");
    assert_eq!(render("{{/* a comment */}}{{.n}}", data), "3");
}

#[test]
fn a_missing_key_renders_as_the_original_does() {
    assert_eq!(render("[{{.missing}}]", json!({})), "[<no value>]");
    assert_eq!(render("[{{.a.missing}}]", json!({"a": {}})), "[<no value>]");
    assert_eq!(render("{{if .missing}}y{{else}}n{{end}}", json!({})), "n");
}

#[test]
fn comparisons_compare_numbers_by_value() {
    let data = json!({"i": 1, "f": 0.9, "s": "b"});
    assert_eq!(
        render("{{gt .i 0.8}} {{lt .f 1}} {{eq .i 1.0}} {{ne .i 2}} {{le .i 1}} {{ge .f 0.9}}", data.clone()),
        "true true true true true true"
    );
    assert_eq!(render("{{eq .s \"a\" \"b\"}} {{lt .s \"c\"}}", data.clone()), "true true");
    // Comparing different kinds is an error, as in Go.
    let err = Template::parse("t", "{{gt .s 1}}").unwrap().render(&data).unwrap_err();
    assert!(err.to_string().contains("incompatible types for comparison"), "{err}");
}

#[test]
fn a_missing_or_null_operand_is_unequal_as_in_go() {
    let data = json!({"status": null, "s": "done"});
    assert_eq!(
        render("{{eq .missing \"done\"}} {{ne .missing \"done\"}} {{eq .status 1}} {{ne .status 1}}", data.clone()),
        "false true false true"
    );
    assert_eq!(
        render("{{eq .missing .status}} {{ne .missing .status}} {{eq .s \"x\" .missing \"done\"}}", data.clone()),
        "true false true"
    );
    // So a conditional routes as the original does.
    assert_eq!(render("{{if ne .missing \"done\"}}again{{else}}finished{{end}}", data), "again");
}

#[test]
fn helpers() {
    let data = json!({"s": "Hello World", "list": ["a", "b"], "m": {"k": 1}, "empty": "", "obj": {"x": [1, 2]}});
    assert_eq!(
        render(
            "{{contains \"World\" .s}} {{contains \"b\" .list}} {{contains \"k\" .m}} {{contains \"z\" .s}}",
            data.clone()
        ),
        "true true true false"
    );
    assert_eq!(render("{{hasPrefix \"Hell\" .s}} {{hasSuffix \"x\" .s}}", data.clone()), "true false");
    assert_eq!(render("{{lower .s}} {{upper .s}} {{.s | lower}}", data.clone()), "hello world HELLO WORLD hello world");
    assert_eq!(render("{{trim \"  x \"}}|{{replace \"o\" \"0\" .s}}", data.clone()), "x|Hell0 W0rld");
    assert_eq!(render("{{join \",\" .list}} {{index (split \" \" .s) 1}}", data.clone()), "a,b World");
    assert_eq!(render("{{json .obj}} {{toJson .list}}", data.clone()), "{\"x\":[1,2]} [\"a\",\"b\"]");
    assert_eq!(render("{{(fromJson \"{\\\"a\\\": 5}\").a}}", data.clone()), "5");
    assert_eq!(
        render("{{default \"none\" .empty}} {{default \"none\" .s}} {{.missing | default \"d\"}}", data),
        "none Hello World d"
    );
    let now = render("{{now}}", json!(null));
    assert!(now.len() == 20 && now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
}

#[test]
fn templates_that_do_not_parse_are_refused() {
    assert!(parse_error("{{.x").contains("unclosed action"));
    assert!(parse_error("{{if .x}}open").contains("unexpected EOF: {{if}} is never closed"));
    assert!(parse_error("line\n{{range .x}}{{end}}{{end}}").contains("t:2: unexpected {{end}}"));
    assert!(parse_error("{{else}}").contains("unexpected {{else}}"));
    assert!(parse_error("{{frob .x}}").contains("function \"frob\" not defined"));
    assert!(parse_error("{{if .x}}{{frob}}{{end}}").contains("function \"frob\" not defined"));
    // Braces inside strings do not confuse the check.
    assert_eq!(render("{{printf \"%s}}\" .a}}{{if true}}ok{{end}}", json!({"a": "x"})), "x}}ok");
}

#[test]
fn index_without_indexes_and_escapers_over_several_arguments_as_in_go() {
    let data = json!({"SI": [3, 4, 5], "M": {"a": 1}});
    assert_eq!(render("{{index .SI}}", data.clone()), "[3 4 5]");
    assert_eq!(render("{{index .SI 1}}-{{index .M \"a\"}}", data.clone()), "4-1");
    assert_eq!(
        render(r#"{{html "<script>alert(\"XSS\");</script>"}}"#, data.clone()),
        "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;"
    );
    assert_eq!(render(r#"{{"http://www.example.org/"|urlquery}}"#, data.clone()), "http%3A%2F%2Fwww.example.org%2F");
    // fmt.Sprint's rule: a space only between two operands that are not strings.
    assert_eq!(render(r#"{{html 1 2 "<" 3}}"#, data.clone()), "1 2&lt;3");
    assert_eq!(render(r#"{{urlquery "a b" "c"}}"#, data.clone()), "a+bc");
    assert_eq!(render(r#"{{js "it's" 1}}"#, data.clone()), r"it\'s1");
    assert_eq!(render("{{html .missing}}", data), "&lt;no value&gt;");
}

#[test]
fn undefined_variables_and_stray_break_are_refused_at_parse_time_as_in_go() {
    // Accepted by Go's parser (parse_test.go's cases, re-expressed), and they render.
    let data = json!({"a": 1, "l": [1, 2, 3]});
    assert_eq!(render("{{$x := 1}}{{$x}}", data.clone()), "1");
    assert_eq!(render("{{with $x := 3}}{{$x}}{{end}}", data.clone()), "3");
    assert_eq!(render("{{range $i, $e := .l}}{{$i}}{{$e}}{{end}}", data.clone()), "011223");
    assert_eq!(render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", data.clone()), "2");
    assert_eq!(render("{{$.a}}{{with .l}}{{$.a}}{{end}}", data.clone()), "11");
    assert_eq!(
        render("{{range .l}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}", data),
        "1"
    );
    // Refused when parsed, whether or not execution would reach them.
    for (source, message) in [
        ("{{if false}}{{$nope}}{{end}}", "t:1: undefined variable \"$nope\""),
        ("{{$x}}", "undefined variable \"$x\""),
        ("{{with $x := 4}}{{end}}\n{{$x}}", "t:2: undefined variable \"$x\""),
        ("{{$x = 1}}", "undefined variable \"$x\""),
        ("{{printf \"%d\" (len $y)}}", "undefined variable \"$y\""),
        ("{{$x := 1}}{{define \"a\"}}{{$x}}{{end}}", "undefined variable \"$x\""),
        ("{{break}}", "{{break}} outside {{range}}"),
        ("{{if true}}{{continue}}{{end}}", "{{continue}} outside {{range}}"),
        ("{{range .l}}{{else}}{{break}}{{end}}", "{{break}} outside {{range}}"),
    ] {
        let error = parse_error(source);
        assert!(error.contains(message), "{source}: {error}");
    }
}

#[test]
fn values_print_as_go_fmt_prints_them() {
    let data = json!({"big": 1.5e6, "f": 123456789.5, "small": 0.00001, "n": 7, "list": [1.5e6, "a", null], "m": {"b": 0.5, "a": 2e7}});
    assert_eq!(
        render("{{.big}} {{.f}} {{.small}} {{.n}} {{.list}} {{.m}}", data.clone()),
        "1.5e+06 1.234567895e+08 1e-05 7 [1.5e+06 a <nil>] map[a:2e+07 b:0.5]"
    );
    // Inside control structures and defined templates too; assignments print nothing.
    assert_eq!(
        render(
            "{{define \"x\"}}<{{.}}>{{end}}{{range .list}}{{.}};{{end}}{{with .big}}{{.}}{{end}}{{$v := .big}}{{template \"x\" $v}}",
            data.clone()
        ),
        "1.5e+06;a;<no value>;1.5e+06<1.5e+06>"
    );
    assert_eq!(
        render("{{printf \"%v|%T|%T|%d|%q|%5.1f|%x\" .big .n .list .big .list .n .n}}", data.clone()),
        "1.5e+06|int|[]interface {}|%!d(float64=1.5e+06)|[%!q(float64=1.5e+06) \"a\" %!q(<nil>)]|  7.0|7"
    );
    assert_eq!(render("{{print .big 1 2 \"s\"}}|{{println .n .big}}", data.clone()), "1.5e+06 1 2s|7 1.5e+06\n");
    assert_eq!(render("{{printf \"%d %d\" 1}}{{printf \"%d\" 1 2}}", data.clone()), "1 %!d(MISSING)1%!(EXTRA int=2)");
    assert_eq!(render("{{html .big}} {{join \",\" .list}}", data), "1.5e+06 1.5e+06,a,<nil>");
}

#[test]
fn a_field_given_arguments_is_an_error_unless_its_receiver_is_missing() {
    let data = json!({"a": {"b": 1}, "n": null, "list": [null]});
    // JSON has no methods: a field with arguments (its own or a piped value) fails, as in Go…
    for source in ["{{.a.b 1}}", "{{1 | .a.b}}", "{{$.a 2}}", "{{(.a).b 3}}"] {
        let error = Template::parse("t", source).unwrap().render(&data).unwrap_err().to_string();
        assert!(error.contains("is not a method but has arguments"), "{source}: {error}");
    }
    let error = Template::parse("t", "{{range .list}}{{.f 1}}{{end}}").unwrap().render(&data).unwrap_err().to_string();
    assert!(error.contains("nil pointer evaluating interface {}.f"), "{error}");
    // …but through a missing key it gives no value, as Go's does.
    assert_eq!(
        render("{{.missing.f 1}}|{{if $.missing.f 2}}yes{{else}}no{{end}}|{{3 | .missing.f}}", data),
        "<no value>|no|<no value>"
    );
}
