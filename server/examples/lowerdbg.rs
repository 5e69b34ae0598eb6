fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let t = std::time::Instant::now();
    let tree = usher::yaml::lower::parse_tree(&text, None);
    println!("parse {:?} tree={}", t.elapsed(), tree.is_some());
    if let Some(tree) = &tree {
        let r = tree.root_node();
        println!(
            "root {} err={} children={}",
            r.kind(),
            r.has_error(),
            r.child_count()
        );
    }
    let t = std::time::Instant::now();
    let f = usher::yaml::YamlFile::parse(&text);
    println!("lower {:?}", t.elapsed());
    for d in &f.docs {
        println!(
            "doc {}..{} root={} issues={:?}",
            d.start,
            d.end,
            d.root().is_some(),
            d.lowered.issues.iter().take(3).collect::<Vec<_>>()
        );
    }
}
