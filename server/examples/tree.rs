fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let tree = usher::yaml::lower::parse_tree(&text, None).unwrap();
    fn walk(n: tree_sitter::Node, depth: usize, src: &str) {
        if depth > 7 {
            return;
        }
        let t: String = src[n.byte_range()]
            .chars()
            .take(40)
            .collect::<String>()
            .replace('\n', "⏎");
        println!(
            "{}{} {:?}-{:?} err={} {:?}",
            "  ".repeat(depth),
            n.kind(),
            n.start_position(),
            n.end_position(),
            n.has_error(),
            t
        );
        let mut c = n.walk();
        for ch in n.children(&mut c) {
            walk(ch, depth + 1, src);
        }
    }
    walk(tree.root_node(), 0, &text);
}
