fn main() {
    let depth: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let t = usher::yaml::lower::parse_tree(&text, None).unwrap();
    println!("parsed");
    drop(t);
    println!("dropped");
    let d = usher::yaml::lower_document(&text);
    println!("lowered {:?}", d.issues.len());
}
