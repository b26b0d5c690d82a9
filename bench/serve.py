"""Load test of the web app: concurrent clients on loopback against the dates and sentiment APIs.

    python bench/serve.py                      # untrained full-size runs, built in a temporary directory
    python bench/serve.py --runs runs/demo     # the runs `make demo` wrote

The server runs in its own process (``python -m webapp``), as a user starts
it; the clients are threads of this process (the standard library's http.client:
an asyncio httpx client spent more CPU than the server), each with one
keep-alive connection, sending one request,
waiting for the answer, and sending the next, until the phase's time is up
(or ``--max-requests`` each, so a loop is always bounded). Latency is
measured per request at the client. An untrained model has the same
architecture, signatures and cost per call as a trained one, so the
figures hold for trained runs too.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATE_TEXTS = ["Saturday, May 9, 2018", "3rd of march 1979", "12.05.07", "05/03/1979", "the 1st of June 2001",
              "tuesday 14 feb 1995", "2020-02-29", "July 4th, 1976"]
REVIEW_TEXTS = ["a gorgeous, witty and moving film", "a dull, boring mess of a movie",
                "the acting is fine but the plot is not", "great story and very good acting"]


def start_server(runs):
    process = subprocess.Popen([sys.executable, "-m", "webapp", "--runs", str(runs), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=Path(__file__).resolve().parent.parent)
    for line in process.stdout:
        print("  server:", line.rstrip())
        if "http://" in line:
            return process, "http://" + line.split("http://")[1].split("/")[0]
    raise SystemExit("the server did not start")


def phase(base, path, bodies, clients, seconds, max_requests):
    """``clients`` threads, each with one keep-alive connection, posting until the time is up."""
    host, port = base.split("//")[1].split(":")
    latencies, errors = [], []
    deadline = time.perf_counter() + seconds

    def client(index):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        encoded = [json.dumps(body) for body in bodies]
        for n in range(max_requests):
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", path, encoded[(index + n) % len(encoded)],
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                text = response.read()
                if response.status != 200:
                    errors.append(f"{response.status} {text[:100]!r}")
            except (OSError, http.client.HTTPException) as error:
                errors.append(repr(error))
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            latencies.append(time.perf_counter() - started)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "rps": len(latencies) / elapsed, "p50": float(np.percentile(latencies, 50)),
            "p95": float(np.percentile(latencies, 95)), "seconds": elapsed}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", help="runs directory (default: untrained full-size runs in a temporary one)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client and phase")
    args = parser.parse_args()

    temporary = None
    runs = args.runs
    if runs is None:
        from webapp.untrained import build_runs

        temporary = tempfile.TemporaryDirectory()
        print("building untrained full-size dates and sentiment runs ...", flush=True)
        runs = build_runs(temporary.name, ["date_translation", "sentiment"], full_size=True)
    server, base = start_server(runs)
    try:
        alone = phase(base, "/api/date_translation", [{"text": t} for t in DATE_TEXTS], 1, 5.0, 500)
        print(f"dates, one client alone for 5 s: {alone['requests']} requests, p50 {alone['p50']:.1f} ms, "
              f"p95 {alone['p95']:.1f} ms")
        load = os.getloadavg()
        results = {}
        for name, path, bodies in (("dates", "/api/date_translation", [{"text": t} for t in DATE_TEXTS]),
                                   ("sentiment", "/api/sentiment", [{"text": t, "explain": False} for t in REVIEW_TEXTS])):
            results[name] = phase(base, path, bodies, args.clients, args.seconds, args.max_requests)
            r = results[name]
            print(f"{name}: {args.clients} clients x {r['seconds']:.0f} s: {r['requests']} requests, {r['errors']} errors, "
                  f"{r['rps']:.0f} requests/s, p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms {r['first_errors']}",
                  flush=True)
        after = os.getloadavg()
        print(f"load average before {load[0]:.2f}, after {after[0]:.2f} (uptime: "
              f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()})")
        if any(r["errors"] for r in results.values()):
            return 1
    finally:
        server.terminate()
        server.wait(30)
        if temporary:
            temporary.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
