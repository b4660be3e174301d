//! A real browser for the page tests: headless Debian Chromium driven over WebDriver
//! (chromedriver, started per test on a free port) with fantoccini. Each key page is
//! photographed as the test goes; if the test fails, the photos are written to
//! `target/tmp/screenshots/<test>/` so the failure can be seen.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// A browser session, its driver process and the photos of the pages seen so far.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    name: String,
    shots: Vec<(String, Vec<u8>)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a phone-sized window; `name` names
    /// the screenshots folder.
    pub async fn start(name: &str) -> Self {
        let chromedriver =
            std::env::var("LETHE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium =
            std::env::var("LETHE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        // fantoccini's HTTP client is built on rustls, which needs a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        // Its own process group, so that the driver and the browser it starts go together.
        let driver = std::os::unix::process::CommandExt::process_group(
            Command::new(&chromedriver).arg(format!("--port={port}")),
            0,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{chromedriver} must be installed (.ci/run installs chromium-driver): {e}")
        });
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=420,900", "--disable-extensions", "--no-first-run"],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::rustls()
                .expect("rustls client")
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "chromedriver never answered: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Self {
            client,
            driver,
            name: name.to_owned(),
            shots: Vec::new(),
        }
    }

    /// Opens `url` and photographs it as `step`.
    pub async fn open(&mut self, url: &str, step: &str) {
        self.client.goto(url).await.unwrap();
        self.shot(step).await;
    }

    /// Photographs the current page as `step`.
    pub async fn shot(&mut self, step: &str) {
        if let Ok(png) = self.client.screenshot().await {
            self.shots.push((step.to_owned(), png));
        }
    }

    /// The element matching the CSS selector, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Types `text` into the element matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `css` and photographs the page it leads to as `step`.
    pub async fn click(&mut self, css: &str, step: &str) {
        self.find(css).await.click().await.unwrap();
        self.shot(step).await;
    }

    /// The visible text of the page's `<main>`.
    pub async fn main_text(&self) -> String {
        self.find("main").await.text().await.unwrap()
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Reloads until `<main>` contains `needle` (60 s at most).
    pub async fn reload_until(&mut self, needle: &str, step: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.main_text().await;
            if text.contains(needle) {
                self.shot(step).await;
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "the page never said {needle:?}: {text}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.client.refresh().await.unwrap();
        }
    }

    /// Closes the session and the driver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        self.kill_all();
        self.shots.clear();
    }
}

impl Browser {
    /// Kills the driver and every browser process it started.
    fn kill_all(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill_all();
        if std::thread::panicking() && !self.shots.is_empty() {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("screenshots")
                .join(&self.name);
            let _ = std::fs::create_dir_all(&dir);
            for (i, (step, png)) in self.shots.iter().enumerate() {
                let _ = std::fs::write(dir.join(format!("{i:02}-{step}.png")), png);
            }
            eprintln!("screenshots of the pages seen: {}", dir.display());
        }
    }
}
