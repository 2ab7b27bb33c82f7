//! The `wasmc` command line.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use targets::Arch;
use wasmc::codegen::OptLevel;
use wasmc::{Emit, Options};

#[derive(Parser)]
#[command(
    name = "wasmc",
    version,
    about = "Compile WebAssembly (2.0 + WASI preview 1) to static, migration-ready Linux executables",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Input module (.wasm)
    input: Option<PathBuf>,
    /// Output file
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Target ISA: x86_64, aarch64, riscv64, or a Linux triple (default: the host)
    #[arg(long)]
    target: Option<String>,
    /// What to write: a static executable, or an object to link with the runtime yourself
    #[arg(long, value_enum, default_value = "exe")]
    emit: EmitArg,
    /// Optimisation level
    #[arg(short = 'O', value_parser = ["0", "1", "2"], default_value = "2")]
    opt: String,
    /// Extra CPU features beyond the ISA's baseline (comma-separated, e.g. avx2,bmi1)
    #[arg(long, value_delimiter = ',')]
    cpu_features: Vec<String>,
    /// Leave out migration points (the program cannot be checkpointed)
    #[arg(long)]
    no_migration_points: bool,
    /// Compile imports wasmc does not provide as functions that trap when called
    #[arg(long)]
    trap_unknown_imports: bool,
    /// List the supported targets and exit
    #[arg(long)]
    list_targets: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print a checkpoint file for a person: module hash, memory, frames, globals, files
    Inspect {
        /// The checkpoint file
        checkpoint: PathBuf,
        /// The module it was taken from: adds function names and checks they belong together
        #[arg(long)]
        module: Option<PathBuf>,
    },
    /// Act as a migration destination that keeps the checkpoint it receives in a file
    /// (and answers the source as a running destination would)
    Receive {
        /// Where to listen: IPV4:PORT or [IPV6]:PORT (port 0: any)
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The pre-shared key (WASMC_MIGRATE_KEY_FILE of the source)
        #[arg(long)]
        key_file: PathBuf,
        /// The module the program was compiled from
        #[arg(long)]
        module: PathBuf,
        /// The checkpoint file to write
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Send one command to a running program's control socket (WASMC_CONTROL) and print
    /// its answer: status | checkpoint [PATH] | snapshot [PATH] | migrate ADDR:PORT [precopy]
    Control {
        /// The program's control socket
        socket: PathBuf,
        /// The command and its arguments
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EmitArg {
    Exe,
    Obj,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages carry module-supplied names and paths: one line, whatever they hold.
            eprintln!("wasmc: error: {}", wasmc::error::escaped(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Inspect { checkpoint, module }) = &cli.command {
        print!(
            "{}",
            wasmc::inspect::inspect(checkpoint, module.as_deref())?
        );
        return Ok(());
    }
    if let Some(Command::Receive {
        listen,
        key_file,
        module,
        output,
    }) = &cli.command
    {
        let n = wasmc::receive::receive(*listen, key_file, module, output)?;
        eprintln!(
            "wasmc: received a checkpoint of {n} bytes into {}",
            output.display()
        );
        return Ok(());
    }
    if let Some(Command::Control { socket, command }) = &cli.command {
        let answer = wasmc::control::send(socket, &command.join(" "))?;
        println!("{answer}");
        if !answer.starts_with("ok") {
            anyhow::bail!("the program answered: {answer}");
        }
        return Ok(());
    }
    if cli.list_targets {
        for a in targets::ALL {
            let host = if Some(a) == Arch::host() {
                " (host)"
            } else {
                ""
            };
            println!("{:<8} {}{host}", a.name(), a.triple());
        }
        return Ok(());
    }
    let Some(input) = cli.input else {
        anyhow::bail!("no input file (usage: wasmc [--target ISA] IN.wasm -o OUT)")
    };
    let Some(output) = cli.output else {
        anyhow::bail!("no output file: pass -o OUT")
    };
    let target = match &cli.target {
        Some(t) => t.parse::<Arch>().map_err(anyhow::Error::msg)?,
        None => Arch::host()
            .ok_or_else(|| anyhow::anyhow!("the host ISA is not supported; pass --target"))?,
    };
    let mut opts = Options::new(target);
    opts.opt_level = match cli.opt.as_str() {
        "0" => OptLevel::O0,
        "1" => OptLevel::O1,
        _ => OptLevel::O2,
    };
    opts.cpu_features = cli.cpu_features;
    opts.migration_points = !cli.no_migration_points;
    opts.trap_unknown_imports = cli.trap_unknown_imports;
    opts.emit = match cli.emit {
        EmitArg::Exe => Emit::Exe,
        EmitArg::Obj => Emit::Obj,
    };
    wasmc::compile(&input, &output, &opts)?;
    if opts.emit == Emit::Obj {
        let archive = wasmc::link::runtime_archive(target)?;
        eprintln!(
            "wasmc: wrote {}; link it with {} (static, non-PIE, entry _start)",
            output.display(),
            archive.display()
        );
    }
    Ok(())
}
