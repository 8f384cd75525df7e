"""Benchmark: upload a large trace file through the browser (issue 11: "Upload of a 1 GB file
works and shows progress"). Starts ``streamlit run app.py`` on a port, uploads the file with
Playwright in Chromium, samples the progress bar while the audit runs, and reports the time
to "Audited", the server's peak resident memory and the progress texts seen.

    python bench/bench_upload.py FILE [--port 8620] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--port", type=int, default=8620)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout-min", type=float, default=40)
    parser.add_argument("--screenshots", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    proc = serve(args.port, args.screenshots / f"streamlit-{args.port}.log")
    seen: list[tuple[float, str]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(f"http://127.0.0.1:{args.port}", timeout=120_000)
            page.locator("h1", has_text="Overview").wait_for(timeout=120_000)
            page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text="Upload").first.click()
            page.locator("h1", has_text="Upload traces").wait_for(timeout=120_000)
            print(f"uploading {args.file} ({args.file.stat().st_size / 1e9:.2f} GB) ...", flush=True)
            start = time.perf_counter()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(args.file))
            done = page.get_by_text("Audited ", exact=False).first
            failed = page.get_by_text("Could not load these files")
            deadline = start + args.timeout_min * 60
            shot = 0
            while time.perf_counter() < deadline:
                if done.is_visible() or failed.is_visible():
                    break
                bar = page.locator("[data-testid=stProgress]")
                text = bar.first.inner_text(timeout=1000).strip() if bar.count() else ""
                if text and (not seen or seen[-1][1] != text):
                    seen.append((time.perf_counter() - start, text))
                    print(f"{seen[-1][0]:7.1f} s  {text}", flush=True)
                    if shot < 3 and "Running rule" in text:
                        page.screenshot(path=str(args.screenshots / f"upload-progress-{shot}.png"))
                        shot += 1
                time.sleep(1)
            elapsed = time.perf_counter() - start
            page.screenshot(path=str(args.screenshots / "upload-done.png"))
            ok = done.is_visible()
            label = done.inner_text() if ok else (failed.inner_text() if failed.is_visible() else "timed out")
            browser.close()
        print(f"\n{'OK' if ok else 'FAILED'}: {label.strip()} after {elapsed:.0f} s; "
              f"server peak RSS {peak_rss_mb(proc.pid):,.0f} MB; {len(seen)} progress texts seen")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
