//! `video-worker serve`, `check-config` and `cleanup`.

use std::path::PathBuf;

use clap::Args;
use video_worker::config::{Config, Sources};

#[derive(Args)]
pub struct ConfigArgs {
    /// The env file to read (default: config.txt in the working directory, if present).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn load(args: &ConfigArgs) -> anyhow::Result<(Sources, Config)> {
    let sources = Sources::load(args.config.as_deref())?;
    let config = Config::from_sources(&sources)?;
    Ok((sources, config))
}

pub fn serve(args: ConfigArgs) -> anyhow::Result<()> {
    let (_, config) = load(&args)?;
    video_worker::telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        if !video_worker::service::wait_for_data_dir(&config).await? {
            return Ok(());
        }
        video_worker::service::run(config).await
    })
}

pub fn check_config(args: ConfigArgs) -> anyhow::Result<()> {
    let sources = Sources::load(args.config.as_deref())?;
    let checked = Config::from_sources(&sources);
    for (key, value, origin) in sources.describe() {
        println!("{key}={value}    # {origin}");
    }
    let config = checked?;
    println!(
        "# effective: listening on {}:{}{}, {} workers, data in {}, replays in {}",
        config.bind_host,
        config.port,
        if config.api_token.is_none() {
            " (/api/v1/ for loopback callers only: no VIDEO_WORKER_API_TOKEN)"
        } else {
            ""
        },
        config.workers,
        config.data_dir.display(),
        config.local_storage_dir.display()
    );
    Ok(())
}

pub fn cleanup(args: ConfigArgs) -> anyhow::Result<()> {
    let (_, config) = load(&args)?;
    video_worker::telemetry::init(&config);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let assembly = video_worker::service::assemble(config).await?;
        let removed = video_worker::pipeline::cleanup::run_once(&assembly.pipeline).await;
        println!("removed {} finished task(s)", removed.len());
        for id in removed {
            println!("{id}");
        }
        Ok(())
    })
}
