#!/bin/sh
# Compose SUPPORT_DATABASE_URL from the parts ECS injects (DB_HOST, DB_PORT, DB_NAME from the
# task definition; DB_USER, DB_PASSWORD from Secrets Manager), URL-quoted, TLS required, then
# run the command. The password is never printed and never on a command line.
set -eu
if [ -z "${SUPPORT_DATABASE_URL:-}" ] && [ -n "${DB_HOST:-}" ]; then
  SUPPORT_DATABASE_URL=$(python - <<'PY'
import os
from urllib.parse import quote
print(
    "postgresql+psycopg://{}:{}@{}:{}/{}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem".format(
        quote(os.environ["DB_USER"], safe=""),
        quote(os.environ["DB_PASSWORD"], safe=""),
        os.environ["DB_HOST"],
        os.environ.get("DB_PORT", "5432"),
        quote(os.environ.get("DB_NAME", "support"), safe=""),
    )
)
PY
)
  export SUPPORT_DATABASE_URL
  unset DB_PASSWORD
fi
exec "$@"
