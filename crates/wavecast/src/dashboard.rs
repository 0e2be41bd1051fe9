//! The dashboard's built files (from `clients/js/dashboard`, committed in
//! `assets/dashboard/`), embedded in the binary so `wavecast serve` shows
//! it at `/` with no npm and no network.

use wavecast_server::http::assets::{Asset, Assets};

/// The embedded dashboard.
pub fn assets() -> Assets {
    Assets {
        files: vec![
            Asset {
                path: "index.html",
                content_type: "text/html; charset=utf-8",
                body: include_bytes!("../assets/dashboard/index.html"),
            },
            Asset {
                path: "app.js",
                content_type: "text/javascript; charset=utf-8",
                body: include_bytes!("../assets/dashboard/app.js"),
            },
            Asset {
                path: "app.css",
                content_type: "text/css; charset=utf-8",
                body: include_bytes!("../assets/dashboard/app.css"),
            },
        ],
    }
}
