#!/usr/bin/env bash
# Restores a pgwarden logical backup with stock tools only (gpg, zstd, pg_restore, psql, sha256sum):
# for the night when pgwarden, Node.js or Temporal are not available.
#
#   1. Download the backup folder <prefix>/<database>/logical/<backup id>/ , for example
#        aws s3 cp --recursive s3://cartly-db-backups/pgwarden/cartly/logical/<backup id>/ ./backup/
#        (Backblaze B2: add --endpoint-url https://s3.<region>.backblazeb2.com)
#   2. export BACKUP_PASSPHRASE=…  (or, for a backup wrapped for an OpenPGP key: BACKUP_PRIVATE_KEY_FILE=key.asc and,
#      if the key is protected, BACKUP_PRIVATE_KEY_PASSPHRASE=…)  and the target server's PGHOST PGPORT PGUSER PGPASSWORD
#   3. scripts/emergency-restore.sh ./backup cartly_restored
#
# Two steps of gpg: datakey.asc (the backup's data key, wrapped) opens with the passphrase or the private key;
# every object then opens with the data key. Backups made before envelope encryption have no datakey.asc: their
# objects open with the passphrase itself.
#
# It verifies every object's sha256, creates the NEW database (it refuses an existing one), restores the schema,
# the data (objects one after the other) and the indexes and constraints. Add --no-owner to PG_RESTORE_OPTS when
# the backup's roles do not exist on the target server.
set -euo pipefail
dir=${1:?usage: emergency-restore.sh BACKUP_DIR NEW_DATABASE}
target=${2:?usage: emergency-restore.sh BACKUP_DIR NEW_DATABASE}
if [[ -z "${BACKUP_PASSPHRASE:-}" && -z "${BACKUP_PRIVATE_KEY_FILE:-}" ]]; then
  echo "export BACKUP_PASSPHRASE (the passphrase the backup was made with), or BACKUP_PRIVATE_KEY_FILE (an armored private key it is wrapped for)" >&2
  exit 2
fi
[[ -z "${BACKUP_PRIVATE_KEY_FILE:-}" ]] || BACKUP_PRIVATE_KEY_FILE=$(realpath "$BACKUP_PRIVATE_KEY_FILE")
cd "$dir"

echo "checking sha256 of every object"
sha256sum --check --strict SHA256SUMS

gnupg_home=$(mktemp -d)
trap 'gpgconf --homedir "$gnupg_home" --kill gpg-agent 2>/dev/null || true; rm -rf "$gnupg_home"' EXIT
if [[ -f datakey.asc ]]; then
  echo "opening the data key (datakey.asc)"
  if [[ -n "${BACKUP_PRIVATE_KEY_FILE:-}" ]]; then
    gpg --homedir "$gnupg_home" --batch --quiet --import "$BACKUP_PRIVATE_KEY_FILE"
    object_key=$(gpg --homedir "$gnupg_home" --batch --quiet --pinentry-mode loopback --passphrase-fd 3 --decrypt datakey.asc 3<<<"${BACKUP_PRIVATE_KEY_PASSPHRASE:-}")
  else
    object_key=$(gpg --homedir "$gnupg_home" --batch --quiet --pinentry-mode loopback --passphrase-fd 3 --decrypt datakey.asc 3<<<"$BACKUP_PASSPHRASE")
  fi
else
  object_key=$BACKUP_PASSPHRASE # made before envelope encryption
fi
open_object() { # decrypt and decompress one object to stdout
  gpg --homedir "$gnupg_home" --batch --quiet --pinentry-mode loopback --passphrase-fd 3 --decrypt "$1" 3<<<"$object_key" | zstd -q -d -c
}

echo "creating database $target"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$target\" TEMPLATE template0"

echo "schema (pre-data.pgdump.zst.gpg)"
open_object pre-data.pgdump.zst.gpg | pg_restore --exit-on-error ${PG_RESTORE_OPTS:-} -d "$target"
for object in data-*.sql.zst.gpg; do
  echo "data ($object)"
  open_object "$object" | psql -X -q -v ON_ERROR_STOP=1 -d "$target" >/dev/null
done
echo "indexes and constraints (post-data.pgdump.zst.gpg)"
open_object post-data.pgdump.zst.gpg | pg_restore --exit-on-error ${PG_RESTORE_OPTS:-} -d "$target"
psql -X -q -d "$target" -c ANALYZE
echo "restored into $target: compare row counts with the \"tables\" of manifest.json"
