"""``python -m webapp --runs runs/demo [--host 127.0.0.1] [--port 8000]``: serve every task's SavedModel."""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks serve", description=__doc__.split(":")[1].strip())
    parser.add_argument("--runs", default="runs/demo", help="directory holding <task>/saved_model (make demo writes runs/demo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; the default serves this machine only")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    args = parser.parse_args(argv)

    import socket

    import uvicorn

    from webapp.app import create_app

    app = create_app(args.runs)
    for task, adapter in app.state.adapters.items():
        state = "on" if not isinstance(adapter, str) else f"off: {adapter}"
        print(f"  {task:<18} {state}", flush=True)
    # Bind first, so the printed address is the real one (also with --port 0).
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections made before uvicorn's loop starts wait in the backlog
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"seqmodels web app on http://{shown}:{port}/  (API docs at /api/docs; Ctrl-C stops)", flush=True)
    config = uvicorn.Config(app, log_level="warning", ws_max_size=1 << 20)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
