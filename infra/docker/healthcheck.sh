#!/bin/sh
# Container health: the API answers /healthz; the worker process is alive (PID 1 is `support`).
set -eu
case "${1:-api}" in
  api)
    exec python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status == 200 else 1)"
    ;;
  worker)
    grep -q support /proc/1/cmdline
    ;;
esac
