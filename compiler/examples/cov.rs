use wasmc::driver::{point_coverage, Options};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arch: targets::Arch = args[2].parse().unwrap();
    let bytes = std::fs::read(&args[1]).unwrap();
    let c = point_coverage(&bytes, &Options::new(arch)).unwrap();
    println!("{c:?}");
}
