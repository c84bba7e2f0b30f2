// Reading a large store makes millions of small allocations (every
// attribute of every item), freed on another thread than the one that made
// them; mimalloc does that about twice as fast as the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    repoman::cli::main()
}
