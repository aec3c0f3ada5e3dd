//! The terminal interface (`echowatch` with no command): ratatui over crossterm.
//!
//! Structure after ratatui's component template and gitui: [`app`] is the state and what
//! keys do to it (no terminal, testable), [`components`] draw it, [`keys`] maps keys to
//! actions with the config's rebindings, [`jobs`] runs counts and sync in the background.
//! This file owns the terminal: raw mode and the alternate screen on entry, restored on
//! every way out (normal quit, error, panic, SIGTERM/SIGHUP/SIGINT, Ctrl-C).

pub mod app;
pub mod components;
pub mod jobs;
pub mod keys;
pub mod open;
pub mod text;
pub mod watches;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossterm::event::{self, Event, KeyEventKind};

use crate::config::Config;
use crate::workspace::{Workspace, WorkspaceError};

pub use app::{App, AppOptions};

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// Its own message names the folder or file (and not every one is about opening).
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(
        "the interface needs a terminal (standard input and output are not one); use a command, see --help"
    )]
    NotATerminal,
    #[error("{0}")]
    Keys(String),
}

/// Open the data folder and run the interface until the user quits.
pub fn run(config: Config, data_dir: &Path) -> Result<(), TuiError> {
    use std::io::IsTerminal;
    // A broken `[keys]` table would leave the interface without, say, a way to quit.
    let (_, problems) = keys::Keymap::from_config(&config.keys);
    if !problems.is_empty() {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| {
                let line = config.key_lines.get(&p.entry).copied().unwrap_or(0);
                format!("{}:{line}: {p}", config.path.display())
            })
            .collect();
        return Err(TuiError::Keys(lines.join("\n")));
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    // Open before touching the terminal so errors print normally.
    let ws = Workspace::open(config, data_dir)?;
    let auto_sync = ws.config.refresh.is_some()
        || ws
            .config
            .sources
            .iter()
            .any(|s| s.refresh.is_some_and(|d| !d.is_zero()));
    let mut app = App::new(
        ws,
        AppOptions {
            now: None,
            auto_sync,
            sync_if_empty: true,
        },
    )?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    // SIGINT apart: while a text browser has the terminal, Ctrl-C there is the browser's
    // (the whole foreground group gets it), not a reason to quit. The hang-up watchdog does
    // not watch it, as it would end the interface under the browser.
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted))?;
    let stops = Stops {
        stop: &stop,
        interrupted: &interrupted,
    };
    // ratatui::try_init enters raw mode and the alternate screen and installs a panic hook
    // that restores the terminal before the panic message prints.
    let mut terminal = ratatui::try_init()?;
    // A background job's panic is answered to the interface by the job itself (see
    // `jobs::spawn_job`): restoring the terminal or printing there would wreck a screen
    // still in use, so it goes to the log only. The interface thread's own panic ends the
    // program: ratatui's hook restores the terminal, then the message prints.
    let ui_thread = std::thread::current().id();
    let restore_then_print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        if std::thread::current().id() == ui_thread {
            restore_then_print(info);
        }
    }));
    let done = Arc::new(AtomicBool::new(false));
    hangup_watchdog(Arc::clone(&stop), Arc::clone(&done));
    let result = event_loop(&mut terminal, &mut app, &stops);
    done.store(true, Ordering::Relaxed);
    // `try_restore`, as `restore` would panic printing its error to a terminal that is gone.
    if let Err(e) = ratatui::try_restore() {
        tracing::warn!("restore the terminal: {e}");
        let _ = writeln!(
            std::io::stderr(),
            "echowatch: cannot restore the terminal: {e}"
        );
    }
    result
}

/// When the terminal goes away (its window closed, `tmux kill-server`), crossterm's event
/// wait spins on the dead tty and never returns (crossterm issue #793), so the event loop
/// never sees the SIGHUP flag and the process would burn a core forever. This thread ends
/// the process if, after a signal or a hang-up of standard input, the loop has not finished
/// within a grace period. Exiting there is as safe as kill -9, which the store and index
/// are built to survive.
fn hangup_watchdog(stop: Arc<AtomicBool>, done: Arc<AtomicBool>) {
    const GRACE: std::time::Duration = std::time::Duration::from_secs(2);
    let spawned = std::thread::Builder::new()
        .name("echowatch-hangup".into())
        .spawn(move || {
            let mut since: Option<Instant> = None;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if since.is_none() && (stop.load(Ordering::Relaxed) || stdin_hung_up()) {
                    stop.store(true, Ordering::Relaxed);
                    since = Some(Instant::now());
                }
                if since.is_some_and(|t| t.elapsed() > GRACE) && !done.load(Ordering::Relaxed) {
                    tracing::warn!("terminal gone and the event loop stuck: exiting");
                    // Not `restore`: it reports a failure on stderr, and printing to a dead
                    // terminal panics, which would end this thread before the exit.
                    let _ = ratatui::try_restore();
                    std::process::exit(129);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the hang-up watchdog: {e}");
    }
}

/// Standard input reports a hang-up or error: the terminal is gone.
fn stdin_hung_up() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout; poll only writes `revents`.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// The signals that end the event loop.
struct Stops<'a> {
    /// SIGTERM, SIGHUP.
    stop: &'a AtomicBool,
    /// SIGINT.
    interrupted: &'a AtomicBool,
}

impl Stops<'_> {
    fn any(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.interrupted.load(Ordering::Relaxed)
    }
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    stops: &Stops,
) -> Result<(), TuiError> {
    while !app.quit && !stops.any() {
        terminal.draw(|f| components::draw(app, f))?;
        // Signals interrupt the wait at the latest after this long.
        let timeout = app
            .poll_timeout(Instant::now())
            .min(std::time::Duration::from_millis(250));
        if event::poll(timeout)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => app.on_key(k),
                // A resize just redraws at the new size on the next turn.
                _ => {}
            }
            // Take every key already typed before drawing again (fast typists, pastes).
            while event::poll(std::time::Duration::ZERO)? {
                if let Event::Key(k) = event::read()?
                    && k.kind != KeyEventKind::Release
                {
                    app.on_key(k);
                }
            }
        }
        if std::mem::take(&mut app.suspend) {
            suspend(terminal)?;
        }
        if let Some(launch) = app.opener.take_terminal() {
            let result = run_in_terminal(terminal, &launch)?;
            // A Ctrl-C typed in the browser was the browser's.
            stops.interrupted.store(false, Ordering::Relaxed);
            app.browser_ended(&launch, result);
        }
        app.tick(Instant::now());
    }
    Ok(())
}

/// Ctrl-Z: give the terminal back to the shell and stop, as any program does on the
/// terminal's suspend key; on `fg` take it again and draw everything.
fn suspend(terminal: &mut ratatui::DefaultTerminal) -> Result<(), TuiError> {
    terminal.show_cursor()?;
    ratatui::try_restore()?;
    // SAFETY: raising a signal for this process; SIGTSTP's default action stops it until
    // SIGCONT, then `raise` returns.
    unsafe {
        libc::raise(libc::SIGTSTP);
    }
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    terminal.clear()?;
    Ok(())
}

/// Give the terminal to a text browser (main screen, cooked mode, cursor shown), wait for
/// it to end, then take the terminal back and have everything drawn again. Keys typed
/// meanwhile are the browser's: the interface reads none while it waits.
fn run_in_terminal(
    terminal: &mut ratatui::DefaultTerminal,
    launch: &open::Launch,
) -> Result<Result<std::process::ExitStatus, open::OpenError>, TuiError> {
    terminal.show_cursor()?;
    ratatui::try_restore()?;
    let result = open::run_in_terminal(launch);
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    // What the browser left on the screen is not what ratatui last drew: draw it all.
    terminal.clear()?;
    Ok(result)
}

#[cfg(test)]
mod tests;
