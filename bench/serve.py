"""Load test of the web app: concurrent clients on loopback against the dates and sentiment APIs.

    python bench/serve.py                      # untrained full-size runs, built in a temporary directory
    python bench/serve.py --runs runs/demo     # the runs `make demo` wrote

The server runs in its own process (``python -m webapp``), as a user starts
it; the clients are asyncio tasks in this process, each sending one request,
waiting for the answer, and sending the next, until the phase's time is up
(or ``--max-requests`` each, so a loop is always bounded). Latency is
measured per request at the client. An untrained model has the same
architecture, signatures and cost per call as a trained one, so the
figures hold for trained runs too.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
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


async def phase(base, path, bodies, clients, seconds, max_requests):
    import httpx

    latencies, errors = [], []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        deadline = time.perf_counter() + seconds

        async def client(index):
            for n in range(max_requests):
                if time.perf_counter() >= deadline:
                    return
                body = bodies[(index + n) % len(bodies)]
                started = time.perf_counter()
                try:
                    response = await http.post(path, json=body)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:100]}")
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*[client(i) for i in range(clients)])
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
        import httpx

        single = []
        for i in range(200):  # one client alone, for reference
            started = time.perf_counter()
            httpx.post(base + "/api/date_translation", json={"text": DATE_TEXTS[i % len(DATE_TEXTS)]}).raise_for_status()
            single.append((time.perf_counter() - started) * 1000)
        print(f"dates, one client alone: p50 {np.percentile(single, 50):.1f} ms, p95 {np.percentile(single, 95):.1f} ms")
        load = os.getloadavg()
        results = {}
        for name, path, bodies in (("dates", "/api/date_translation", [{"text": t} for t in DATE_TEXTS]),
                                   ("sentiment", "/api/sentiment", [{"text": t, "explain": False} for t in REVIEW_TEXTS])):
            results[name] = asyncio.run(phase(base, path, bodies, args.clients, args.seconds, args.max_requests))
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
