fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let ok = |n: usize| {
        let t: String = lines[..n].concat();
        !usher::yaml::lower::parse_tree(&t, None)
            .unwrap()
            .root_node()
            .has_error()
    };
    let (mut lo, mut hi) = (1, lines.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ok(mid) { lo = mid + 1 } else { hi = mid }
    }
    println!("first failing prefix: {} lines", lo);
    for l in &lines[lo.saturating_sub(4)..(lo + 1).min(lines.len())] {
        print!("{l}");
    }
}
