"""The web portal's static files, served beside the API but outside its route table.

`/` is the public portal (citizens and enterprises), `/office/` the office console (staff), and
`/portal/...` their shared scripts, styles and messages (the folder `gateway/portal/`). Nothing
here reads a token or calls a service: the pages are plain ES modules that call the documented
routes from the browser, so these handlers add no route to the OpenAPI document.

Every answer carries a strict Content-Security-Policy (no inline script or style, nothing from
another origin); the gateway's other security headers come from `security.security_headers`,
which keeps the values set here. Pages are revalidated on every visit (`no-cache`); assets too,
with their ETag, so a new release is never hidden behind a stale module.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).parent / "portal"
ASSETS_PREFIX = "/portal/"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The two pages and the file each serves.
PAGES: dict[str, str] = {"/": "public/index.html", "/office/": "office/index.html"}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def _headers(path: Path) -> dict[str, str]:
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return {
        "Content-Type": content_type or "application/octet-stream",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        # revalidate with the ETag every time: cheap (304) and never stale after a release
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def asset_path(relative: str, *, root: Path = ROOT) -> Path | None:
    """The file under `root` that `relative` names, or None: no hidden files, no `..`, no
    directories, nothing outside `root` (a symlink out of it included)."""
    parts = relative.split("/")
    if not relative or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


def _file(path: Path | None) -> web.StreamResponse:
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers=_headers(path))


async def _page(request: web.Request) -> web.StreamResponse:
    return _file(asset_path(PAGES[request.path]))


async def _asset(request: web.Request) -> web.StreamResponse:
    return _file(asset_path(request.match_info["path"]))


async def _office_slash(request: web.Request) -> web.StreamResponse:
    # a plain redirect: raised, the gateway would answer it as a problem
    return web.Response(status=308, headers={"Location": "/office/"})


def add_routes(app: web.Application) -> None:
    """Serve the portal from `app`: the two pages and the shared assets (GET and HEAD)."""
    for path in PAGES:
        app.router.add_get(path, _page)
    app.router.add_get("/office", _office_slash)
    app.router.add_get(ASSETS_PREFIX + "{path:.+}", _asset)
