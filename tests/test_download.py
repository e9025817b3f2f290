"""gptedu.download: fetch a file once, verify its SHA-256, find it again offline.

Downloads come from a small HTTP server on 127.0.0.1 that serves files from tmp_path, and the
cache is a folder in tmp_path (``GPTEDU_CACHE_DIR``), so the tests never touch the network or
the user's own cache.
"""

import functools
import hashlib
import http.server
import socket
import threading

import pytest

from gptedu import ChecksumError, DataNotFoundError, cache_dir, download_file

CONTENT = b"I HAD always thought Jack Gisburn rather a cheap genius--though a good fellow enough--\n"
SHA256 = hashlib.sha256(CONTENT).hexdigest()


class Server:
    """A loopback HTTP server over a folder that counts the GET requests it answers."""

    def __init__(self, root):
        self.root = root
        self.requests = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class CutShortHandler(http.server.BaseHTTPRequestHandler):
    """Promises 1,000 bytes, sends 10, hangs up: a connection lost in the middle of a download."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(CONTENT[:10])
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "story.txt").write_bytes(CONTENT)
    server = Server(root)
    yield server
    server.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GPTEDU_CACHE_DIR", str(folder))
    return folder


def closed_port_url(name):
    """A URL on 127.0.0.1 where nothing listens: connecting fails at once, as offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_cache_dir_is_gptedu_cache_dir_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("GPTEDU_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_cache_dir_defaults_to_gptedu_under_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("GPTEDU_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "gptedu"


def test_download_file_saves_the_verified_file_in_the_cache(server, cache):
    path = download_file(server.url("story.txt"), "story.txt", SHA256)
    assert path == cache / "story.txt"
    assert path.read_bytes() == CONTENT


def test_download_file_uses_the_cached_copy_without_contacting_the_server(server, cache):
    download_file(server.url("story.txt"), "story.txt", SHA256)
    download_file(server.url("story.txt"), "story.txt", SHA256)
    assert server.requests == ["/story.txt"]


def test_download_file_replaces_a_corrupted_cached_file(server, cache):
    cache.mkdir()
    (cache / "story.txt").write_bytes(CONTENT[:20])  # e.g. a download cut short by an older tool
    path = download_file(server.url("story.txt"), "story.txt", SHA256)
    assert path.read_bytes() == CONTENT
    assert server.requests == ["/story.txt"]


def test_download_file_with_a_wrong_hash_raises_checksum_error(server, cache):
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}"):
        download_file(server.url("story.txt"), "story.txt", "0" * 64)


def test_download_file_with_a_wrong_hash_leaves_no_file_behind(server, cache):
    with pytest.raises(ChecksumError):
        download_file(server.url("story.txt"), "story.txt", "0" * 64)
    assert list(cache.iterdir()) == []


def test_download_file_cut_short_raises_checksum_error_and_leaves_no_file(cache):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutShortHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        with pytest.raises(ChecksumError, match="connection was cut"):
            download_file(f"http://127.0.0.1:{httpd.server_address[1]}/story.txt", "story.txt", SHA256)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert list(cache.iterdir()) == []


def test_download_file_offline_names_the_exact_target_path(cache):
    with pytest.raises(DataNotFoundError) as excinfo:
        download_file(closed_port_url("story.txt"), "story.txt", SHA256)
    assert str(cache / "story.txt") in str(excinfo.value)
    assert "offline" in str(excinfo.value)


def test_download_file_offline_leaves_no_file_behind(cache):
    with pytest.raises(DataNotFoundError):
        download_file(closed_port_url("story.txt"), "story.txt", SHA256)
    assert list(cache.iterdir()) == []


def test_download_file_offline_uses_a_cached_copy(server, cache):
    download_file(server.url("story.txt"), "story.txt", SHA256)
    assert download_file(closed_port_url("story.txt"), "story.txt", SHA256).read_bytes() == CONTENT


def test_download_file_missing_on_the_server_raises_data_not_found(server, cache):
    with pytest.raises(DataNotFoundError, match="404"):
        download_file(server.url("missing.txt"), "missing.txt", SHA256)


def test_data_not_found_error_is_a_file_not_found_error():
    assert issubclass(DataNotFoundError, FileNotFoundError)


def test_checksum_error_is_a_value_error():
    assert issubclass(ChecksumError, ValueError)


def test_download_file_interrupted_leaves_no_partial_file(server, cache, monkeypatch):
    import gptedu.download

    def interrupted(path):  # Ctrl-C while the downloaded bytes are being checked
        assert path.read_bytes() == CONTENT
        raise KeyboardInterrupt

    monkeypatch.setattr(gptedu.download, "sha256_of", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_file(server.url("story.txt"), "story.txt", SHA256)
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize(("args", "error", "message"), [
    (("URL", "../story.txt", SHA256), "ConfigError", "filename must be a plain file name, without folders; got '../story.txt'"),
    (("URL", "story.txt", "abc"), "ConfigError", "sha256 must be 64 hexadecimal digits"),
    (("URL", "story.txt", None), "ArgumentTypeError", "sha256 must be a str of 64 hexadecimal digits; got None"),
    (("URL", "", SHA256), "ConfigError", "filename must not be empty"),
    (("URL", "story.txt", SHA256, 0), "ConfigError", "timeout must be greater than 0; got 0.0"),
])
def test_download_file_checks_its_arguments_before_any_download(server, cache, args, error, message):
    import gptedu.errors

    args = tuple(server.url("story.txt") if a == "URL" else a for a in args)
    with pytest.raises(getattr(gptedu.errors, error), match=message):
        download_file(*args)
    assert server.requests == []
